"""Issue 12 on the simulated cluster (real sshd nodes, real sh): the node-side halves of holes 6,
8 and 9 that the fake nodes cannot show. Every command goes through a real NodePool; what happened
is read inside the nodes with ``api.exec_on`` (no SSH).

Run: sudo .venv/bin/pytest tests/integration/test_safety_on_testbed.py   (needs root)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hack.testbed import api
from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: F401
from jobcenter_operator import errors
from jobcenter_operator.node import NodePool
from jobcenter_operator.plan import commands
from jobcenter_operator.plan.model import Action, Command
from jobcenter_operator.reconcile import ClusterAccess, execute, holder_identity, reconcile_site
from tests.integration.test_site_on_testbed import access, describe, site_spec

pytestmark = pytest.mark.root

Bed = Callable[..., dict[str, Any]]


@pytest.fixture
async def pool() -> AsyncIterator[NodePool]:
    p = NodePool()
    yield p
    await p.close()


def on_node(bed: dict[str, Any], node: str, argv: list[str]) -> dict[str, Any]:
    return api.exec_on(bed["name"], node, argv, timeout=30)


def action(kind: str, node: str, command: Command) -> Action:
    return Action.model_validate({"kind": kind, "node": node, "reason": "Test", "message": kind, "command": command})


async def run_one(pool: NodePool, acc: ClusterAccess, act: Action) -> errors.OperatorError | None:
    _, failure = await execute(pool, acc, (act,))
    return failure


def test_the_nodes_have_what_the_bounded_wrapper_needs(testbed_cluster: Bed) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    for n in bed["nodes"]:
        for tool in ("timeout", "flock", "mountpoint", "sha256sum"):
            r = on_node(bed, n["name"], ["sh", "-c", 'command -v "$1"', "sh", tool])
            assert r["exitStatus"] == 0 and r["stdout"].strip(), (n["name"], tool, r)


async def test_8_cjcmksite_is_refused_on_an_unmounted_disk_and_over_a_dangling_symlink(
    testbed_cluster: Bed, pool: NodePool  # noqa: F811
) -> None:
    bed = testbed_cluster(mode="classic")
    active, db = bed["activeNode"], bed["databasePath"]
    acc, spec = access(bed), site_spec(bed)
    create = action("CreateSite", active, commands.create_site(spec.virtual_host or "", spec.machine_id or 0, db,
                                                               spec.failover_group, active))
    # A dangling <databasePath>/nqs (a site whose target is not there) is somebody's site.
    assert on_node(bed, active, ["ln", "-s", "/nonexistent/nqs", f"{db}/nqs"])["exitStatus"] == 0
    failure = await run_one(pool, acc, create)
    assert failure is not None and failure.reason == "SiteExists", failure
    assert on_node(bed, active, ["rm", f"{db}/nqs"])["exitStatus"] == 0
    # The disk is not mounted: the site would land on the root file system.
    api.fault(bed["name"], "unmount-disk", active)
    failure = await run_one(pool, acc, create)
    assert failure is not None and failure.reason == "DiskNotMounted", failure
    assert on_node(bed, active, ["test", "!", "-e", f"{db}/nqs"])["exitStatus"] == 0, "nothing was created"


async def test_6_a_push_onto_a_clp_conf_edited_since_the_plan_is_concurrent_edit(
    testbed_cluster: Bed, pool: NodePool  # noqa: F811
) -> None:
    bed = testbed_cluster(mode="classic")
    active = bed["activeNode"]
    acc = access(bed)
    conf = on_node(bed, active, ["cat", "/opt/nec/clusterpro/etc/clp.conf"])["stdout"]
    push = action("ApplyClusterConfig", active, commands.apply_config(
        bed["failoverGroup"], conf, {}, planned_from=conf + "<!-- as it was when the plan was made -->\n"))
    failure = await run_one(pool, acc, push)
    assert failure is not None and failure.reason == "ConcurrentEdit", failure
    # Planned from the file as it is: the guard lets the push through (the group must be stopped for
    # clpcfctrl to accept it, so an unchanged configuration is pushed: still a real push).
    same = action("ApplyClusterConfig", active, commands.apply_config(bed["failoverGroup"], conf, {}, conf))
    assert await run_one(pool, acc, same) is None


async def test_9_an_action_holds_the_node_lock_and_a_second_one_is_node_busy(
    testbed_cluster: Bed, pool: NodePool, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    bed = testbed_cluster(mode="classic")
    node = bed["activeNode"]
    acc = access(bed)
    monkeypatch.setattr(commands, "LOCK_WAIT_SECONDS", 1)
    holder = asyncio.create_task(run_one(pool, acc, action("StopLocalSite", node, Command(argv=("sleep", "6")))))
    # Wait until the first action really holds the lock on the node (flock -n fails while it does).
    deadline = time.monotonic() + 15
    while (held := on_node(bed, node, ["sh", "-c", "exec flock -n -E 75 /var/lib/jobcenter-operator/lock true"]))[
            "exitStatus"] != 75:
        assert time.monotonic() < deadline, f"the first action never took the lock: {held}"
        await asyncio.sleep(0.1)
    second = await run_one(pool, acc, action("StartLocalSite", node, Command(argv=("true",))))
    assert second is not None and second.reason == "NodeBusy", second
    # Another operator process (an injected second holder, on the node itself) comes for the lock too.
    intruder = on_node(bed, node, list(commands.bounded(("true",), 5, "intruder:1")))
    assert intruder["exitStatus"] == commands.EXIT_NODE_BUSY, intruder
    assert await holder is None
    # The node's lock log names every waiter and the holder: this process waiting for itself is
    # not a second process; the intruder is (what the sharded e2e test asserts never happens).
    log = on_node(bed, node, ["cat", commands.LOCK_LOG])
    seen = [(c.waiter, c.holder, c.busy, c.second_process) for c in commands.lock_contention(log["stdout"])]
    me = holder_identity()
    assert seen == [(me, me, False, False), (me, me, True, False), ("intruder:1", me, False, True),
                    ("intruder:1", me, True, True)], seen


async def test_9_an_action_past_its_limit_is_ended_on_the_node(testbed_cluster: Bed, pool: NodePool) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    node = bed["activeNode"]
    acc = access(bed)
    marker = f"jcop-stuck-{time.monotonic_ns()}"
    stuck = Command(argv=("sh", "-c", 'trap "" TERM; sleep 120; echo "$0"', marker), timeout=2)  # ignores TERM
    failure = await run_one(pool, acc, action("StopLocalSite", node, stuck))
    assert failure is not None and failure.reason == "Timeout", failure
    ps = on_node(bed, node, ["ps", "-eo", "args="])["stdout"]
    assert marker not in ps, "the command was killed on the node, not left running"


async def test_a_full_reconcile_still_converges_through_the_wrapper(testbed_cluster: Bed, pool: NodePool) -> None:  # noqa: F811
    bed = testbed_cluster(mode="classic")
    result = await reconcile_site(pool, access(bed), site_spec(bed), enforce=True, settle_interval=0.2)
    assert result.error is None, describe(result)
    for n in bed["nodes"]:
        r = on_node(bed, n["name"], ["ls", "/var/lib/jobcenter-operator/stopped"])
        assert r["stdout"].split() == [], f"no stop marker left on {n['name']}: {r}"
