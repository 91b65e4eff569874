"""Deletion (deletionPolicy Unconfigure) against the fake nodes: a plan run through execute."""

from __future__ import annotations

import base64

from fake_nodes import FakeCluster, FakeRunner, access, fake_runner, step_is
from plan_factory import CLASSIC, NODES, cluster

from jobcenter_operator.errors import ApplyRefused, CheckFailed, Unreachable
from jobcenter_operator.reconcile import reconcile_site
from jobcenter_operator.unconfigure import unconfigure_site

ACCESS = access(NODES)


async def _converged() -> tuple[FakeRunner, FakeCluster]:
    runner, nodes = fake_runner(CLASSIC, cluster())
    assert (await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)).error is None
    runner.sent.clear()
    return runner, nodes


async def test_unconfigure_stops_the_group_restores_the_configuration_and_starts_it_again() -> None:
    original = cluster()["clu1"].clp_conf.text
    runner, nodes = await _converged()
    assert nodes.facts["clu1"].clp_conf.text != original and nodes.facts["clu1"].backup_clp_conf == original
    result = await unconfigure_site(runner, ACCESS, CLASSIC)
    assert result.error is None
    # Removing the operator's monitor needs the cluster suspended around the push.
    assert [(s.action.kind, s.action.node, s.ok) for s in result.steps] == [
        ("MarkGroupStopped", "clu2", True), ("StopGroup", "clu1", True), ("MarkSuspended", "clu2", True),
        ("SuspendCluster", "clu1", True), ("RestoreClusterConfig", "clu1", True),
        ("RestartManagerServices", "clu1", True),
        ("ResumeCluster", "clu1", True),
        ("ClearSuspendMarker", "clu2", True), ("StartGroup", "clu1", True), ("ClearStopMarker", "clu2", True)]
    assert [(s.node, s.step) for s in runner.actions()] == [
        ("clu2", "markstop"), ("clu1", "stopgroup"), ("clu2", "marksuspend"), ("clu1", "suspendcluster"),
        ("clu1", "restore"), ("clu1", "restartmanager"),
        ("clu1", "resumecluster"), ("clu2", "clearsuspend"), ("clu1", "startgroup"),
        ("clu2", "clearmark")]
    restore = runner.actions()[4]
    assert restore.input is not None and base64.b64decode(restore.input).decode() == original, \
        "configure_site undone byte for byte"
    assert restore.argv[4] == "/var/lib/jobcenter-operator/backup/failover-jc"
    assert restore.argv[6:] == ("failover-jc", "exec-jc", "pidw-jc")  # argv[5]: sha256 of the planned clp.conf
    assert all(f.clp_conf.text == original and f.script_hashes == {} for f in nodes.facts.values())
    assert nodes.facts["clu1"].group_node == "clu1" and nodes.facts["clu1"].stopped_by_operator is None


async def test_observe_shows_what_a_deletion_would_do_and_sends_nothing() -> None:
    runner, _ = await _converged()
    result = await unconfigure_site(runner, ACCESS, CLASSIC, enforce=False)
    assert result.error is None and result.plan is not None and result.steps == []
    assert [a.kind for a in result.plan.actions] == [
        "MarkGroupStopped", "StopGroup", "MarkSuspended", "SuspendCluster", "RestoreClusterConfig",
        "RestartManagerServices", "ResumeCluster", "ClearSuspendMarker", "StartGroup",
        "ClearStopMarker"]
    assert {a.reason for a in result.plan.actions} == {"Unconfigure"}
    assert runner.actions() == []
    assert all(s.argv[-1] == "yes" for s in runner.sent), "the probe was asked for the backup"


async def test_without_a_backup_nothing_is_changed() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    result = await unconfigure_site(runner, ACCESS, CLASSIC)
    assert isinstance(result.error, CheckFailed) and not result.error.transient
    assert result.error.reason == "NoBackup" and "nothing was changed" in result.error.message
    assert runner.actions() == []


async def test_a_failed_restore_still_starts_the_group_again() -> None:
    runner, nodes = await _converged()
    runner.fail(step_is("restore"), stderr="clpcfctrl: push refused")
    result = await unconfigure_site(runner, ACCESS, CLASSIC)
    assert isinstance(result.error, ApplyRefused) and "push refused" in result.error.message
    assert [(s.action.kind, s.ok, s.action.reason) for s in result.steps] == [
        ("MarkGroupStopped", True, "Unconfigure"), ("StopGroup", True, "Unconfigure"),
        ("MarkSuspended", True, "Unconfigure"),
        ("SuspendCluster", True, "Unconfigure"), ("RestoreClusterConfig", False, "Unconfigure"),
        ("ResumeCluster", True, "RestoreAfterFailure"), ("ClearSuspendMarker", True, "RestoreAfterFailure"),
        ("StartGroup", True, "RestoreAfterFailure"), ("ClearStopMarker", True, "Unconfigure")]
    assert not any(f.cluster.suspended or f.suspended_by_operator or f.stopped_by_operator
                   for f in nodes.facts.values())
    assert nodes.facts["clu1"].group_node == "clu1" and nodes.facts["clu1"].stopped_by_operator is None


async def test_an_unreachable_node_changes_nothing() -> None:
    runner, _ = await _converged()
    runner.on(lambda s: s.is_probe and s.node == "clu2", lambda s: Unreachable("clu2", "no route"))
    result = await unconfigure_site(runner, ACCESS, CLASSIC)
    assert isinstance(result.error, Unreachable) and result.plan is None and runner.actions() == []


async def test_a_group_offline_is_restored_without_a_stop_or_start() -> None:
    runner, nodes = await _converged()
    nodes._group_online_on(None)
    result = await unconfigure_site(runner, ACCESS, CLASSIC)
    assert result.error is None
    assert [s.step for s in runner.actions()] == ["marksuspend", "suspendcluster", "restore", "restartmanager",
                                                  "resumecluster", "clearsuspend"]


async def test_a_repeated_unconfigure_sends_nothing() -> None:
    """A deletion retried after its unconfigure ran to the end (the operator exited before it removed
    the finalizer, or that patch failed) must not stop the group a second time."""
    runner, nodes = await _converged()
    assert (await unconfigure_site(runner, ACCESS, CLASSIC)).error is None
    runner.sent.clear()
    again = await unconfigure_site(runner, ACCESS, CLASSIC)
    assert again.error is None and again.plan is not None and again.plan.actions == ()
    assert runner.actions() == []
    assert nodes.facts["clu1"].group_node == "clu1"


async def test_a_repeated_unconfigure_still_starts_a_group_its_first_run_left_stopped() -> None:
    """Killed between the restore and the start: the retry only starts the group (its marker says where)."""
    runner, nodes = await _converged()
    runner.on(step_is("startgroup"), lambda s: Unreachable("clu1", "connection lost"))
    assert (await unconfigure_site(runner, ACCESS, CLASSIC)).error is not None
    runner.rules.clear()
    assert nodes.facts["clu1"].group_node is None and nodes.facts["clu2"].stopped_by_operator == "clu1"
    runner.sent.clear()
    again = await unconfigure_site(runner, ACCESS, CLASSIC)
    assert again.error is None
    assert [(s.node, s.step) for s in runner.actions()] == [("clu1", "startgroup"), ("clu2", "clearmark")]
    assert nodes.facts["clu1"].group_node == "clu1"
