"""The sharded test's lock assertion can fail (issue 16): on a bed, one operator process holds a
node's lock while another comes for it; ``assert_no_second_holder`` (what test_sharded.py asserts
after the takeover, the rebalance and the rolling restart) refuses that node log, and accepts the
same node before the second process came, and a process waiting for its own action."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import assert_no_second_holder, node_locks, wait_for

from hack.testbed import api
from jobcenter_operator.plan import commands

RELEASE = "/tmp/jcop-release-the-lock"  # inside the bed node


def bounded(holder: str, argv: tuple[str, ...], wait: float = 30) -> list[str]:
    """The argv the operator sends for ``argv`` as ``holder``, with a lock wait of ``wait`` s."""
    raw = list(commands.bounded(argv, 30, holder))
    raw[5] = f"{wait:g}"
    return raw


def test_the_lock_assertion_fails_on_a_second_process_at_a_node(testbed_cluster: Callable[..., dict[str, Any]]) -> None:
    bed = testbed_cluster(mode="classic")
    active, standby = bed["activeNode"], next(n["name"] for n in bed["nodes"] if n["name"] != bed["activeNode"])

    def on(node: str, argv: list[str]) -> dict[str, Any]:
        return api.exec_on(bed["name"], node, argv, timeout=60)

    assert on(standby, bounded("op-0:1", ("true",)))["exitStatus"] == 0
    on(active, ["rm", "-f", RELEASE])
    done: list[dict[str, Any]] = []
    hold = bounded("op-0:1", ("sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.05; done', "sh", RELEASE))
    holding = threading.Thread(target=lambda: done.append(on(active, hold)))
    holding.start()
    try:
        wait_for("op-0:1 holds the active node's lock",
                 lambda: on(active, ["cat", commands.LOCK_HOLDER])["stdout"].strip() == "op-0:1", timeout=30)
        assert_no_second_holder([bed], ["op-0"])  # one process, nothing else came: accepted

        # The same process's next action waits for its own: not a second process.
        mine = on(active, bounded("op-0:1", ("true",), wait=0.3))
        assert mine["exitStatus"] == commands.EXIT_NODE_BUSY, mine
        assert_no_second_holder([bed], ["op-0"])

        # Another operator process comes for the held lock (refused after its wait): on record.
        other = on(active, bounded("op-1:2", ("true",), wait=0.3))
        assert other["exitStatus"] == commands.EXIT_NODE_BUSY, other
    finally:
        on(active, ["touch", RELEASE])
        holding.join(60)
    assert done and done[0]["exitStatus"] == 0, done
    second = [c for lock in node_locks(bed) for c in lock.second_holders]
    assert [(c.waiter, c.holder, c.busy) for c in second] == [("op-1:2", "op-0:1", False), ("op-1:2", "op-0:1", True)]
    with pytest.raises(AssertionError, match="a node's lock saw a second operator process"):
        assert_no_second_holder([bed], ["op-0", "op-1"])
