"""reconcile_site against the fake nodes: rounds, restore after a failed step, partial
reachability and the bounded wait for the processes. No root, no network."""

from __future__ import annotations

import asyncio

import pytest
from fake_nodes import FakeCluster, FakeRunner, Sent, access, fake_runner, result, step_is
from plan_factory import CLASSIC, NODES, apply, cluster

from jobcenter_operator import reconcile
from jobcenter_operator.errors import ApplyRefused, CommandFailed, Unreachable
from jobcenter_operator.facts.processes import Process, ProcessTable
from jobcenter_operator.plan import plan_site
from jobcenter_operator.reconcile import MAX_ROUNDS, NotConverged, reconcile_site
from jobcenter_operator.status import site_conditions

ACCESS = access(NODES)


def converged() -> dict:  # type: ignore[type-arg]
    facts = cluster()
    return apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)


async def test_a_fresh_cluster_converges_in_one_round_and_a_second_run_changes_nothing() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert result_.error is None and result_.health is not None and result_.health.healthy
    assert result_.plan is not None and result_.plan.converged
    assert [(s.action.kind, s.action.node, s.ok) for s in result_.steps] == [
        (a.kind, a.node, True) for a in plan_site(CLASSIC, NODES, cluster()).actions]
    probes = [s.node for s in runner.sent if s.is_probe]
    assert sorted(probes) == sorted(NODES * 2), "one probe per node before, one after"
    assert [s.step for s in runner.actions()].count("stopgroup") == 1

    runner.sent.clear()
    again = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert again.error is None and again.steps == [] and runner.actions() == []


async def test_observe_only_plans() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    observed = await reconcile_site(runner, ACCESS, CLASSIC, enforce=False)
    assert observed.plan is not None and len(observed.plan.actions) == 17 and not observed.enforced
    assert runner.actions() == []


def _no_effect_first_time(runner: FakeRunner, nodes: FakeCluster, step: str, times: int) -> list[Sent]:
    """``step`` answers success ``times`` times without changing anything (then it works)."""
    ignored: list[Sent] = []

    def answer(sent: Sent) -> object:
        if len(ignored) < times:
            ignored.append(sent)
            return result(sent)
        return nodes(sent)

    runner.on(lambda s: s.argv == ("/usr/lib/nqs/nqsstart",) and s.node == "clu2", answer)  # type: ignore[arg-type]
    return ignored


async def test_work_left_after_a_round_is_done_in_the_next_round() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    ignored = _no_effect_first_time(runner, nodes, "nqsstart", times=1)
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert result_.error is None, result_.error
    assert len(ignored) == 1
    starts = [s for s in result_.steps if s.action.kind == "StartLocalSite" and s.action.node == "clu2"]
    assert len(starts) == 2, "once in the first round, again in the second"
    assert [s.step for s in runner.actions()].count("stopgroup") == 1, "the second round only did what was left"


async def test_rounds_are_bounded() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    _no_effect_first_time(runner, nodes, "nqsstart", times=MAX_ROUNDS + 5)
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert isinstance(result_.error, NotConverged)
    assert f"after {MAX_ROUNDS} rounds" in result_.error.message and "StartLocalSite on clu2" in result_.error.message
    starts = [s for s in result_.steps if s.action.kind == "StartLocalSite" and s.action.node == "clu2"]
    assert len(starts) == MAX_ROUNDS


async def test_a_failed_push_after_the_stop_starts_the_group_again_and_stops() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    runner.fail(step_is("apply"), stderr="clpcfctrl: push refused")
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert isinstance(result_.error, ApplyRefused) and result_.error.node == "clu1"
    assert "push refused" in result_.error.message
    steps = [(s.action.kind, s.action.node, s.ok, s.action.reason) for s in result_.steps]
    # The restores in reverse: the cluster resumed, the group started (never on a suspended cluster),
    # then the standby's suspend marker removed; the group running again, its stop marker too.
    assert steps[-7:] == [("StopGroup", "clu1", True, "ClusterConfigChange"),
                          ("SuspendCluster", "clu1", True, "ClusterConfigChange"),
                          ("ApplyClusterConfig", "clu1", False, "ClusterConfigDiffers"),
                          ("ResumeCluster", "clu1", True, "RestoreAfterFailure"),
                          ("StartGroup", "clu1", True, "RestoreAfterFailure"),
                          ("ClearSuspendMarker", "clu2", True, "RestoreAfterFailure"),
                          ("ClearStopMarker", "clu2", True, "ClusterConfigChange")]
    assert all(ok for _, _, ok, _ in steps[:-5])
    assert [s.step for s in runner.sent[-3:]] == ["startgroup", "clearsuspend", "clearmark"], \
        "nothing after the restore and the markers' removal"
    assert nodes.facts["clu1"].group_node == "clu1"
    assert not any(f.stopped_by_operator for f in nodes.facts.values()), "no stop marker left anywhere"
    # Resumed, no marker left anywhere; the refusal and clpcfctrl's output are in the status.
    assert not any(f.cluster.suspended or f.suspended_by_operator for f in nodes.facts.values())
    conds = site_conditions(CLASSIC, result_, None)
    assert conds["ClusterResourcesConfigured"].reason == "ApplyRefused"
    assert "push refused" in conds["ClusterResourcesConfigured"].message


async def test_a_failure_before_the_stop_stops_nothing_and_leaves_no_marker() -> None:
    """cjcmksite fails after the standby's markers went out (in its first round trip, plan/order.py):
    the group is never stopped, and both markers are removed (a stop marker left with the group
    online would make an administrator's later stop look like the operator's)."""
    runner, nodes = fake_runner(CLASSIC, cluster())
    runner.fail(step_is("cjcmksite"))
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert isinstance(result_.error, CommandFailed)
    assert [(s.action.kind, s.ok) for s in result_.steps][-3:] == [
        ("CreateSite", False), ("ClearSuspendMarker", True), ("ClearStopMarker", True)]
    assert not [s for s in runner.actions() if s.step in ("stopgroup", "startgroup")]
    assert not any(f.stopped_by_operator or f.suspended_by_operator for f in nodes.facts.values())


async def test_a_failed_restore_is_reported_and_the_first_failure_stays_the_error() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    runner.fail(step_is("apply"), stderr="push refused")
    runner.fail(step_is("startgroup"), stderr="start refused")
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert isinstance(result_.error, ApplyRefused) and "push refused" in result_.error.message
    last = next(s for s in reversed(result_.steps) if s.action.kind == "StartGroup")
    assert (last.action.kind, last.ok, last.action.reason) == ("StartGroup", False, "RestoreAfterFailure")
    assert last.error is not None and "start refused" in last.error
    # The marker stays: the next run finds the group offline with it and finishes the job.
    assert nodes.facts["clu1"].stopped_by_operator == "clu1"


async def test_an_unreachable_standby_changes_nothing_but_the_serving_site_is_ready() -> None:
    runner, _ = fake_runner(CLASSIC, converged())
    runner.on(lambda s: s.is_probe and s.node == "clu2", lambda s: Unreachable("clu2", "connection refused"))
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert isinstance(result_.error, Unreachable)
    assert result_.active_node == "clu1" and result_.health is not None and result_.health.healthy
    assert result_.plan is not None and result_.plan.converged and set(result_.gathered.facts) == {"clu1"}
    assert runner.actions() == []
    conds = site_conditions(CLASSIC, result_, None)
    assert conds["Ready"].status == "True" and conds["NodesReachable"].reason == "Unreachable"


async def test_an_unreachable_node_on_a_fresh_cluster_blocks_every_change() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    runner.on(lambda s: s.is_probe and s.node == "clu1", lambda s: Unreachable("clu1", "no route"))
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_interval=0)
    assert isinstance(result_.error, Unreachable) and result_.steps == [] and runner.actions() == []
    assert site_conditions(CLASSIC, result_, None)["Ready"].status == "False"


def _site_starts_without(nodes: FakeCluster, daemon: str, probes_until_up: int | None) -> object:
    """StartGroup brings the site up without ``daemon``, which appears (under the site's cjcpw)
    once the active node was probed ``probes_until_up`` more times (None: never)."""
    state = {"probes": 0, "started": False}

    def answer(sent: Sent) -> object:
        f = nodes.facts[sent.node]
        if sent.step == "startgroup":
            out = nodes(sent)
            f = nodes.facts[sent.node]
            keep = tuple(p for p in f.processes.processes if not (p.name == daemon and p.ppid != 1))
            nodes.facts[sent.node] = f.model_copy(update={"processes": ProcessTable(processes=keep)})
            state["started"] = True
            return out
        if state["started"] and sent.node == "clu1":
            state["probes"] += 1
            if probes_until_up is not None and state["probes"] == probes_until_up + 1:
                [tree] = f.processes.sites()
                late = Process(pid=9999, ppid=tree.cjcpw_pid, args=f"/usr/lib/nqs/{daemon}")
                nodes.facts["clu1"] = f.model_copy(
                    update={"processes": ProcessTable(processes=(*f.processes.processes, late))})
        return nodes(sent)

    return answer


async def test_the_processes_are_awaited_with_a_bounded_poll() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    runner.on(lambda s: s.step == "startgroup" or s.is_probe, _site_starts_without(nodes, "jcdbs", 2))  # type: ignore[arg-type]
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_timeout=60, settle_interval=0)
    assert result_.error is None and result_.health is not None and result_.health.healthy
    assert len([s for s in runner.sent if s.is_probe and s.node == "clu1"]) == 1 + 3


async def test_the_processes_are_looked_for_again_soon_then_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemons often come up within a moment of their start: the first wait is short, each next
    one twice as long, up to the settle interval (a poll, not a fixed sleep)."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(reconcile.asyncio, "sleep", sleep)
    runner, nodes = fake_runner(CLASSIC, cluster())
    runner.on(lambda s: s.step == "startgroup" or s.is_probe, _site_starts_without(nodes, "jcdbs", 5))  # type: ignore[arg-type]
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_timeout=60, settle_interval=1.0)
    assert result_.error is None and result_.health is not None and result_.health.healthy
    assert slept == [reconcile.SETTLE_FIRST, 2 * reconcile.SETTLE_FIRST, 4 * reconcile.SETTLE_FIRST,
                     8 * reconcile.SETTLE_FIRST, 1.0][:len(slept)] and len(slept) >= 4, slept


async def test_processes_still_missing_at_the_settle_timeout_are_not_converged() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    runner.on(lambda s: s.step == "startgroup" or s.is_probe, _site_starts_without(nodes, "jcdbs", None))  # type: ignore[arg-type]
    result_ = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, settle_timeout=0, settle_interval=0)
    assert isinstance(result_.error, NotConverged)
    assert "processes not healthy" in result_.error.message and "jcdbs" in result_.error.message
    assert result_.health is not None and result_.health.missing == ("jcdbs",)
