"""The consecutive actions of a plan on one node go in one round trip (reconcile.round_trip), each
with its own step report and exit status; the run stops at the first failure as before."""

from __future__ import annotations

from fake_nodes import access, fake_runner, result, step_is
from plan_factory import CLASSIC, NODES, cluster

from jobcenter_operator.errors import CommandFailed
from jobcenter_operator.plan import plan_site
from jobcenter_operator.plan.commands import GUARD_SITE_EXISTS
from jobcenter_operator.reconcile import MAX_TRIP_ACTIONS, execute, reconcile_site, round_trip

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
    assert grouped[:3] == [["SetLocalDaemon@clu2", "StopLocalSite@clu2"],
                           ["SetLocalDaemon@clu1", "StopLocalSite@clu1"], ["CreateSite@clu1"]]
    assert ["SuspendCluster@clu1"] in grouped
    assert ["ApplyClusterConfig@clu1", "RestartManagerServices@clu1", "ResumeCluster@clu1"] in grouped


def test_a_disruptive_action_ends_its_round_trip() -> None:
    """One interruption per round trip at most, at its end: its status and Event go out before it
    runs, and an operator told to exit starts no disruptive step after the one in flight."""
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    assert any(a.disruptive for a in actions)
    start = 0
    while start < len(actions):
        trip = round_trip(actions, start)
        assert not any(a.disruptive for a in trip[:-1]), [a.kind for a in trip]
        start += len(trip)


def test_a_round_trip_holds_a_bounded_number_of_actions_and_a_large_payload_last() -> None:
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    same_node = tuple(a.model_copy(update={"node": "clu1", "command": a.command.model_copy(
        update={"disruptive": False})}) for a in actions)
    sizes = [len(t) for t in trips(same_node)]
    assert sum(sizes) == len(actions) and sizes[:len(actions) // MAX_TRIP_ACTIONS] == [MAX_TRIP_ACTIONS] * (
        len(actions) // MAX_TRIP_ACTIONS)
    big = actions[0].model_copy(update={"command": actions[0].command.model_copy(update={"input": "x" * 70_000})})
    small = actions[0]
    assert [len(t) for t in trips((big, small, actions[1]))] == [1, 2], "nothing with a payload after a large one"
    assert [len(t) for t in trips((small, big, actions[1]))] == [3]


async def test_a_failure_inside_a_round_trip_ends_the_run_there_with_its_own_report() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    runner.on(step_is("cjcmksite"), lambda s: result(s, GUARD_SITE_EXISTS, stderr="cjcmksite refused: exists"))
    actions = plan_site(CLASSIC, NODES, cluster()).actions
    reports, failure = await execute(runner, ACCESS, actions)
    assert [(r.action.kind, r.action.node, r.ok) for r in reports] == [
        ("SetLocalDaemon", "clu2", True), ("StopLocalSite", "clu2", True),
        ("SetLocalDaemon", "clu1", True), ("StopLocalSite", "clu1", True), ("CreateSite", "clu1", False)]
    assert failure is not None and failure.reason == "SiteExists"  # the command's own refusal
    assert runner.trips == 3 and [s.step for s in runner.actions()][-1] == "cjcmksite"


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
    # the push failed inside the round trip [suspend, push, resume]: the resume it did not reach, the
    # suspend marker's removal and the group's start run as restores
    assert kinds[-5:] == [("SuspendCluster", True), ("ApplyClusterConfig", False), ("ResumeCluster", True),
                          ("ClearSuspendMarker", True), ("StartGroup", True)]
    assert nodes.facts["clu1"].group_node == "clu1", "the group runs again"
