"""The cluster daemon's node watch waits for kernel events (hack/testbed/clp/engine.py NodeEvents):
a node init's exit (pidfd) and a change of one of its links (rtnetlink) wake it; other links do not.
The failover tests (test_testbed_failover.py) show the daemon acting on them end to end."""

from __future__ import annotations

import asyncio
import struct
import uuid

from hack.testbed.clp.engine import NodeEvents


def _newlink(index: int) -> bytes:
    """One RTM_NEWLINK message: nlmsghdr (16 bytes) + ifinfomsg (16 bytes) naming link ``index``."""
    body = struct.pack("=BxHiII", 0, 1, index, 0, 0)
    return struct.pack("=IHHII", 16 + len(body), 16, 0, 0, 0) + body


async def test_only_its_own_links_concern_it() -> None:
    events = NodeEvents(asyncio.Event(), ["lo"])
    try:
        lo = next(iter(events.links or {1}))
        assert events._concerns_us(_newlink(lo))
        assert not events._concerns_us(_newlink(lo + 100000))
        assert events._concerns_us(_newlink(lo + 100000) + _newlink(lo))  # a batch: any one of them
    finally:
        events.close()


async def _ip(*args: str) -> int:
    proc = await asyncio.create_subprocess_exec("ip", *args)
    return await proc.wait()


async def test_init_exit_wakes_it() -> None:
    wake = asyncio.Event()
    events = NodeEvents(wake, [])
    proc = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        events.arm({"clu1": proc.pid})
        assert events.complete and events.pidfds["clu1"][1] is not None
        await asyncio.sleep(0)  # one turn of the loop: a live init raises nothing
        assert not wake.is_set()
        proc.kill()
        await asyncio.wait_for(wake.wait(), 10)
        events.arm({"clu1": proc.pid})  # the same (dead) init is not watched again
        assert events.pidfds["clu1"] == (proc.pid, None)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        events.close()


async def test_link_down_wakes_it(testbed_required: None) -> None:
    name = f"jcbt{uuid.uuid4().hex[:6]}"
    assert await _ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p") == 0
    wake = asyncio.Event()
    try:
        events = NodeEvents(wake, [name])
        try:
            assert events.complete and not wake.is_set()
            assert await _ip("link", "set", name, "up") == 0
            await asyncio.wait_for(wake.wait(), 10)
        finally:
            events.close()
    finally:
        await _ip("link", "del", name)
