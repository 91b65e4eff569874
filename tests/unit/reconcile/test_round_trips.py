"""The consecutive actions of a plan on one node go in one round trip (reconcile.round_trip), each
with its own step report and exit status; the run stops at the first failure as before."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from fake_nodes import FakeRunner, access, fake_runner, result, step_is
from plan_factory import CLASSIC, NODES, cluster

from jobcenter_operator.errors import CommandFailed
from jobcenter_operator.node import CommandResult, NodeAddress, SSHCredentials, Timeouts
from jobcenter_operator.outcome import SiteResult
from jobcenter_operator.paths import NQSSTART
from jobcenter_operator.plan import plan_site
from jobcenter_operator.plan.commands import GUARD_SITE_EXISTS
from jobcenter_operator.progress import StepProgress
from jobcenter_operator.reconcile import (
    MAX_TRIP_ACTIONS,
    Reread,
    _sendable_while_exiting,
    execute,
    node_lanes,
    probe_target,
    reconcile_site,
    round_trip,
)

LOCAL_DAEMON_STEP = "sh"  # the daemon.conf write: an sh wrapper whose $0 is "sh"

ACCESS = access(NODES)


def trips(actions: tuple) -> list[list[str]]:  # type: ignore[type-arg]
    out, start = [], 0
    while start < len(actions):
        trip = round_trip(actions, start)
        out.append([f"{a.kind}@{a.node}" for a in trip])
        start += len(trip)
    return out


def test_a_build_goes_in_fewer_round_trips_than_actions_never_mixing_nodes() -> None:
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    grouped = trips(actions)
    assert sum(len(t) for t in grouped) == len(actions) and len(grouped) < len(actions)
    assert all(len({step.split("@")[1] for step in t}) == 1 for t in grouped)
    # the standby's markers go with its first steps (plan/order.py), the active node's cjcmksite in
    # a round trip of its own: the group's whole restart (the push suspended around) does not fit
    # after it, and goes in the next one; the markers are removed after it in one
    assert grouped[:2] == [["SetLocalDaemon@clu2", "StopLocalSite@clu2", "MarkGroupStopped@clu2",
                            "MarkSuspended@clu2"],
                           ["SetLocalDaemon@clu1", "StopLocalSite@clu1", "CreateSite@clu1"]]
    assert grouped[2:] == [["StopGroup@clu1", "SuspendCluster@clu1", "ApplyClusterConfig@clu1",
                            "RestartManagerServices@clu1", "ResumeCluster@clu1", "StartGroup@clu1"],
                           ["ClearSuspendMarker@clu2", "ClearStopMarker@clu2", "StartLocalSite@clu2"],
                           ["StartLocalSite@clu1"]]


def test_consecutive_disruptive_actions_on_one_node_share_a_round_trip() -> None:
    """The local site's stop and cjcmksite, the suspend, the push and the resume: one round trip each
    (every disruptive step of it is told before it is sent: test_progress)."""
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    assert any(sum(a.disruptive for a in round_trip(actions, start)) > 1 for start in range(len(actions)))


def test_a_round_trip_holds_a_bounded_number_of_actions_and_a_large_payload_last() -> None:
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    same_node = tuple(a.model_copy(update={"node": "clu1", "command": a.command.model_copy(
        update={"disruptive": False})}) for a in actions if a.kind != "StopGroup")
    sizes = [len(t) for t in trips(same_node)]
    assert sum(sizes) == len(same_node) and sizes[:len(same_node) // MAX_TRIP_ACTIONS] == [MAX_TRIP_ACTIONS] * (
        len(same_node) // MAX_TRIP_ACTIONS)
    big = actions[0].model_copy(update={"command": actions[0].command.model_copy(update={"input": "x" * 70_000})})
    small = actions[0]
    assert [len(t) for t in trips((big, small, actions[1]))] == [1, 2], "nothing with a payload after a large one"
    assert [len(t) for t in trips((small, big, actions[1]))] == [3]


def test_a_group_stop_goes_with_everything_up_to_its_start_or_in_a_round_trip_of_its_own() -> None:
    """The group is down from its stop to its start: no status write nor Event between them. A round
    trip that cannot carry the stop through the start ends before the stop."""
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    stop = next(i for i, a in enumerate(actions) if a.kind == "StopGroup")
    start = next(i for i, a in enumerate(actions) if a.kind == "StartGroup")
    restart = actions[stop:start + 1]
    assert len(restart) == MAX_TRIP_ACTIONS and round_trip(actions, stop) == restart
    active = actions[stop - 1].node
    assert actions[stop - 1].kind == "CreateSite" and round_trip(actions, stop - 1) == (actions[stop - 1],)
    shorter = tuple(a for a in restart if a.kind not in ("SuspendCluster", "ResumeCluster"))
    fits = (actions[stop - 1], *shorter)
    assert round_trip(fits, 0) == fits and {a.node for a in fits} == {active}, "one round trip when it all fits"


async def test_a_failure_inside_a_round_trip_ends_the_run_there_with_its_own_report() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    runner.on(step_is("cjcmksite"), lambda s: result(s, GUARD_SITE_EXISTS, stderr="cjcmksite refused: exists"))
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    reports, failure = await execute(runner, ACCESS, actions)
    # the standby's markers (sent with its first steps) are removed: the group was never stopped
    assert [(r.action.kind, r.action.node, r.ok) for r in reports] == [
        ("SetLocalDaemon", "clu2", True), ("StopLocalSite", "clu2", True), ("MarkGroupStopped", "clu2", True),
        ("MarkSuspended", "clu2", True), ("SetLocalDaemon", "clu1", True), ("StopLocalSite", "clu1", True),
        ("CreateSite", "clu1", False), ("ClearSuspendMarker", "clu2", True), ("ClearStopMarker", "clu2", True)]
    assert failure is not None and failure.reason == "SiteExists"  # the command's own refusal
    assert runner.trips == 4 and [s.step for s in runner.actions()][-3:] == ["cjcmksite", "clearsuspend", "clearmark"]


async def test_a_plain_failure_carries_its_own_exit_status() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    runner.on(step_is("/usr/lib/nqs/nqsstop", "clu2"), lambda s: result(s, 5, stderr="nqsstop: busy"))
    reports, failure = await execute(runner, ACCESS, plan_site(CLASSIC, NODES, cluster()).actions)
    assert [r.ok for r in reports] == [True, False]
    assert isinstance(failure, CommandFailed) and failure.exit_status == 5 and "busy" in failure.stderr


async def test_a_round_trip_that_fails_after_a_group_stop_still_restores_the_group() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    runner.fail(step_is("apply"), stderr="clpcfctrl: push refused")
    done = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    kinds = [(r.action.kind, r.ok) for r in done.steps]
    # the push failed inside the round trip [stop, suspend, push, resume, start]: the resume and the
    # start it did not reach, and the suspend marker's removal, run as restores; then the stop marker goes
    assert kinds[-7:] == [("StopGroup", True), ("SuspendCluster", True), ("ApplyClusterConfig", False),
                          ("ResumeCluster", True), ("StartGroup", True), ("ClearSuspendMarker", True),
                          ("ClearStopMarker", True)]
    assert nodes.facts["clu1"].group_node == "clu1", "the group runs again"


async def test_the_verification_read_goes_in_each_nodes_last_round_trip() -> None:
    """After a build nothing is probed on its own: each node's facts are read at the end of its last
    round trip (nothing after it changes that node: the other node only starts its local site)."""
    runner, _ = fake_runner(CLASSIC, cluster())
    done = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert done.error is None and done.health is not None and done.health.healthy
    probes = [s for s in runner.sent if s.is_probe]
    assert len(probes) == 2 * len(NODES), "the read before the plan, and one folded into a trip per node"
    for probe in probes[len(NODES):]:
        trip = [s for s in runner.sent if s.trip == probe.trip]
        assert len(trip) > 1 and trip[-1] == probe and not any(s.is_probe for s in trip[:-1])
        assert max(s.trip for s in runner.sent if s.node == probe.node) == probe.trip
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    assert runner.trips == len(trips(actions)) + len(NODES)


async def test_no_folded_read_on_a_node_whose_view_a_later_step_elsewhere_changes() -> None:
    """A node's last round trip is followed by a step on another node that every node sees (a group
    start): its facts are read after the whole plan, on their own."""
    runner, _ = fake_runner(CLASSIC, cluster())
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    start = next(i for i, a in enumerate(actions) if a.kind == "StartGroup")
    # up to the group start, with the standby's marker removal moved before it
    clear = next(a for a in actions[start:] if a.kind == "ClearStopMarker")
    plan = (*actions[:start], clear, actions[start])
    reread = Reread(probe_target(CLASSIC))
    reports, failure = await execute(runner, ACCESS, plan, reread=reread)
    assert failure is None and len(reports) == len(plan)
    assert set(reread.facts) == {"clu1"}, "clu2's last trip came before clu1's group start"
    assert [s.step for s in runner.sent if s.trip == runner.trips][-1] == "jcop-facts"


async def test_an_exit_told_while_a_round_trip_is_announced_sends_none_of_its_disruptive_steps() -> None:
    """The signal lands while the steps of [daemon.conf, nqsstop, cjcmksite] are told (status write,
    Events): nothing of it is sent, the steps told end as not run, and the run ends at its safe point."""
    runner, _ = fake_runner(CLASSIC, cluster())
    stopping = asyncio.Event()
    told: list[StepProgress] = []

    async def progress(step: StepProgress, result: SiteResult) -> None:
        told.append(step)
        if step.action.kind == "CreateSite" and step.report is None:
            stopping.set()

    with pytest.raises(asyncio.CancelledError):
        await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0, progress=progress,
                             stopping=stopping)
    assert [(s.step, s.node) for s in runner.actions()] == [
        (LOCAL_DAEMON_STEP, "clu2"), ("/usr/lib/nqs/nqsstop", "clu2"), ("markstop", "clu2"), ("marksuspend", "clu2"),
        ("clearsuspend", "clu2"), ("clearmark", "clu2")], "nothing of clu1's trip; the standby's markers removed"
    ends = [(s.action.kind, s.report.error) for s in told if s.report is not None and s.action.node == "clu1"]
    assert ends == [("StopLocalSite", "not run: the operator is exiting"),
                    ("CreateSite", "not run: the operator is exiting")]


def test_an_exiting_operator_sends_only_what_completes_a_restart() -> None:
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    stop = next(i for i, a in enumerate(actions) if a.kind == "StopGroup")
    owed = [actions[stop].restore]
    after = actions[stop + 1:stop + 6]  # what follows the stop on its node: suspend, push, restart, resume, start
    assert [a.kind for a in after] == ["SuspendCluster", "ApplyClusterConfig", "RestartManagerServices",
                                       "ResumeCluster", "StartGroup"]
    assert _sendable_while_exiting(after, owed) == 5
    assert _sendable_while_exiting(round_trip(actions, 0), []) == 0
    assert _sendable_while_exiting(round_trip(actions, stop), []) == 0, "no stop started by an exiting operator"


class _Meeting:
    """The FakeRunner, with each node's local site start held until every node's has been sent: a run
    that sent them one after the other never gets past the first."""

    def __init__(self, runner: FakeRunner) -> None:
        self.runner = runner
        self.arrived = {n: asyncio.Event() for n in NODES}

    async def run(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, argv: Sequence[str],
                  **kwargs: object) -> CommandResult:
        if NQSSTART in argv:
            self.arrived[node.name].set()
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self.arrived.values())), timeout=5)
        return await self.runner.run(node, creds, timeouts, tuple(argv), **kwargs)  # type: ignore[arg-type]


async def test_the_last_round_trips_of_the_nodes_go_at_once() -> None:
    """After the group's start what is left changes each node on its own (the standby's markers removed,
    both local sites started): the nodes' last round trips are in flight together, each with the
    verification's read at its end; the reports stay in plan order."""
    runner, _ = fake_runner(CLASSIC, cluster())
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    tail = next(i for i, a in enumerate(actions) if a.kind == "StartGroup") + 1
    assert node_lanes(actions, tail) is not None and node_lanes(actions, tail - 1) is None
    reread = Reread(probe_target(CLASSIC))
    reports, failure = await execute(_Meeting(runner), ACCESS, actions, reread=reread)
    assert failure is None and [r.action for r in reports] == list(actions)
    assert set(reread.facts) == set(NODES)


async def test_a_failure_in_one_nodes_last_round_trip_is_the_runs_error_and_the_other_node_finishes() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    runner.on(step_is(NQSSTART, "clu2"), lambda s: result(s, 6, stderr="nqsstart: bad daemon.conf"))
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    reports, failure = await execute(_Meeting(runner), ACCESS, actions)
    assert isinstance(failure, CommandFailed) and failure.node == "clu2" and "bad daemon.conf" in failure.stderr
    ends = [(r.action.kind, r.action.node, r.ok) for r in reports if r.action.kind == "StartLocalSite"]
    assert ends == [("StartLocalSite", "clu2", False), ("StartLocalSite", "clu1", True)]


def test_lanes_only_for_steps_that_change_their_own_node_and_restore_nothing() -> None:
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    marks = [i for i, a in enumerate(actions) if a.kind in ("MarkGroupStopped", "MarkSuspended")]
    assert node_lanes(actions[:marks[-1] + 1], 0) is None, "a group's markers come with its stop"
    one_node = tuple(a for a in actions if a.node == "clu1" and a.kind in ("SetLocalDaemon", "StartLocalSite"))
    assert node_lanes(one_node, 0) is None
    local = tuple(a for a in actions if a.kind in ("SetLocalDaemon", "StartLocalSite"))
    assert node_lanes(local, 0) == [[i for i, a in enumerate(local) if a.node == n] for n in ("clu2", "clu1")]
