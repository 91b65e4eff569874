"""reconcile_site tells its caller each step before it is sent and once it ended (the status and the
Events of a running build are written from that), restores included."""

from __future__ import annotations

from fake_nodes import access, fake_runner, step_is
from plan_factory import CLASSIC, NODES, apply, cluster

from jobcenter_operator.outcome import SiteResult
from jobcenter_operator.plan import plan_site
from jobcenter_operator.progress import StepProgress
from jobcenter_operator.reconcile import reconcile_site, round_trip

ACCESS = access(NODES)


async def test_each_step_is_reported_before_its_round_trip_is_sent_and_after_it_ended() -> None:
    """The consecutive steps on one node go in one round trip (reconcile.round_trip): the first is
    reported before it is sent, and the trip's disruptive step (its last) too, so that the status names
    the long step while it runs; every step before (if not yet) and after once the trip is back."""
    runner, _ = fake_runner(CLASSIC, cluster())
    seen: list[tuple[int, int, str, str, bool | None, int]] = []

    async def progress(step: StepProgress, result: SiteResult) -> None:
        assert result.plan is not None and result.plan.actions  # what the run found before its steps
        ok = None if step.report is None else step.report.ok
        seen.append((step.step, step.total, step.action.kind, step.action.node, ok, len(runner.actions())))

    done = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, progress=progress)
    assert done.error is None
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    expected, start, trips = [], 0, []
    while start < len(actions):
        trip = round_trip(actions, start)
        trips.append([a.kind for a in trip])
        told_last = len(trip) > 1 and trip[-1].disruptive
        last = start + len(trip)
        expected.append((start + 1, len(actions), trip[0].kind, trip[0].node, None, start))
        if told_last:
            expected.append((last, len(actions), trip[-1].kind, trip[-1].node, None, start))
        for k, a in enumerate(trip, start + 1):
            if k != start + 1 and not (told_last and k == last):
                expected.append((k, len(actions), a.kind, a.node, None, last))
            expected.append((k, len(actions), a.kind, a.node, True, last))
        start += len(trip)
    assert seen == expected
    assert runner.trips == len(trips) + 2 * len(NODES), "a round trip per batch, the probes before and after"
    assert trips[:3] == [["SetLocalDaemon", "StopLocalSite"], ["SetLocalDaemon", "StopLocalSite"], ["CreateSite"]]


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
    failed, not_run, restore_start, restore_end = seen[i:i + 4]
    assert failed.report is not None and not failed.report.ok
    # The resume was the push's round trip's last step (after the manager restart, which is not
    # disruptive and so not told), told as starting: it ends as never sent.
    assert not_run.action.kind == "ResumeCluster" and not_run.report is not None and not not_run.report.ok
    assert not_run.report.error == "not run: ApplyClusterConfig before it failed"
    assert "RestartManagerServices" not in [s.action.kind for s in seen]
    assert restore_start.restoring and restore_start.report is None and restore_start.action.kind == "ResumeCluster"
    assert restore_start.message == "restoring after a failed step: ResumeCluster on clu1"
    assert restore_end.report is not None and restore_end.report.ok and restore_start.disruptive_run
    last_start, last_end = seen[-2:]
    assert last_start.restoring and last_start.action.kind == "StartGroup" and last_start.action.node == "clu1"
    assert last_end.report is not None and last_end.report.ok


async def test_a_disruptive_step_told_before_its_round_trip_ends_as_not_run_when_the_trip_fails_earlier() -> None:
    # A script-only change: the push and the group start go in one round trip, the start told first.
    converged = apply(CLASSIC, cluster(), plan_site(CLASSIC, NODES, cluster()).actions)
    stale = {n: f.model_copy(update={"script_hashes": {**f.script_hashes, "failover-jc/exec-jc/stop.sh": "0" * 64}})
             for n, f in converged.items()}
    runner, _ = fake_runner(CLASSIC, stale)
    runner.fail(step_is("apply"), stderr="clpcfctrl: push refused")
    seen: list[StepProgress] = []

    async def progress(step: StepProgress, result: SiteResult) -> None:
        seen.append(step)

    await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, progress=progress)
    i = next(i for i, s in enumerate(seen) if s.action.kind == "ApplyClusterConfig" and s.report is not None)
    failed, not_run, restore_start = seen[i:i + 3]
    assert failed.report is not None and not failed.report.ok
    assert not_run.action.kind == "StartGroup" and not_run.report is not None and not not_run.report.ok
    assert not_run.report.error == "not run: ApplyClusterConfig before it failed"
    assert restore_start.restoring and restore_start.action.kind == "StartGroup"
