"""reconcile_site tells its caller each step before it is sent and once it ended (the status and the
Events of a running build are written from that), restores included."""

from __future__ import annotations

from fake_nodes import access, fake_runner, step_is
from plan_factory import CLASSIC, NODES, cluster

from jobcenter_operator.outcome import SiteResult
from jobcenter_operator.plan import plan_site
from jobcenter_operator.progress import StepProgress
from jobcenter_operator.reconcile import reconcile_site, round_trip

ACCESS = access(NODES)


async def test_each_step_is_reported_before_its_round_trip_is_sent_and_after_it_ended() -> None:
    """The consecutive steps on one node go in one round trip (reconcile.round_trip). Before it is
    sent, every disruptive step of it is told as starting (its Started Event comes before the
    interruption) and one step is shown in the status: the first disruptive one, else the first
    (one status write per round trip). Once it is back, every step with its report."""
    runner, _ = fake_runner(CLASSIC, cluster())
    seen: list[tuple[int, int, str, str, bool | None, bool, int]] = []

    async def progress(step: StepProgress, result: SiteResult) -> None:
        assert result.plan is not None and result.plan.actions  # what the run found before its steps
        ok = None if step.report is None else step.report.ok
        seen.append((step.step, step.total, step.action.kind, step.action.node, ok, step.shown, len(runner.actions())))

    done = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, progress=progress)
    assert done.error is None
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    n = len(actions)
    expected, start, trips = [], 0, []
    while start < n:
        trip = round_trip(actions, start)
        trips.append([a.kind for a in trip])
        shown = next((a for a in trip if a.disruptive), trip[0])
        for k, a in enumerate(trip, start + 1):
            if a is shown or a.disruptive:
                expected.append((k, n, a.kind, a.node, None, a is shown, start))
        last = start + len(trip)
        expected += [(k, n, a.kind, a.node, True, True, last) for k, a in enumerate(trip, start + 1)]
        start = last
    assert seen == expected
    assert len([s for s in seen if s[4] is None and s[5]]) == len(trips), "one status write per round trip"
    assert trips[:2] == [["SetLocalDaemon", "StopLocalSite", "MarkGroupStopped", "MarkSuspended"],
                         ["SetLocalDaemon", "StopLocalSite", "CreateSite"]]


async def test_a_restore_is_reported_as_such_with_the_failed_step_before_it() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    runner.fail(step_is("apply"), stderr="clpcfctrl: push refused")
    seen: list[StepProgress] = []

    async def progress(step: StepProgress, result: SiteResult) -> None:
        seen.append(step)

    await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, progress=progress)
    # The push runs with the group stopped and the cluster suspended (issue 11): the restores undo both,
    # the resume first, the group start last.
    i = next(i for i, s in enumerate(seen) if s.action.kind == "ApplyClusterConfig" and s.report is not None)
    failed, not_run, not_started, restore_start, restore_end = seen[i:i + 5]
    assert failed.report is not None and not failed.report.ok
    # The resume and the group start came after the push in its round trip, told as starting (they
    # are disruptive): they end as never sent. The manager restart between them is not disruptive,
    # so it was never told.
    assert [(s.action.kind, s.report.error if s.report else None) for s in (not_run, not_started)] == [
        ("ResumeCluster", "not run: ApplyClusterConfig before it failed"),
        ("StartGroup", "not run: ApplyClusterConfig before it failed")]
    assert not not_run.report.ok and not_started.report is not None and not not_started.report.ok
    assert "RestartManagerServices" not in [s.action.kind for s in seen]
    assert restore_start.restoring and restore_start.report is None and restore_start.action.kind == "ResumeCluster"
    assert restore_start.message == "restoring after a failed step: ResumeCluster on clu1"
    assert restore_end.report is not None and restore_end.report.ok and restore_start.disruptive_run
    start, end = seen[-6:-4]  # then the standby's suspend marker is removed, and its stop marker
    assert start.restoring and start.action.kind == "StartGroup" and start.action.node == "clu1"
    assert end.report is not None and end.report.ok
    assert seen[-3].restoring and seen[-3].action.kind == "ClearSuspendMarker" and seen[-3].report is not None
    assert seen[-1].action.kind == "ClearStopMarker" and seen[-1].report is not None and seen[-1].report.ok
