"""Replicas and shards over coordination.k8s.io/v1 Leases (the I/O side of shard.py).

Each replica keeps one member Lease (``<prefix>-member-<identity>``) renewed; the live members are
those whose member Lease this replica saw change within its duration. Every shard has one Lease
(``<prefix>-shard-<n>``). Each round (every ``retry_period``) a replica lists the Leases once, works
out the owner of each shard by rendezvous hashing over the live members (shard.assign) and acquires,
renews or releases its shards' Leases; every write carries the resourceVersion it read, so two
replicas racing for a Lease cannot both win.

Why this is safe: a handler starts work on an object only while ``holds(shard)``, which needs a
renewal newer than ``renew_deadline`` (< ``lease_duration``); another replica takes an unrenewed
Lease only after seeing it unchanged for the whole ``lease_duration``. A shard assigned away is
released only once its in-flight runs have finished (``acting``); until then it keeps being renewed.
The node-side lock stays the last line of defence (a replica cut off from the API server mid-run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from .shard import LeaseView, Move, assign, decide, may_act, shard_of

log = logging.getLogger("jobcenter_operator.coordination")

ROLE_LABEL = "jobcenter.clusterpro.io/lease"  # member | shard: the one list call selects both
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class CoordinationConfig:
    identity: str
    namespace: str
    shards: int
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    prefix: str = "jobcenter-operator"

    def __post_init__(self) -> None:
        if not _DNS_LABEL.match(self.identity):
            raise ValueError(f"replica identity {self.identity!r} must be a DNS label (a pod name is)")
        if self.shards < 1:
            raise ValueError(f"shard count must be at least 1, not {self.shards}")
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need retry period < renew deadline < lease duration")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CoordinationConfig | None:
        """From JCOP_SHARDS (unset or 0: one standalone replica, no Leases), JCOP_REPLICA_ID or the
        downward API's POD_NAME, JCOP_LEASE_NAMESPACE or POD_NAMESPACE, JCOP_LEASE_PREFIX, and the timings
        JCOP_LEASE_DURATION, JCOP_LEASE_RENEW_DEADLINE and JCOP_LEASE_RETRY_PERIOD."""
        shards = int(env.get("JCOP_SHARDS") or 0)
        if shards == 0:
            return None
        identity = env.get("JCOP_REPLICA_ID") or env.get("POD_NAME") or ""
        namespace = env.get("JCOP_LEASE_NAMESPACE") or env.get("POD_NAMESPACE") or "default"
        return cls(identity=identity, namespace=namespace, shards=shards,
                   lease_duration=float(env.get("JCOP_LEASE_DURATION") or 15),
                   renew_deadline=float(env.get("JCOP_LEASE_RENEW_DEADLINE") or 10),
                   retry_period=float(env.get("JCOP_LEASE_RETRY_PERIOD") or 2),
                   prefix=env.get("JCOP_LEASE_PREFIX") or "jobcenter-operator")

    def member_lease(self, identity: str) -> str:
        return f"{self.prefix}-member-{identity}"

    def shard_lease(self, shard: int) -> str:
        return f"{self.prefix}-shard-{shard}"


class Conflict(Exception):
    """The Lease changed (or appeared) since it was read: someone else wrote first."""


class LeaseApi(Protocol):
    async def list(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def delete(self, namespace: str, name: str) -> None: ...


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Held:
    renewed_at: float  # monotonic time the last successful renewal was *sent*
    releasing: bool = False


@dataclass
class Coordinator:
    config: CoordinationConfig
    api: LeaseApi
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[str, LeaseView]] = field(default_factory=dict)  # name -> (resourceVersion, view)
    _bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    _held: dict[int, _Held] = field(default_factory=dict)
    _epochs: dict[int, int] = field(default_factory=dict)  # +1 at every acquisition of a shard
    _caught_up: dict[Any, tuple[int, int]] = field(default_factory=dict)  # object key -> (shard, epoch)
    _busy: dict[int, int] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)  # set when no run is in flight
    _sent: float = 0.0  # monotonic time the last write was sent (a renewal counts from the sending)

    # ------------------------------------------------------------------ what handlers ask

    def shard_of(self, namespace: str, cluster: str, labels: Mapping[str, str] | None = None) -> int:
        return shard_of(namespace, cluster, self.config.shards, labels)

    def holds(self, shard: int) -> bool:
        held = self._held.get(shard)
        return (held is not None and not held.releasing
                and may_act(held.renewed_at, self.config.renew_deadline, self.clock()))

    def held_shards(self) -> list[int]:
        return sorted(s for s in self._held if self.holds(s))

    def behind(self, key: Any, shard: int) -> bool:
        """Whether this replica holds ``shard`` but has not run ``key`` since it acquired it (the
        per-object timer then reconciles it at once instead of at the next drift check)."""
        return self.holds(shard) and self._caught_up.get(key) != (shard, self._epochs.get(shard, 0))

    @contextlib.asynccontextmanager
    async def acting(self, shard: int, key: Any = None) -> AsyncIterator[bool]:
        """Yield whether this replica may act on ``shard`` now; while inside, the shard is not
        released (a handover waits for the run to finish)."""
        if not self.holds(shard):
            yield False
            return
        self._busy[shard] = self._busy.get(shard, 0) + 1
        if key is not None:
            self._caught_up[key] = (shard, self._epochs.get(shard, 0))
        try:
            yield True
        finally:
            self._busy[shard] -= 1
            if not self._busy_shards():
                self._idle.set()

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # the API server may be away for a while; holds() expires on its own
                log.exception("lease round failed")
            await asyncio.sleep(self.config.retry_period)

    async def step(self) -> None:
        """One round: renew the member Lease, read all Leases, move each shard."""
        cfg = self.config
        leases = await self.api.list(cfg.namespace, f"{ROLE_LABEL} in (member,shard),"
                                                    f"app.kubernetes.io/instance={cfg.prefix}")
        now = self.clock()
        self._observe(leases, now)
        await self._renew_member()
        now = self.clock()
        member_prefix = cfg.member_lease("")
        alive = {name[len(member_prefix):] for name, (_, view) in self._seen.items()
                 if name.startswith(member_prefix) and view.holder and not view.expired(now)}
        alive.add(cfg.identity)
        self.members = sorted(alive)
        owners = assign(cfg.shards, alive)
        for shard in range(cfg.shards):
            seen = self._seen.get(cfg.shard_lease(shard))
            await self._move(shard, decide(cfg.identity, owners.get(shard), seen[1] if seen else None, now))

    def _observe(self, leases: list[dict[str, Any]], now: float) -> None:
        names = set()
        for body in leases:
            meta, spec = body.get("metadata") or {}, body.get("spec") or {}
            name, rv = meta.get("name", ""), str(meta.get("resourceVersion", ""))
            names.add(name)
            self._bodies[name] = body
            previous = self._seen.get(name)
            observed_at = previous[1].observed_at if previous and previous[0] == rv else now
            self._seen[name] = (rv, LeaseView(holder=spec.get("holderIdentity") or None,
                                              duration=float(spec.get("leaseDurationSeconds") or 0),
                                              observed_at=observed_at))
        for gone in set(self._seen) - names:
            del self._seen[gone]
            self._bodies.pop(gone, None)

    async def _move(self, shard: int, move: Move) -> None:
        held = self._held.get(shard)
        if move is Move.ACQUIRE:
            if await self._write(self.config.shard_lease(shard), "shard", self.config.identity, acquire=True):
                self._held[shard] = _Held(renewed_at=self._sent)
                self._epochs[shard] = self._epochs.get(shard, 0) + 1
                log.info("acquired shard %d (members %s)", shard, ",".join(self.members))
        elif move is Move.RENEW or (move is Move.RELEASE and self._busy.get(shard, 0) > 0):
            if held is None:  # ours by the Lease (an earlier incarnation of this replica): adopt it
                held = self._held[shard] = _Held(renewed_at=self.clock() - self.config.renew_deadline)
                self._epochs[shard] = self._epochs.get(shard, 0) + 1
            held.releasing = move is Move.RELEASE  # no new runs while handing over
            if await self._write(self.config.shard_lease(shard), "shard", self.config.identity):
                held.renewed_at = self._sent
        elif move is Move.RELEASE:
            if held is not None:
                held.releasing = True
            if await self._write(self.config.shard_lease(shard), "shard", None):
                log.info("released shard %d to its new owner (members %s)", shard, ",".join(self.members))
                self._held.pop(shard, None)
        elif held is not None:  # WAIT on a shard we think we hold: someone else has it now
            log.warning("lost shard %d", shard)
            self._held.pop(shard, None)

    async def _renew_member(self) -> None:
        await self._write(self.config.member_lease(self.config.identity), "member", self.config.identity)

    async def _write(self, name: str, role: str, holder: str | None, *, acquire: bool = False) -> bool:
        """Create or update Lease ``name`` with ``holder`` (None releases), against the version read."""
        cfg = self.config
        seen = self._bodies.get(name)
        spec: dict[str, Any] = dict((seen or {}).get("spec") or {})
        now = _micro_time()
        if holder is None:
            spec.update(holderIdentity="", leaseDurationSeconds=1)
        else:
            if acquire or spec.get("holderIdentity") != holder:
                spec.update(acquireTime=now, leaseTransitions=int(spec.get("leaseTransitions") or 0) + int(
                    seen is not None))
            spec.update(holderIdentity=holder, leaseDurationSeconds=int(cfg.lease_duration), renewTime=now)
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": cfg.namespace,
                         "labels": {ROLE_LABEL: role, "app.kubernetes.io/instance": cfg.prefix}},
            "spec": spec,
        }
        self._sent = self.clock()
        try:
            if seen is None:
                written = await self.api.create(cfg.namespace, body)
            else:
                body["metadata"]["resourceVersion"] = seen["metadata"]["resourceVersion"]
                written = await self.api.replace(cfg.namespace, name, body)
        except Conflict:
            self._bodies.pop(name, None)  # re-read next round
            return False
        self._bodies[name] = written
        # our own write is a change we have seen now
        self._observe_one(written)
        return True

    def _observe_one(self, body: dict[str, Any]) -> None:
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        self._seen[meta.get("name", "")] = (str(meta.get("resourceVersion", "")), LeaseView(
            holder=spec.get("holderIdentity") or None, duration=float(spec.get("leaseDurationSeconds") or 0),
            observed_at=self.clock()))

    async def stop(self) -> None:
        """Hand every shard back and leave (a rolling update, a drain): no new runs; a shard whose run
        is still in flight keeps being renewed until the run ends (the pod's grace period bounds
        that), then every shard is released and the member Lease deleted, so the others take over at
        their next round instead of after the lease duration."""
        for held in self._held.values():
            held.releasing = True
        while self._held:
            for shard in list(self._held):
                name = self.config.shard_lease(shard)
                try:
                    if self._busy.get(shard, 0) == 0:
                        await self._write(name, "shard", None)
                        self._held.pop(shard, None)  # released, or (on a conflict) someone else's already
                    elif await self._write(name, "shard", self.config.identity):
                        self._held[shard].renewed_at = self._sent
                except Exception:  # API server away: an idle shard is left to expire, a busy one retried
                    log.exception("handing over shard %d failed", shard)
                    if self._busy.get(shard, 0) == 0:
                        self._held.pop(shard, None)
            if self._held:
                self._idle.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.retry_period):
                        await self._idle.wait()
        with contextlib.suppress(Exception):
            await self.api.delete(self.config.namespace, self.config.member_lease(self.config.identity))

    def _busy_shards(self) -> list[int]:
        return [s for s, n in self._busy.items() if n > 0]


# ---------------------------------------------------------------------- the Kubernetes client side


class KubeLeases:
    """LeaseApi over the ``kubernetes`` client (blocking calls run in a thread)."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig or os.environ.get("KUBECONFIG"), client_configuration=configuration,
                persist_config=False)
        self._api = client.CoordinationV1Api(client.ApiClient(configuration))
        self._timeout = 5

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        def call() -> Any:
            response = getattr(self._api, method)(*args, _preload_content=False, _request_timeout=self._timeout,
                                                  **kwargs)
            return json.loads(response.data or b"null")

        try:
            return await asyncio.to_thread(call)
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(str(exc.reason)) from None
            raise

    async def list(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        result = await self._call("list_namespaced_lease", namespace, label_selector=selector)
        return list(result.get("items") or [])

    async def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("create_namespaced_lease", namespace, body)
        return result

    async def replace(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("replace_namespaced_lease", name, namespace, body)
        return result

    async def delete(self, namespace: str, name: str) -> None:
        await self._call("delete_namespaced_lease", name, namespace)
