"""Sharding decisions (pure): which shard an object is in, which replica should hold each shard, and
what a replica does with each shard's Lease. coordination.py does the I/O; this module only decides.

- A site belongs to the shard of its ClusterproCluster: the sites of one cluster share one clp.conf
  and one per-cluster lock, so they must be acted on by one replica. The shard is a stable hash of
  ``namespace/cluster`` (sha256, never Python's per-process ``hash``), or the number a user pins with
  the label ``jobcenter.clusterpro.io/shard`` on the ClusterproCluster.
- Shards are assigned to the live replicas by rendezvous hashing (highest random weight) with
  bounded loads: every replica computes the same owner from the same member list without talking,
  and no replica holds more than its share rounded up. Plain rendezvous hashing moves only the
  shards of a member that joins or leaves, but with the few shards that Leases make affordable (12
  Leases renewed every 2 s) it splits them unevenly (6/3/3 for three replicas was measured: one
  replica doing the work of two, which is what sharding is for avoiding). The bound costs a few more
  moves between survivors when the membership changes: each is one Lease handed over.
- Expiry is judged the way client-go's leader election judges it: by when *this* replica last saw
  the Lease change, on its own monotonic clock, so clock skew between nodes does not matter.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SHARD_LABEL = "jobcenter.clusterpro.io/shard"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def pinned_shard(labels: Mapping[str, str] | None, shards: int) -> int | None:
    """The shard a user pinned with the label (a number; taken modulo the shard count so a pin stays
    valid when the count shrinks), or None without a usable label."""
    value = (labels or {}).get(SHARD_LABEL, "").strip()
    if not value.isdigit():
        return None
    return int(value) % shards


def shard_of(namespace: str, cluster: str, shards: int, labels: Mapping[str, str] | None = None) -> int:
    """The shard of a ClusterproCluster and of every site that refers to it (``labels``: the cluster's)."""
    if shards < 1:
        raise ValueError(f"shard count must be at least 1, not {shards}")
    pinned = pinned_shard(labels, shards)
    return pinned if pinned is not None else _digest(f"{namespace}/{cluster}") % shards


def assign(shards: int, members: Iterable[str]) -> dict[int, str]:
    """The owner of each shard among ``members``: the member of highest weight for that shard that
    still has room (at most ``ceil(shards / members)`` each); empty without members."""
    alive = sorted(set(members))
    if not alive:
        return {}
    room = dict.fromkeys(alive, -(-shards // len(alive)))
    owners: dict[int, str] = {}
    for s in range(shards):
        owner = max((m for m in alive if room[m] > 0), key=lambda m: (_digest(f"{s}/{m}"), m))
        owners[s] = owner
        room[owner] -= 1
    return owners


@dataclass(frozen=True)
class LeaseView:
    """A Lease as this replica last saw it. ``observed_at``: this replica's monotonic time when the
    Lease last changed (its resourceVersion), not the renewTime written by the holder."""

    holder: str | None
    duration: float
    observed_at: float

    def expired(self, now: float) -> bool:
        return now >= self.observed_at + self.duration


class Move(enum.Enum):
    ACQUIRE = "acquire"  # free or expired, and ours by the assignment
    RENEW = "renew"  # ours and still assigned to us
    RELEASE = "release"  # ours, but assigned to another member now: hand it over when idle
    WAIT = "wait"  # held by someone else (alive), or assigned to someone else


def decide(me: str, owner: str | None, lease: LeaseView | None, now: float) -> Move:
    """What to do with one shard's Lease: ``owner`` is the assignment's choice for the shard."""
    held_by_me = lease is not None and lease.holder == me
    if held_by_me:
        return Move.RENEW if owner == me else Move.RELEASE
    if owner != me:
        return Move.WAIT
    free = lease is None or not lease.holder or lease.expired(now)
    return Move.ACQUIRE if free else Move.WAIT


def may_act(renewed_at: float | None, renew_deadline: float, now: float) -> bool:
    """Whether a holder may still start work on a shard: only within ``renew_deadline`` of its last
    successful renewal (measured from when the request was sent). The deadline is shorter than the
    lease duration, so a replica that cannot renew stops acting before anyone else may take over."""
    return renewed_at is not None and now - renewed_at < renew_deadline
