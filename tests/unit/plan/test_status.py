"""status.py: conditions from reconcile outcomes, transition times, Events worth posting."""

from __future__ import annotations

from typing import Any

from plan_factory import AGENT, CLASSIC, NODES, apply, cluster

from jobcenter_operator.errors import AuthenticationFailed, CheckFailed, Unreachable
from jobcenter_operator.facts.jobcenter import ClusterSite, JobCenterInstall
from jobcenter_operator.outcome import Gathered, SiteResult, StepReport, run_error
from jobcenter_operator.plan import assess_processes, plan_site
from jobcenter_operator.status import Cond, merge_conditions, site_conditions, site_status, transitions


def _converged(spec: Any = CLASSIC) -> dict[str, Any]:
    facts = cluster(spec=spec)
    return apply(spec, facts, plan_site(spec, NODES, facts).actions)


def _result(facts: dict[str, Any], spec: Any = CLASSIC, errors: dict[str, Any] | None = None,
            nodes: tuple[str, ...] = NODES) -> SiteResult:
    plan = plan_site(spec, nodes, facts)
    return SiteResult(gathered=Gathered(facts=facts, errors=errors or {}), plan=plan, active_node=plan.active_node,
                      health=assess_processes(spec, nodes, facts, plan.active_node), enforced=True)


def _by_type(conds: dict[str, Cond]) -> dict[str, tuple[str, str]]:
    return {k: (v.status, v.reason) for k, v in conds.items()}


def test_converged_site_is_ready_with_every_condition_written() -> None:
    conds = _by_type(site_conditions(CLASSIC, _result(_converged()), None))
    assert conds["Ready"] == ("True", "Succeeded")
    assert conds["Reconciling"][0] == "False" and conds["Stalled"][0] == "False"
    assert all(status == "True" for t, (status, _) in conds.items() if t not in ("Reconciling", "Stalled"))
    assert set(conds) >= {"NodesReachable", "PreflightPassed", "DaemonConfigured", "SiteCreated",
                          "ClusterResourcesConfigured", "GroupOnline", "ProcessesHealthy", "InSync"}


def test_nothing_observed_yet_is_unknown_not_current() -> None:
    conds = _by_type(site_conditions(CLASSIC, None, None))
    assert conds["Ready"][0] == "False"
    assert conds["ProcessesHealthy"] == ("Unknown", "NotObserved")


def test_a_fresh_cluster_in_observe_mode_reports_drift_and_the_plan() -> None:
    facts = cluster()
    result = _result(facts)
    result.enforced = False
    status = site_status(spec=CLASSIC, generation=1, previous=None, result=result, now="2026-01-01T00:00:00Z")
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["InSync"]["status"] == "False" and conds["InSync"]["reason"] == "DriftDetected"
    assert conds["Ready"]["status"] == "False"
    assert [p["action"] for p in status["plan"]][:2] == ["SetLocalDaemon", "StopLocalSite"]
    assert status["observedGeneration"] == 1


def test_transient_error_retries_and_permanent_error_stalls() -> None:
    down = Unreachable("clu1", "connection refused")
    result = SiteResult(gathered=Gathered(facts={}, errors={"clu1": down}), error=down)
    conds = _by_type(site_conditions(CLASSIC, result, None))
    assert conds["Reconciling"] == ("True", "ProgressingWithRetry") and conds["Stalled"][0] == "False"
    assert conds["NodesReachable"] == ("False", "Unreachable") and conds["Ready"][0] == "False"
    refused = AuthenticationFailed("clu1", "refused")
    result = SiteResult(gathered=Gathered(facts={}, errors={"clu1": refused}), error=refused)
    conds = _by_type(site_conditions(CLASSIC, result, None))
    assert conds["Stalled"] == ("True", "AuthenticationFailed") and conds["Ready"] == ("False", "AuthenticationFailed")


def test_a_foreign_site_stalls_with_its_preflight_reason() -> None:
    facts = cluster(clu1={"site": ClusterSite(present=True, virtual_host="other", machine_id=1)})
    conds = _by_type(site_conditions(CLASSIC, _result(facts), None))
    assert conds["Stalled"] == ("True", "SiteMismatch")
    assert conds["PreflightPassed"] == ("False", "SiteMismatch")


def test_an_unreachable_standby_does_not_take_the_serving_site_down() -> None:
    facts = _converged()
    only_active = {"clu1": facts["clu1"]}
    result = _result(only_active, errors={"clu2": Unreachable("clu2", "connection refused")}, nodes=("clu1",))
    result.error = result.gathered.first_error()
    conds = _by_type(site_conditions(CLASSIC, result, None))
    assert conds["Ready"][0] == "True"
    assert conds["NodesReachable"] == ("False", "Unreachable")
    # ... but an unreachable ACTIVE node does.
    result = _result({"clu2": facts["clu2"]}, errors={"clu1": Unreachable("clu1", "gone")}, nodes=("clu2",))
    result.error = result.gathered.first_error()
    assert site_conditions(CLASSIC, result, None)["Ready"].status == "False"


def test_agent_registration_is_reported_as_not_verifiable_and_does_not_block_ready() -> None:
    conds = _by_type(site_conditions(AGENT, _result(_converged(AGENT), spec=AGENT), None))
    assert conds["AgentRegistration"] == ("Unknown", "NotVerifiable")
    assert conds["Ready"] == ("True", "Succeeded")


def test_last_transition_time_changes_only_when_the_status_flips() -> None:
    first = merge_conditions(None, {"Ready": Cond("False", "Progressing", "a")}, 1, now="T1")
    same = merge_conditions(first, {"Ready": Cond("False", "Other", "b")}, 2, now="T2")
    flipped = merge_conditions(same, {"Ready": Cond("True", "Succeeded", "c")}, 2, now="T3")
    assert [c["lastTransitionTime"] for c in (first[0], same[0], flipped[0])] == ["T1", "T1", "T3"]
    assert same[0]["observedGeneration"] == 2 and same[0]["reason"] == "Other"
    assert [(t.type, t.status) for t in transitions(same, flipped)] == [("Ready", "True")]
    assert transitions(first, same) == []


def test_status_is_stable_when_nothing_changed() -> None:
    result = _result(_converged())
    one = site_status(spec=CLASSIC, generation=3, previous=None, result=result, now="T1")
    two = site_status(spec=CLASSIC, generation=3, previous=one, result=result, now="T2")
    assert one == two
    assert two["processes"] == {"expected": 8, "found": 8, "summary": "8/8"}
    assert two["activeNode"] == "clu1"


def test_a_group_offline_waits_without_stalling() -> None:
    facts = {n: f.model_copy(update={"group_node": None, "cluster": f.cluster.model_copy(update={"groups": {}})})
             for n, f in cluster().items()}
    conds = site_conditions(CLASSIC, _result(facts), None)
    assert (conds["Reconciling"].status, conds["Reconciling"].reason) == ("True", "ProgressingWithRetry")
    assert conds["Stalled"].status == "False"
    assert _by_type(conds)["PreflightPassed"] == ("False", "GroupOffline")
    assert _by_type(conds)["GroupOnline"] == ("Unknown", "NotObserved")


def test_conditions_come_from_the_plans_findings() -> None:
    conds = site_conditions(CLASSIC, _result(cluster()), None)
    assert _by_type(conds)["DaemonConfigured"] == ("False", "LocalDaemonNotSet")
    assert conds["DaemonConfigured"].message == "local_daemon is not SITE on clu1, clu2"
    assert _by_type(conds)["SiteCreated"] == ("False", "SiteMissing")
    assert _by_type(conds)["ClusterResourcesConfigured"] == ("False", "ConfigPushRequired")
    assert _by_type(conds)["GroupOnline"] == ("True", "Online")
    assert conds["InSync"].message.startswith("pending: SetLocalDaemon on clu2: ")
    # Several failed checks: the first one's reason, every message.
    facts = cluster(clu1={"jobcenter": JobCenterInstall(installed=False)},
                    clu2={"jobcenter": JobCenterInstall(installed=False)})
    conds = site_conditions(CLASSIC, _result(facts), None)
    assert _by_type(conds)["PreflightPassed"] == ("False", "JobCenterMissing")
    assert conds["PreflightPassed"].message.count("is not installed on") == 2
    assert conds["Ready"].message == conds["PreflightPassed"].message
    assert _by_type(conds)["Stalled"] == ("True", "JobCenterMissing")


def test_a_site_created_by_this_run_says_created() -> None:
    facts = cluster()
    plan = plan_site(CLASSIC, NODES, facts)
    after = apply(CLASSIC, facts, plan.actions)
    result = _result(after)
    assert _by_type(site_conditions(CLASSIC, result, None))["SiteCreated"] == ("True", "Present")
    result.steps = [StepReport(a, ok=True, duration=0.0) for a in plan.actions]
    assert _by_type(site_conditions(CLASSIC, result, None))["SiteCreated"] == ("True", "Created")


def test_permanence_is_the_checks_and_one_error_carries_it() -> None:
    foreign = _result(cluster(clu1={"site": ClusterSite(present=True, virtual_host="other", machine_id=1)}))
    error = run_error(foreign)
    assert isinstance(error, CheckFailed) and not error.transient and error.reason == "SiteMismatch"
    offline = {n: f.model_copy(update={"group_node": None, "cluster": f.cluster.model_copy(update={"groups": {}})})
               for n, f in cluster().items()}
    error = run_error(_result(offline))
    assert isinstance(error, CheckFailed) and error.transient and error.reason == "GroupOffline"
    assert run_error(_result(_converged())) is None


def test_a_run_interrupted_mid_way_reports_the_group_offline_and_the_resume() -> None:
    facts = {n: f.model_copy(update={"group_node": None, "stopped_by_operator": "clu1", "mounts": frozenset({"/"}),
                                     "cluster": f.cluster.model_copy(update={"groups": {}})})
             for n, f in cluster().items()}
    conds = site_conditions(CLASSIC, _result(facts), None)
    assert _by_type(conds)["PreflightPassed"] == ("True", "Passed")
    assert _by_type(conds)["GroupOnline"] == ("False", "Offline")
    assert _by_type(conds)["ClusterResourcesConfigured"] == ("Unknown", "NotObserved")
    assert _by_type(conds)["SiteCreated"] == ("False", "SiteMissing")
    assert "StartGroup on clu1" in conds["InSync"].message
