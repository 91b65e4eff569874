"""reconcile_site with the disruption gate against the fake nodes: nothing disruptive is sent outside a
window or without approval, what may run at any time still runs, recovery is never held, and the
site's status says what waits. No root, no network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fake_nodes import FakeRunner, access, fake_runner, kind_of
from plan_factory import CLASSIC, NODES, apply, cluster

from jobcenter_operator.api.disruption import Disruption, MaintenanceWindow
from jobcenter_operator.plan import Action, plan_site
from jobcenter_operator.plan.disruption import Gate, decide
from jobcenter_operator.reconcile import reconcile_site
from jobcenter_operator.status import site_conditions, site_status

ACCESS = access(NODES)
CHANGED = CLASSIC.model_copy(update={"process_monitoring": False})  # needs a group stop and start
SATURDAY_NIGHT = [MaintenanceWindow.model_validate({"days": ["Sat"], "start": "22:00", "duration": "2h",
                                                    "timeZone": "Europe/Berlin"})]
INSIDE = datetime(2026, 1, 10, 21, 30, tzinfo=UTC)  # Sat 22:30 CET
OUTSIDE = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)  # Wed
DISRUPTIVE_KINDS = {"StopGroup", "StartGroup", "CreateSite", "StopLocalSite", "SuspendCluster", "ResumeCluster",
                    "MarkSuspended", "ClearSuspendMarker"}


def converged() -> dict:  # type: ignore[type-arg]
    facts = cluster()
    return apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)


def gate_at(now: datetime, policy: Disruption, *, approved: str | None = None, override: str | None = None):  # type: ignore[no-untyped-def]
    def gate(actions: Sequence[Action]) -> Gate:
        return decide(actions, policy, now, approved=approved, override=override)
    return gate


# Removing the PID monitor (CHANGED) suspends the cluster around the push, with the group stopped
# (the other node's suspend marker written before the stop and removed after the start).
SUSPENDED_APPLY = ["MarkSuspended", "StopGroup", "SuspendCluster", "ResumeCluster", "StartGroup", "ClearSuspendMarker"]


def disruptive_sent(runner: FakeRunner) -> list[str]:
    return [k for s in runner.actions() if (k := kind_of(s)) in DISRUPTIVE_KINDS]


async def test_outside_the_window_nothing_disruptive_is_sent_and_the_site_stays_ready() -> None:
    runner, _ = fake_runner(CHANGED, converged())
    result = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0,
                                  gate=gate_at(OUTSIDE, Disruption(windows=SATURDAY_NIGHT)))
    assert result.error is None and runner.actions() == []
    assert result.gate is not None and result.gate.verdict == "OutsideWindow"
    conds = site_conditions(CHANGED, result, None)
    assert conds["Ready"].status == "True" and "pending:" in conds["Ready"].message
    assert (conds["DisruptionAllowed"].status, conds["DisruptionAllowed"].reason) == ("False", "OutsideWindow")
    assert conds["Reconciling"].status == "False" and conds["Reconciling"].reason == "OutsideWindow"
    assert conds["InSync"].status == "False"  # the pending change still shows
    status = site_status(spec=CHANGED, generation=2, previous=None, result=result, now="2026-01-07T10:00:00Z")
    assert status["disruption"]["nextWindowStart"] == "2026-01-10T21:00:00Z"
    assert status["disruption"]["planHash"] == result.gate.plan_hash
    # Removing the PID monitor suspends the cluster around the push (issue 11): held with the group stop.
    assert [a["action"] for a in status["plan"] if a.get("disruptive")] == SUSPENDED_APPLY


async def test_inside_the_window_the_change_is_applied_and_converges() -> None:
    runner, _ = fake_runner(CHANGED, converged())
    result = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0,
                                  gate=gate_at(INSIDE, Disruption(windows=SATURDAY_NIGHT)))
    assert result.error is None and result.plan is not None and result.plan.converged
    assert disruptive_sent(runner) == SUSPENDED_APPLY
    assert result.gates[0].verdict == "Allowed" and result.gate is not None and result.gate.verdict == "NothingHeld"
    assert site_conditions(CHANGED, result, None)["DisruptionAllowed"].status == "True"


async def test_a_fresh_site_outside_the_window_gets_only_what_never_interrupts() -> None:
    # clu2 (standby) runs no local site: its daemon.conf edit and local-site start would go, but the
    # fresh site's monitor suspends the whole cluster (the suspend marker on clu2 belongs to it), so
    # both nodes wait whole (process monitoring off: no monitor, no suspend, clu2's edits go; the
    # restart of its manager services waits with the push it loads).
    fresh = cluster(clu2={"processes": cluster()["clu2"].processes.model_copy(update={"processes": ()})})
    runner, _ = fake_runner(CLASSIC, fresh)
    result = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, settle_timeout=0,
                                  gate=gate_at(OUTSIDE, Disruption(windows=SATURDAY_NIGHT)))
    assert runner.actions() == [] and result.error is None, "held work is not an error"
    assert result.gate is not None and result.gate.waiting and {a.node for a in result.gate.held} == {"clu1", "clu2"}
    runner, _ = fake_runner(CHANGED, fresh)
    result = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0, settle_timeout=0,
                                  gate=gate_at(OUTSIDE, Disruption(windows=SATURDAY_NIGHT)))
    assert [(kind_of(s), s.node) for s in runner.actions()] == [("SetLocalDaemon", "clu2"), ("StartLocalSite", "clu2")]
    assert disruptive_sent(runner) == []
    assert result.error is None, "held work is not an error"
    assert result.gate is not None and result.gate.waiting
    # clu1 waits whole; on clu2 only the markers, held with the stop or suspend they belong to, and
    # the manager services' restart, held with the push.
    markers = ("MarkGroupStopped", "ClearStopMarker", "MarkSuspended", "ClearSuspendMarker", "RestartManagerServices")
    assert {a.node for a in result.gate.held if a.kind not in markers} == {"clu1"}


async def test_manual_approval_sends_nothing_disruptive_until_the_shown_hash_is_approved() -> None:
    runner, _ = fake_runner(CHANGED, converged())
    manual = Disruption(approval="Manual")
    waiting = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, gate=gate_at(INSIDE, manual))
    assert waiting.gate is not None and waiting.gate.verdict == "AwaitingApproval" and runner.actions() == []
    shown = site_status(spec=CHANGED, generation=2, previous=None, result=waiting)["disruption"]["planHash"]

    stale = await reconcile_site(runner, ACCESS, CHANGED, enforce=True,
                                 gate=gate_at(INSIDE, manual, approved="0123456789ab"))
    assert stale.gate is not None and stale.gate.refused and runner.actions() == []

    approved = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0,
                                    gate=gate_at(INSIDE, manual, approved=shown))
    assert disruptive_sent(runner) == SUSPENDED_APPLY and approved.used_approval
    assert approved.plan is not None and approved.plan.converged


async def test_an_approval_of_one_plan_does_not_approve_a_changed_plan() -> None:
    runner, _ = fake_runner(CHANGED, converged())
    manual = Disruption(approval="Manual")
    first = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, gate=gate_at(INSIDE, manual))
    assert first.gate is not None
    other = CLASSIC.model_copy(update={"monitor_interval_seconds": 30})  # the spec changed after approval
    result = await reconcile_site(runner, ACCESS, other, enforce=True,
                                  gate=gate_at(INSIDE, manual, approved=first.gate.plan_hash))
    assert result.gate is not None and result.gate.verdict == "AwaitingApproval" and runner.actions() == []


async def test_an_override_applies_the_plan_outside_the_window_without_approval() -> None:
    runner, _ = fake_runner(CHANGED, converged())
    strict = Disruption(windows=SATURDAY_NIGHT, approval="Manual")
    result = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0,
                                  gate=gate_at(OUTSIDE, strict, override="once"))
    assert disruptive_sent(runner) == SUSPENDED_APPLY and result.used_override


async def test_recovery_of_a_group_the_operator_stopped_runs_outside_the_window_without_approval() -> None:
    runner, nodes = fake_runner(CHANGED, converged())
    # An interrupted run: the operator stopped the group (marker left) and died before the start.
    stop = next(a for a in plan_site(CHANGED, NODES, nodes.facts).actions if a.kind == "StopGroup")
    await runner.run(ACCESS.node(stop.node), ACCESS.creds, ACCESS.timeouts, stop.command.argv)
    runner.sent.clear()
    strict = Disruption(windows=SATURDAY_NIGHT, approval="Manual")
    result = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0,
                                  gate=gate_at(OUTSIDE, strict))
    assert [kind_of(s) for s in runner.actions()] == ["MarkSuspended", "SuspendCluster", "ApplyClusterConfig",
                                                      "RestartManagerServices",
                                                      "ResumeCluster", "ClearSuspendMarker", "StartGroup"]
    assert result.error is None and result.health is not None and result.health.healthy


async def test_observe_reports_which_steps_are_disruptive_and_the_next_window() -> None:
    runner, _ = fake_runner(CHANGED, converged())
    result = await reconcile_site(runner, ACCESS, CHANGED, enforce=False,
                                  gate=gate_at(OUTSIDE, Disruption(windows=SATURDAY_NIGHT)))
    status = site_status(spec=CHANGED, generation=2, previous=None, result=result)
    assert runner.actions() == []
    assert [(a["action"], a.get("disruptive", False)) for a in status["plan"]] == [
        ("MarkGroupStopped", False), ("MarkSuspended", True), ("StopGroup", True), ("SuspendCluster", True),
        ("ApplyClusterConfig", False), ("RestartManagerServices", False), ("ResumeCluster", True),
        ("StartGroup", True), ("ClearSuspendMarker", True),
        ("ClearStopMarker", False)]
    assert status["disruption"]["nextWindowStart"] == "2026-01-10T21:00:00Z"
    # Observe never acts, so nothing "waits": Ready says what Observe mode says without a window.
    ungated = await reconcile_site(runner, ACCESS, CHANGED, enforce=False)
    assert site_conditions(CHANGED, result, None)["Ready"] == site_conditions(CHANGED, ungated, None)["Ready"]
