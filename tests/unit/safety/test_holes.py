"""Issue 12, holes 1, 3, 6, 7, 8 and 9 on the fast tier (fake nodes, no root). Each test fails on
the code before the fix: the scenario is the one the issue describes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fake_faults import OperatorKilled, admin_edits_clp_conf, crash, kill_at
from fake_nodes import FakeCluster, FakeRunner, access, fake_runner, result, step_is
from plan_factory import CLASSIC, NODES, apply, cluster

from jobcenter_operator.plan import commands, plan_site
from jobcenter_operator.plan.disruption import split
from jobcenter_operator.reconcile import holder_identity, reconcile_site
from jobcenter_operator.status import site_conditions, site_status, transitions
from jobcenter_operator.unconfigure import unconfigure_site

ACCESS = access(NODES)
# A change of the exec scripts (cjcpw -c): the group is stopped around the push (and, since the PID
# monitor goes, the cluster suspended too).
CHANGED = CLASSIC.model_copy(update={"process_monitoring": False, "deletion_policy": "Unconfigure"})


async def _converged() -> tuple[FakeRunner, FakeCluster]:
    runner, nodes = fake_runner(CLASSIC, cluster())
    assert (await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)).error is None
    runner.sent.clear()
    return runner, nodes


async def _killed_after_the_stop() -> tuple[FakeRunner, FakeCluster]:
    """A spec change needs a push; the operator dies after stopping the group, before the suspend and the push."""
    runner, nodes = await _converged()
    nodes.spec = CHANGED
    kill_at(runner, "suspendcluster")  # after the stop (in its round trip), before the suspend
    with pytest.raises(OperatorKilled):
        await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert all(f.group_node is None for f in nodes.facts.values()), "the group was left stopped"
    runner.rules.clear()
    runner.sent.clear()
    return runner, nodes


def _markers(nodes: FakeCluster) -> dict[str, str | None]:
    return {n: f.stopped_by_operator for n, f in nodes.facts.items()}


# ---------------------------------------------------------------------------------------- hole 1


async def test_1_unconfigure_after_an_interrupted_run_restarts_the_group_it_stopped() -> None:
    runner, nodes = await _killed_after_the_stop()
    deleted = await unconfigure_site(runner, ACCESS, CHANGED)
    assert deleted.error is None
    # The restore removes the PID monitor, so it is pushed with the cluster suspended (issue 11).
    assert [(s.action.kind, s.action.node, s.ok) for s in deleted.steps] == [
        ("MarkSuspended", "clu2", True), ("SuspendCluster", "clu1", True), ("RestoreClusterConfig", "clu1", True),
        ("RestartManagerServices", "clu1", True),
        ("ResumeCluster", "clu1", True), ("ClearSuspendMarker", "clu2", True), ("StartGroup", "clu1", True),
        ("ClearStopMarker", "clu2", True)]
    assert nodes.facts["clu1"].group_node == "clu1", "the group is online again"
    assert _markers(nodes) == {"clu1": None, "clu2": None}


async def test_1_unconfigure_after_a_run_killed_with_the_cluster_suspended_resumes_it_then_unconfigures() -> None:
    """Found by the fault matrix (deletion-during-reconcile): the operator died after suspending the
    cluster for a push; the deletion resumes the cluster first, then restores and starts the group."""
    runner, nodes = await _converged()
    nodes.spec = CHANGED
    kill_at(runner, "apply")  # the group stopped, the cluster suspended, nothing pushed
    with pytest.raises(OperatorKilled):
        await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert any(f.cluster.suspended for f in nodes.facts.values()), "the cluster was left suspended"
    runner.rules.clear()
    deleted = await unconfigure_site(runner, ACCESS, CHANGED)
    assert deleted.error is None, deleted.error
    kinds = [(s.action.kind, s.ok) for s in deleted.steps]
    # The recovery first: the manager services restarted (the push may have happened), then the resume.
    assert kinds[:2] == [("RestartManagerServices", True), ("ResumeCluster", True)], kinds
    assert ("RestoreClusterConfig", True) in kinds and kinds.index(("RestoreClusterConfig", True)) > 0
    assert not any(f.cluster.suspended for f in nodes.facts.values()), "the cluster is resumed"
    assert nodes.facts["clu1"].group_node == "clu1", "the group is online again"
    assert _markers(nodes) == {"clu1": None, "clu2": None}
    assert all(f.suspended_by_operator is None for f in nodes.facts.values()), "no suspend marker left"


# ---------------------------------------------------------------------------------------- hole 3


async def test_3_every_node_is_marked_before_the_stop() -> None:
    _, nodes = await _killed_after_the_stop()
    assert _markers(nodes) == {"clu1": "clu1", "clu2": "clu1"}, "both nodes name the stopping node"


async def test_3_a_crashed_standby_does_not_keep_the_group_stopped() -> None:
    runner, nodes = await _killed_after_the_stop()
    crash(runner, "clu2")
    again = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert again.error is not None and again.error.reason == "Unreachable", "the unreachable node is still shown"
    assert [(s.action.kind, s.action.node, s.ok) for s in again.steps] == [("StartGroup", "clu1", True)]
    assert nodes.facts["clu1"].group_node == "clu1"
    assert [s.step for s in runner.actions()] == ["startgroup"], "nothing else while a node is down"


async def test_3_the_marked_node_crashed_the_survivor_starts_the_group() -> None:
    runner, nodes = await _killed_after_the_stop()
    crash(runner, "clu1")
    again = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert [(s.action.kind, s.action.node, s.ok) for s in again.steps] == [("StartGroup", "clu2", True)]
    assert nodes.facts["clu2"].group_node == "clu2" and nodes.facts["clu2"].stopped_by_operator is None
    # clu1 comes back: its stale marker is removed and the run finished where the group now is.
    runner.rules.clear()
    healed = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert healed.error is None, healed.error
    assert _markers(nodes) == {"clu1": None, "clu2": None}
    assert ("ClearStopMarker", "clu1") in [(s.action.kind, s.action.node) for s in healed.steps]


async def test_3_a_group_stopped_by_someone_else_is_left_alone_while_a_node_is_down() -> None:
    runner, nodes = await _converged()
    nodes._group_online_on(None)  # an administrator's clpgrp -t: no marker
    crash(runner, "clu2")
    again = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert again.steps == [] and runner.actions() == []


# ---------------------------------------------------------------------------------------- hole 6


async def test_6_an_edit_of_clp_conf_since_the_plan_stops_the_push_with_concurrent_edit() -> None:
    runner, nodes = await _converged()
    nodes.spec = CHANGED
    admin_edits_clp_conf(runner, nodes, after="stopgroup")
    run = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert run.error is not None and run.error.reason == "ConcurrentEdit", run.error
    steps = [(s.action.kind, s.ok) for s in run.steps]
    assert steps[steps.index(("StopGroup", True)):] == [
        ("StopGroup", True), ("SuspendCluster", True), ("ApplyClusterConfig", False),
        ("ResumeCluster", True), ("StartGroup", True), ("ClearSuspendMarker", True), ("ClearStopMarker", True)], \
        "the cluster is resumed and the group started again, the standby's markers removed"
    assert "edited in the WebUI" in nodes.facts["clu1"].clp_conf.text, "the administrator's edit stays"
    # The next run plans from the edited file and pushes it with the change.
    runner.rules.clear()
    assert (await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)).error is None
    assert "edited in the WebUI" in nodes.facts["clu1"].clp_conf.text


# ---------------------------------------------------------------------------------------- hole 7


async def test_7_two_nodes_claiming_the_group_is_split_brain_and_nothing_is_done() -> None:
    facts = cluster()
    facts["clu2"] = facts["clu2"].model_copy(update={"group_node": "clu2"})
    plan = plan_site(CLASSIC, NODES, facts)
    assert [f.reason for f in plan.preflight] == ["SplitBrain"] and plan.actions == ()
    runner, _ = fake_runner(CLASSIC, facts)
    run = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert runner.actions() == [] and run.steps == []
    assert run.plan is not None
    preflight = site_conditions(CLASSIC, run, None)["PreflightPassed"]
    assert (preflight.status, preflight.reason) == ("False", "SplitBrain")
    # The handlers post one Event per condition flip: this one is a Warning.
    status = site_status(spec=CLASSIC, generation=1, previous=None, result=run, error=None)
    flips = [t for t in transitions([], status["conditions"]) if t.reason == "SplitBrain"]
    assert flips and all(t.warning for t in flips)


async def test_7_split_brain_blocks_a_deletion_too() -> None:
    runner, nodes = await _converged()
    nodes.facts["clu2"] = nodes.facts["clu2"].model_copy(update={"group_node": "clu2"})
    deleted = await unconfigure_site(runner, ACCESS, CHANGED)
    assert deleted.error is not None and deleted.error.reason == "SplitBrain"
    assert runner.actions() == []


# ---------------------------------------------------------------------------------------- hole 8


def test_8_cjcmksite_is_refused_where_the_database_path_is_not_mounted(tmp_path: Path) -> None:
    """The guard runs before anything else: a plain directory (the disk not mounted) is refused."""
    cmd = commands.create_site("cluv", 114, str(tmp_path), "failover-jc", "clu1")
    done = subprocess.run(cmd.argv, capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == commands.GUARD_NOT_MOUNTED, done
    assert "not a mounted file system" in done.stderr
    assert (commands.GUARD_NOT_MOUNTED, "DiskNotMounted") in cmd.refusals
    assert not (tmp_path / "nqs").exists()


async def test_8_a_guard_refusal_is_reported_with_its_reason() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    runner.on(step_is("cjcmksite"), lambda s: result(s, commands.GUARD_NOT_MOUNTED, stderr="not mounted"))
    run = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert run.error is not None and run.error.reason == "DiskNotMounted"


# ---------------------------------------------------------------------------------------- hole 9


async def test_9_every_action_is_bounded_on_the_node_and_holds_the_node_lock() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    assert (await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)).error is None
    sent = runner.actions()
    assert sent
    for s in sent:
        assert s.raw[:4] == ("sh", "-c", s.raw[2], commands.BOUNDED), s.raw[:4]
        assert "flock -w" in s.raw[2] and "timeout -k" in s.raw[2]
        assert s.raw[4] == "/var/lib/jobcenter-operator" and s.raw[9:] == s.argv
        assert s.raw[8] == holder_identity() and commands.bounded_holder(s.raw) == s.raw[8]
    assert all(s.raw == s.argv for s in runner.sent if s.is_probe), "the read-only probe takes no lock"


async def test_9_a_node_locked_by_another_operator_is_node_busy_and_nothing_runs() -> None:
    runner, nodes = await _converged()
    nodes.spec = CHANGED
    runner.on(step_is("markstop"), lambda s: result(s, commands.EXIT_NODE_BUSY))
    run = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert run.error is not None and run.error.reason == "NodeBusy" and run.error.transient
    assert [s.step for s in runner.actions()] == ["markstop"]


async def test_9_an_action_ended_by_its_node_side_limit_is_a_timeout() -> None:
    runner, nodes = await _converged()
    nodes.spec = CHANGED
    runner.on(step_is("apply"), lambda s: result(s, commands.EXIT_KILLED))
    run = await reconcile_site(runner, ACCESS, CHANGED, enforce=True, settle_interval=0)
    assert run.error is not None and run.error.reason == "Timeout"
    restored = [(s.action.kind, s.ok) for s in run.steps if s.action.reason == "RestoreAfterFailure"]
    assert restored == [("ResumeCluster", True), ("StartGroup", True), ("ClearSuspendMarker", True)], \
        "the group is started again"


async def test_3_a_group_online_on_the_node_that_does_not_answer_is_never_started_twice() -> None:
    """Found by the random sequences: a stale marker on the standby, the active node unreachable
    but the group still online there as the standby sees it -> no start on the standby."""
    runner, nodes = await _converged()
    nodes.facts["clu2"] = nodes.facts["clu2"].model_copy(update={"stopped_by_operator": "clu1"})
    crash(runner, "clu1")
    again = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert again.steps == [] and runner.actions() == []


def test_3_the_stop_markers_are_held_with_the_stop_they_belong_to() -> None:
    """Outside a maintenance window the stop waits; its markers on the other nodes wait with it."""
    facts = cluster()
    converged = apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)
    free, held = split(plan_site(CHANGED, NODES, converged).actions)
    assert [a.kind for a in free] == []
    assert [a.kind for a in held] == ["MarkGroupStopped", "MarkSuspended", "StopGroup", "SuspendCluster",
                                      "ApplyClusterConfig", "RestartManagerServices", "ResumeCluster", "StartGroup",
                                      "ClearSuspendMarker",
                                      "ClearStopMarker"]
