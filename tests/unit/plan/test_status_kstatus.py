"""status.py's kstatus states: the root cause in Ready, progress while steps run, Observe-with-drift
stalls, suspend acknowledged, node errors named once (README "Status")."""

from __future__ import annotations

from typing import Any

from plan_factory import CLASSIC, NODES, apply, cluster

from jobcenter_operator.errors import TransientError, Unreachable
from jobcenter_operator.outcome import Gathered, SiteResult
from jobcenter_operator.plan import assess_processes, plan_site
from jobcenter_operator.progress import StepProgress
from jobcenter_operator.status import cluster_status, site_status, suspended_status

NOW = "2026-01-01T00:00:00Z"


def _result(facts: dict[str, Any], spec: Any = CLASSIC, *, enforced: bool = True) -> SiteResult:
    plan = plan_site(spec, NODES, facts)
    return SiteResult(gathered=Gathered(facts=facts, errors={}), plan=plan, active_node=plan.active_node,
                      health=assess_processes(spec, NODES, facts, plan.active_node), enforced=enforced)


def _conds(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def _converged() -> dict[str, Any]:
    facts = cluster()
    return apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)


def test_a_missing_secret_is_the_ready_reason_not_not_observed() -> None:
    missing = TransientError("Secret jc-cluster-ssh (SSH credentials) not found", reason="SecretNotFound")
    conds = _conds(site_status(spec=CLASSIC, generation=1, previous=None, result=None, error=missing, now=NOW))
    assert conds["Ready"] == ("False", "SecretNotFound", "Secret jc-cluster-ssh (SSH credentials) not found")
    assert conds["Reconciling"][:2] == ("True", "ProgressingWithRetry")
    assert conds["Stalled"][0] == "False"
    cluster_conds = _conds(cluster_status(generation=1, previous=None, result=None, node_names=list(NODES),
                                          error=missing, now=NOW))
    assert cluster_conds["Ready"][:2] == ("False", "SecretNotFound")


def test_node_errors_name_each_node_once() -> None:
    errors = {"clu1": Unreachable("clu1", "connection refused"), "clu2": Unreachable("clu2", "connection refused")}
    result = SiteResult(gathered=Gathered(facts={}, errors=errors), error=errors["clu1"])
    conds = _conds(site_status(spec=CLASSIC, generation=1, previous=None, result=result, now=NOW))
    assert conds["NodesReachable"][2] == "clu1, clu2: connection refused"
    errors["clu2"] = Unreachable("clu2", "no route to host")
    conds = _conds(site_status(spec=CLASSIC, generation=1, previous=None, result=result, now=NOW))
    assert conds["NodesReachable"][2] == "clu1: connection refused; clu2: no route to host"


def test_steps_running_show_progress_and_ready_false_when_the_site_is_interrupted() -> None:
    result = _result(cluster())
    assert result.plan is not None
    actions = result.plan.actions
    step = StepProgress(3, len(actions), actions[2], disruptive_run=True)
    status = site_status(spec=CLASSIC, generation=1, previous=None, result=result, progress=step, now=NOW)
    conds = _conds(status)
    message = f"step 3/{len(actions)}: {actions[2].kind} on {actions[2].node}"
    assert conds["Reconciling"] == ("True", "Progressing", message)
    assert conds["Ready"] == ("False", "Progressing", message)
    assert conds["Stalled"][0] == "False"
    assert status["progress"] == f"3/{len(actions)} {actions[2].kind} {actions[2].node}"
    # The run's end drops the progress field again.
    done = site_status(spec=CLASSIC, generation=1, previous=status, result=_result(_converged()), now=NOW)
    assert "progress" not in done and _conds(done)["Ready"][0] == "True"


def test_a_ready_site_stays_ready_while_drift_is_corrected_without_interrupting_it() -> None:
    ready = site_status(spec=CLASSIC, generation=1, previous=None, result=_result(_converged()), now=NOW)
    result = _result(_converged())
    quiet = plan_site(CLASSIC.model_copy(update={"local_daemon": "Off"}), NODES, _converged()).actions[0]
    assert not quiet.disruptive
    step = StepProgress(1, 2, quiet, disruptive_run=False)
    conds = _conds(site_status(spec=CLASSIC, generation=1, previous=ready, result=result, progress=step, now=NOW))
    assert conds["Ready"][:2] == ("True", "Succeeded") and conds["Reconciling"][:2] == ("True", "Progressing")
    loud = StepProgress(1, 2, quiet, disruptive_run=True)
    conds = _conds(site_status(spec=CLASSIC, generation=1, previous=ready, result=result, progress=loud, now=NOW))
    assert conds["Ready"][:2] == ("False", "Progressing")
    # A new generation is not Ready before it is applied (kubectl wait --for=condition=Ready must wait).
    conds = _conds(site_status(spec=CLASSIC, generation=2, previous=ready, result=result, progress=step, now=NOW))
    assert conds["Ready"][:2] == ("False", "Progressing")


def test_observe_mode_with_drift_is_stalled_and_without_drift_ready() -> None:
    observe = CLASSIC.model_copy(update={"management_policy": "Observe"})
    conds = _conds(site_status(spec=observe, generation=1, previous=None,
                               result=_result(cluster(), observe, enforced=False), now=NOW))
    assert (conds["Ready"][:2], conds["Reconciling"][:2], conds["Stalled"][:2]) == (
        ("False", "ObservedDrift"), ("False", "ObservedDrift"), ("True", "ObservedDrift"))
    assert "managementPolicy Observe" in conds["Stalled"][2]
    conds = _conds(site_status(spec=observe, generation=1, previous=None,
                               result=_result(_converged(), observe, enforced=False), now=NOW))
    assert (conds["Ready"][0], conds["Stalled"][0]) == ("True", "False")
    report = CLASSIC.model_copy(update={"drift_policy": "Report"})
    conds = _conds(site_status(spec=report, generation=1, previous=None,
                               result=_result(cluster(), report, enforced=False), now=NOW))
    assert conds["Stalled"][:2] == ("True", "ObservedDrift") and "driftPolicy Report" in conds["Stalled"][2]


def test_suspend_is_acknowledged_with_the_generation_and_keeps_ready_and_stalled() -> None:
    ready = site_status(spec=CLASSIC, generation=1, previous=None, result=_result(_converged()), now=NOW)
    suspended = suspended_status(ready, 2, now="2026-01-02T00:00:00Z")
    assert suspended["observedGeneration"] == 2
    before, after = _conds(ready), _conds(suspended)
    assert after["Reconciling"][:2] == ("False", "Suspended")
    assert {k: v for k, v in after.items() if k != "Reconciling"} == {k: v for k, v in before.items()
                                                                      if k != "Reconciling"}
    ready_cond = next(c for c in suspended["conditions"] if c["type"] == "Ready")
    assert ready_cond["observedGeneration"] == 1 and ready_cond["lastTransitionTime"] == NOW
    assert suspended_status(suspended, 2) == suspended  # written once: a second pass changes nothing
    fresh = _conds(suspended_status({"observedGeneration": 0}, 1, now=NOW))
    assert fresh["Ready"][:2] == ("Unknown", "Suspended") and fresh["Stalled"][0] == "False"
