"""What the operator remembers about each object between handler calls: one typed record each.

No kopf, no I/O. Only this process writes the objects' status, so its own last write is
authoritative (a timer's body can predate it); a failure count drives the retry delay; a stalled
site remembers what it stalled on (its generation and its Secret's resourceVersion) so a timer
tick that changes neither does nothing; a suspended site remembers that it said so.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

T = TypeVar("T")

# Capped exponential backoff: 2, 4, 8... seconds up to the cap, with +-20% jitter.
_MAX_EXPONENT = 16


@dataclass
class ObjectMemory:
    uid: str | None
    written: dict[str, Any] | None = None  # the status this process last wrote
    failures: int = 0  # transient failures since the last success
    stalled_on: Hashable | None = None  # (generation, Secret resourceVersion) a permanent error came from
    suspended: bool = False  # the Suspended event was posted
    refused: str | None = None  # the approve/override refusal last told in an Event (told once)
    spec_seen: tuple[dict[str, Any], Any, Any] | None = None  # the last spec validated, how, and its model
    observed: Any = None  # a cluster: what its unchanged status was last computed from (handlers._Observation)

    def validated(self, raw: Mapping[str, Any], validate: Callable[[dict[str, Any]], T]) -> T:
        """``validate(raw)``, or the model it gave for an equal spec last time: a drift check sees the
        same spec every interval, and validating it again costs more than comparing it. A spec that
        does not validate is never kept (its error is raised each time)."""
        spec, last = dict(raw), self.spec_seen
        if last is not None and last[1] == validate and last[0] == spec:
            return cast(T, last[2])
        model = validate(spec)
        self.spec_seen = (copy.deepcopy(spec), validate, model)  # a copy: nothing outside can change it
        return model

    def known_status(self, body_status: Mapping[str, Any] | None) -> dict[str, Any]:
        """The status as it stands: what this process last wrote, else what the body shows."""
        return dict(self.written) if self.written is not None else dict(body_status or {})

    def retry_delay(self, cap: float) -> float:
        """One more failure: the delay before the next try (capped exponential, with jitter)."""
        self.failures += 1
        return float(min(cap, 2 ** min(self.failures, _MAX_EXPONENT)) * random.uniform(0.8, 1.2))  # noqa: S311

    def succeeded(self) -> None:
        self.failures, self.stalled_on = 0, None


@dataclass
class OperatorMemory:
    """Every object's memory, keyed by (kind, namespace, name); a new uid starts afresh."""

    objects: dict[tuple[str, str, str], ObjectMemory] = field(default_factory=dict)
    locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    def of(self, kind: str, namespace: str, name: str, uid: str | None) -> ObjectMemory:
        memory = self.objects.get((kind, namespace, name))
        if memory is None or memory.uid != uid:
            memory = self.objects[(kind, namespace, name)] = ObjectMemory(uid=uid)
        return memory

    def forget(self, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((kind, namespace, name), None)

    def cluster_lock(self, namespace: str, cluster: str) -> asyncio.Lock:
        """One run at a time per ClusterproCluster: its nodes see one operator step at a time."""
        return self.locks.setdefault((namespace, cluster), asyncio.Lock())

    async def runs_ended(self) -> None:
        """Wait until no run holds a cluster's lock: an exiting operator's runs reach their safe
        point (reconcile.execute) before the SSH connections they use are closed."""
        for lock in list(self.locks.values()):
            async with lock:
                pass
