"""The operator exiting mid-run (issue 13, graceful shutdown): ``execute`` never cuts a step off,
starts nothing new but what completes a restart under way (push, start), runs the restores it owes
and removes its own stop markers, then ends as cancelled. Against the fast tier's FakeCluster, which
changes the nodes the way the commands do."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from fake_nodes import FakeCluster, FakeRunner, Sent, access, fake_runner, step_is
from plan_factory import CLASSIC, NODES, cluster

from jobcenter_operator.node import CommandResult, NodeAddress, SSHCredentials, Timeouts
from jobcenter_operator.plan import plan_site
from jobcenter_operator.reconcile import execute, reconcile_site

ACCESS = access(NODES)


def _stopping_during(runner: FakeRunner, nodes: FakeCluster, step: str) -> asyncio.Event:
    """A flag set while ``step`` runs on its node (the command itself still takes effect)."""
    stopping = asyncio.Event()

    def answer(sent: Sent) -> object:
        stopping.set()
        return nodes(sent)

    runner.on(step_is(step), answer)  # type: ignore[arg-type]
    return stopping


def _after(sent: Sequence[Sent], step: str) -> list[tuple[str | None, str]]:
    """(step, node) of every action command sent after the first ``step``."""
    index = next(i for i, s in enumerate(sent) if s.step == step)
    return [(s.step, s.node) for s in sent[index + 1:]]


def _no_marker_and_online(nodes: FakeCluster) -> None:
    assert all(f.stopped_by_operator is None for f in nodes.facts.values()), "a stop marker was left"
    assert all(f.group_node == "clu1" for f in nodes.facts.values()), "the group was left stopped"


def test_the_plan_stops_the_group_between_its_markers() -> None:
    """What the tests below rely on: the first run marks, stops, pushes, starts, clears."""
    kinds = [a.kind for a in plan_site(CLASSIC, NODES, cluster()).actions]
    assert kinds.index("MarkGroupStopped") < kinds.index("StopGroup") < kinds.index("ApplyClusterConfig") \
        < kinds.index("StartGroup") < kinds.index("ClearStopMarker")


# What a first run still sends after a group stop once it is stopping: the rest of the apply
# sequence up to the group start (the push with the cluster suspended around it: the same round trip
# as the stop), then the standby's markers.
FINISH_RESTART = [("suspendcluster", "clu1"), ("apply", "clu1"), ("restartmanager", "clu1"), ("resumecluster", "clu1"),
                  ("startgroup", "clu1"), ("clearsuspend", "clu2"), ("clearmark", "clu2")]


async def test_stopping_while_the_group_stops_starts_it_again_and_sends_nothing_further() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    stopping = _stopping_during(runner, nodes, "stopgroup")
    with pytest.raises(asyncio.CancelledError):
        await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, stopping=stopping)
    actions = runner.actions()
    assert [s.step for s in actions].count("stopgroup") == 1
    # A first run adds the PID monitor, so its push runs with the cluster suspended (issue 11).
    assert _after(actions, "stopgroup") == FINISH_RESTART, \
        "the push (suspended around) and the start that ends the restart, then nothing: no local site start, no probe"
    assert not any(s.is_probe for s in runner.sent[runner.sent.index(actions[-1]):]), "no verification round"
    _no_marker_and_online(nodes)


async def test_stopping_before_the_stop_never_stops_the_group_and_removes_the_marker() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    stopping = _stopping_during(runner, nodes, "markstop")
    with pytest.raises(asyncio.CancelledError):
        await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, stopping=stopping)
    # The suspend marker went in the same round trip as the stop marker (it was sent): the restore of
    # it and the stop marker's removal follow; the group is never stopped.
    assert _after(runner.actions(), "markstop") == [("marksuspend", "clu2"), ("clearsuspend", "clu2"),
                                                    ("clearmark", "clu2")]
    assert not any(s.step == "stopgroup" for s in runner.actions())
    _no_marker_and_online(nodes)


class _SlowStop:
    """The FakeRunner, with the group stop held until ``release`` (a ``cjcpw -stop`` taking minutes)."""

    def __init__(self, runner: FakeRunner) -> None:
        self.runner, self.started, self.release, self.finished = runner, asyncio.Event(), asyncio.Event(), False

    async def run(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, argv: Sequence[str],
                  **kwargs: object) -> CommandResult:
        if "stopgroup" in argv:
            self.started.set()
            await self.release.wait()
        answer = await self.runner.run(node, creds, timeouts, tuple(argv), **kwargs)  # type: ignore[arg-type]
        if "stopgroup" in argv:
            self.finished = True
        return answer


async def test_a_cancelled_run_lets_the_step_in_flight_finish_then_restores() -> None:
    """kopf cancels its workers on SIGTERM: the stop in flight is not cut off on the node."""
    runner, nodes = fake_runner(CLASSIC, cluster())
    slow = _SlowStop(runner)
    run = asyncio.create_task(reconcile_site(slow, ACCESS, CLASSIC, enforce=True, settle_interval=0))
    await slow.started.wait()
    run.cancel()
    await asyncio.sleep(0)
    run.cancel()  # kopf cancels again when closing its workers
    assert not run.done(), "the run waits for the step in flight"
    slow.release.set()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert slow.finished
    assert _after(runner.actions(), "stopgroup") == FINISH_RESTART
    _no_marker_and_online(nodes)


async def test_a_disruptive_step_before_the_start_is_not_run_the_group_is_restored() -> None:
    """Between the stop and its start only steps that interrupt nothing go on: a disruptive one
    (here a second group stop, as a plan could hold) ends the run with the restore."""
    runner, nodes = fake_runner(CLASSIC, cluster())
    stopping = _stopping_during(runner, nodes, "stopgroup")
    plan = plan_site(CLASSIC, NODES, cluster())
    stop = next(i for i, a in enumerate(plan.actions) if a.kind == "StopGroup")
    actions = (*plan.actions[:stop + 1], plan.actions[stop].model_copy(update={"node": "clu2"}),
               *plan.actions[stop + 1:])
    with pytest.raises(asyncio.CancelledError):
        await execute(runner, ACCESS, actions, stopping=stopping)
    assert _after(runner.actions(), "stopgroup") == [("startgroup", "clu1"), ("clearsuspend", "clu2"),
                                                     ("clearmark", "clu2")]
    _no_marker_and_online(nodes)


async def test_a_failed_restore_keeps_the_markers_for_the_next_run() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    stopping = _stopping_during(runner, nodes, "stopgroup")
    runner.fail(step_is("startgroup"), stderr="clpgrp: start failed")
    with pytest.raises(asyncio.CancelledError):
        await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, stopping=stopping)
    # The plan's start fails; its restore (the same start) is tried once more, and fails too; the
    # cluster was resumed, so the standby's suspend marker is removed.
    assert _after(runner.actions(), "stopgroup") == [
        *FINISH_RESTART[:5], ("startgroup", "clu1"), ("clearsuspend", "clu2")]
    assert nodes.facts["clu2"].stopped_by_operator == "clu1", "the marker tells the next run where to start it"
