"""coordination.py against the API stand-in (real coordination.k8s.io/v1 Leases, no root).

Three replicas share one stand-in; time is a shared fake monotonic clock the test advances, so
expiry is exercised without sleeping. After every round the invariant is checked: no shard is
``holds()`` in two replicas at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hack.standin.server import serve, write_kubeconfig
from jobcenter_operator.coordination import CoordinationConfig, Coordinator, KubeLeases
from jobcenter_operator.shard import assign

SHARDS = 12


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def leases(tmp_path: Path) -> AsyncIterator[KubeLeases]:
    async with serve() as (url, _standin):
        yield KubeLeases(str(write_kubeconfig(tmp_path / "kubeconfig", url)))


def replica(api: KubeLeases, clock: Clock, identity: str) -> Coordinator:
    return Coordinator(CoordinationConfig(identity=identity, namespace="default", shards=SHARDS), api, clock=clock)


def holders(replicas: list[Coordinator]) -> dict[int, str]:
    """Shard -> the replica that may act on it; fails if two may."""
    seen: dict[int, str] = {}
    for r in replicas:
        for s in r.held_shards():
            assert s not in seen, f"shard {s} held by {seen[s]} and {r.config.identity} at once"
            seen[s] = r.config.identity
    return seen


async def rounds(replicas: list[Coordinator], clock: Clock, n: int, everyone: list[Coordinator]) -> dict[int, str]:
    """``n`` rounds of every replica in ``replicas``, 2 s apart; checks the invariant over ``everyone``."""
    for _ in range(n):
        for r in replicas:
            await r.step()
            holders(everyone)
        clock.now += 2.0
    return holders(everyone)


async def lease_holders(api: KubeLeases) -> dict[str, str]:
    return {b["metadata"]["name"]: b["spec"].get("holderIdentity") or ""
            for b in await api.list("default", "jobcenter.clusterpro.io/lease=shard")}


async def test_three_replicas_split_the_shards_and_take_over_a_dead_one(leases: KubeLeases) -> None:
    clock = Clock()
    ops = [replica(leases, clock, f"op-{i}") for i in range(3)]
    owned = await rounds(ops, clock, 4, ops)
    assert owned == assign(SHARDS, ["op-0", "op-1", "op-2"])  # every shard held, by its assigned replica
    assert await lease_holders(leases) == {f"jobcenter-operator-shard-{s}": m for s, m in owned.items()}
    lost = {s for s, m in owned.items() if m == "op-1"}
    assert lost

    # op-1 dies (no more rounds, no release). It stops acting after the renew deadline; the others
    # take its shards only after they saw its Leases unchanged for the whole lease duration.
    survivors = [ops[0], ops[2]]
    rounds_to_takeover = 0
    while set(holders(ops)) != set(range(SHARDS)) or any(m == "op-1" for m in holders(ops).values()):
        await rounds(survivors, clock, 1, ops)
        rounds_to_takeover += 1
        assert rounds_to_takeover < 30, holders(ops)
    # expiry (15 s) + one round for the member Lease to expire and one to acquire: well under 30 s
    assert rounds_to_takeover * 2.0 <= 30.0
    assert holders(ops) == assign(SHARDS, ["op-0", "op-2"])

    # op-1 comes back (a new process, same pod name): the survivors hand its shards back
    back = replica(leases, clock, "op-1")
    ops = [ops[0], back, ops[2]]
    owned = await rounds(ops, clock, 4, ops)
    assert owned == assign(SHARDS, ["op-0", "op-1", "op-2"])


async def test_a_shard_in_use_is_handed_over_only_when_its_run_ends(leases: KubeLeases) -> None:
    clock = Clock()
    op0 = replica(leases, clock, "op-0")
    await rounds([op0], clock, 2, [op0])
    assert op0.held_shards() == list(range(SHARDS))  # alone: every shard
    op1 = replica(leases, clock, "op-1")
    moving = sorted(s for s, m in assign(SHARDS, ["op-0", "op-1"]).items() if m == "op-1")
    async with op0.acting(moving[0], key="site-a") as may:
        assert may
        owned = await rounds([op0, op1], clock, 6, [op0, op1])
        assert owned.get(moving[0]) is None  # op-0 stopped starting runs, op-1 waits for the Lease
        assert all(owned[s] == "op-1" for s in moving[1:])
    owned = await rounds([op0, op1], clock, 2, [op0, op1])
    assert owned == assign(SHARDS, ["op-0", "op-1"])


async def test_graceful_stop_hands_over_at_the_next_round(leases: KubeLeases) -> None:
    clock = Clock()
    op0, op1 = replica(leases, clock, "op-0"), replica(leases, clock, "op-1")
    await rounds([op0, op1], clock, 3, [op0, op1])
    await op0.stop()
    assert op0.held_shards() == []
    # without the 15 s expiry: op-1 sees op-0's member Lease gone and its shard Leases free
    owned = await rounds([op1], clock, 1, [op0, op1])
    assert owned == dict.fromkeys(range(SHARDS), "op-1")


async def test_a_gained_shard_asks_for_a_reconcile_of_each_object_once(leases: KubeLeases) -> None:
    clock = Clock()
    op0 = replica(leases, clock, "op-0")
    shard = op0.shard_of("default", "jc-cluster")
    assert not op0.behind(("sites", "default", "a"), shard)  # not held: nothing to catch up on
    await rounds([op0], clock, 1, [op0])
    assert op0.behind(("sites", "default", "a"), shard)
    async with op0.acting(shard, key=("sites", "default", "a")):
        pass
    assert not op0.behind(("sites", "default", "a"), shard)
    assert op0.behind(("sites", "default", "b"), shard)


async def test_unrenewed_holder_stops_acting_before_the_lease_expires(leases: KubeLeases) -> None:
    clock = Clock()
    op0, op1 = replica(leases, clock, "op-0"), replica(leases, clock, "op-1")
    await rounds([op0, op1], clock, 3, [op0, op1])
    mine = op0.held_shards()
    clock.now += op0.config.renew_deadline  # op-0's loop stalled (API server away)
    assert op0.held_shards() == []
    async with op0.acting(mine[0]) as may:
        assert not may


async def test_stopping_with_a_run_in_flight_keeps_renewing_until_it_ends(leases: KubeLeases) -> None:
    clock = Clock()
    config = CoordinationConfig(identity="op-0", namespace="default", shards=SHARDS, retry_period=0.1)
    op0, op1 = Coordinator(config, leases, clock=clock), replica(leases, clock, "op-1")
    await rounds([op0, op1], clock, 3, [op0, op1])
    busy = op0.held_shards()[0]
    name = f"jobcenter-operator-shard-{busy}"

    async def version() -> str:
        items = await leases.list("default", "jobcenter.clusterpro.io/lease=shard")
        return str(next(i for i in items if i["metadata"]["name"] == name)["metadata"]["resourceVersion"])

    async with op0.acting(busy) as may:
        assert may
        stopping = asyncio.create_task(op0.stop())
        seen = await version()
        for _ in range(10):  # 20 s on op-1's clock, longer than the lease duration
            while (now := await version()) == seen:  # noqa: ASYNC110  (polls the API server for op-0's renewal)
                await asyncio.sleep(0.02)
            seen = now
            await op1.step()
            clock.now += 2.0
            assert busy not in op1.held_shards()  # renewed while its run is in flight: not taken
            assert busy not in op0.held_shards()  # and op-0 starts nothing new on it
    await asyncio.wait_for(stopping, 30)
    await op1.step()
    assert op1.held_shards() == list(range(SHARDS))
