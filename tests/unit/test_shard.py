"""shard.py: stable shard of a cluster, the pin label, rendezvous assignment, lease moves."""

from __future__ import annotations

import pytest

from jobcenter_operator.shard import SHARD_LABEL, LeaseView, Move, assign, decide, may_act, pinned_shard, shard_of

CLUSTERS = [(f"ns{i % 7}", f"cluster-{i}") for i in range(400)]


def test_shard_is_stable_and_in_range() -> None:
    # Known values: a change of the hash would silently move every site to another replica on upgrade.
    assert [shard_of("default", "jc-cluster", 12), shard_of("prod", "jc-cluster", 12)] == [7, 10]
    assert shard_of("default", "jc-cluster", 1000) == 791
    shards = [shard_of(ns, name, 12) for ns, name in CLUSTERS]
    assert all(0 <= s < 12 for s in shards)
    assert len(set(shards)) == 12  # 400 clusters reach every shard
    # the namespace is part of the key: the same cluster name in two namespaces may land apart
    assert len({shard_of(f"ns{i}", "jc-cluster", 12) for i in range(50)}) > 1


def test_shard_value_does_not_depend_on_the_process() -> None:
    # sha256-based: the same in every interpreter (PYTHONHASHSEED does not matter)
    import subprocess
    import sys
    code = "from jobcenter_operator.shard import shard_of; print(shard_of('default', 'jc-cluster', 1000))"
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONHASHSEED": seed, "PYTHONPATH": "operator"}).stdout for seed in ("1", "2")}
    assert out == {f"{shard_of('default', 'jc-cluster', 1000)}\n"}


def test_pin_label() -> None:
    assert shard_of("default", "jc-cluster", 12, {SHARD_LABEL: "5"}) == 5
    assert shard_of("default", "jc-cluster", 4, {SHARD_LABEL: "5"}) == 1  # modulo when the count shrinks
    unpinned = shard_of("default", "jc-cluster", 12)
    for bad in ("", "x", "-1", "2.5"):
        assert pinned_shard({SHARD_LABEL: bad}, 12) is None
        assert shard_of("default", "jc-cluster", 12, {SHARD_LABEL: bad}) == unpinned
    assert shard_of("default", "jc-cluster", 12, {"other": "5"}) == unpinned
    with pytest.raises(ValueError, match="at least 1"):
        shard_of("default", "jc-cluster", 0)


def test_assignment_is_the_same_for_every_member_order() -> None:
    a = assign(12, ["op-0", "op-1", "op-2"])
    assert a == assign(12, ["op-2", "op-0", "op-1", "op-0"])
    assert set(a) == set(range(12))
    assert set(a.values()) == {"op-0", "op-1", "op-2"}
    assert assign(12, []) == {}


def test_losing_a_member_moves_only_its_shards_and_they_come_back() -> None:
    three = assign(60, ["op-0", "op-1", "op-2"])
    two = assign(60, ["op-0", "op-2"])
    moved = {s for s in three if three[s] != two[s]}
    assert moved == {s for s, m in three.items() if m == "op-1"}  # only op-1's shards moved
    assert set(two.values()) == {"op-0", "op-2"}
    # each survivor gets some of op-1's shards (spread, not all to one)
    assert {two[s] for s in moved} == {"op-0", "op-2"}
    assert assign(60, ["op-0", "op-1", "op-2"]) == three  # op-1 returns: the same shards go back
    counts = [list(three.values()).count(m) for m in ("op-0", "op-1", "op-2")]
    assert min(counts) >= 10  # 60 shards over 3 members: no member is starved


def test_adding_a_member_takes_its_share_and_moves_few_others() -> None:
    before = assign(60, ["op-0", "op-1"])
    after = assign(60, ["op-0", "op-1", "op-2"])
    assert list(after.values()).count("op-2") == 20
    # The bound on loads may hand a few shards between the others (one Lease handover each).
    between_others = [s for s in range(60) if after[s] not in (before[s], "op-2")]
    assert len(between_others) <= 6, between_others


@pytest.mark.parametrize("replicas", [2, 3, 4, 6])
def test_the_shipped_shard_count_is_split_evenly(replicas: int) -> None:
    """12 shards (manifests/ha) over the StatefulSet's pods: each holds exactly its share. Plain
    rendezvous hashing gave three replicas 6, 3 and 3 (one doing the work of two)."""
    pods = [f"jobcenter-operator-{i}" for i in range(replicas)]
    owners = list(assign(12, pods).values())
    assert sorted(owners.count(p) for p in pods) == [12 // replicas] * replicas


def lease(holder: str | None, observed_at: float = 100.0, duration: float = 15.0) -> LeaseView:
    return LeaseView(holder=holder, duration=duration, observed_at=observed_at)


@pytest.mark.parametrize(("owner", "view", "now", "move"), [
    ("me", None, 0.0, Move.ACQUIRE),                      # no Lease yet
    ("me", lease(None), 101.0, Move.ACQUIRE),             # released
    ("me", lease(""), 101.0, Move.ACQUIRE),               # released (client-go writes "")
    ("me", lease("other"), 110.0, Move.WAIT),             # held, seen renewed 10 s ago
    ("me", lease("other"), 115.0, Move.ACQUIRE),          # not renewed for the whole duration
    ("other", lease("other"), 200.0, Move.WAIT),          # not ours even if expired
    ("other", None, 0.0, Move.WAIT),
    ("me", lease("me"), 101.0, Move.RENEW),
    ("me", lease("me"), 999.0, Move.RENEW),               # ours even if we were slow
    ("other", lease("me"), 101.0, Move.RELEASE),          # assigned away: hand over
    (None, lease("me"), 101.0, Move.RELEASE),
])
def test_lease_moves(owner: str | None, view: LeaseView | None, now: float, move: Move) -> None:
    assert decide("me", owner, view, now) is move


def test_acting_stops_before_the_lease_may_be_taken() -> None:
    assert may_act(100.0, 10.0, 105.0)
    assert not may_act(100.0, 10.0, 110.0)
    assert not may_act(None, 10.0, 0.0)
