"""handlers._sharded with the fake nodes and plain dicts for kopf's kwargs: a replica that does not
hold the site's shard sends nothing and writes no status; the holder runs it; a deletion elsewhere is
retried, not finalized; the audit log names the cluster."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from fake_nodes import fake_runner
from plan_factory import CLASSIC, cluster

from jobcenter_operator import handlers
from jobcenter_operator.memory import OperatorMemory
from jobcenter_operator.resolve import ClusterEntry, SecretEntry
from jobcenter_operator.shard import SHARD_LABEL, shard_of

NODES = [{"name": "clu1", "address": "10.0.0.1"}, {"name": "clu2", "address": "10.0.0.2"}]
CLUSTER = ClusterEntry(spec={"nodes": NODES, "ssh": {"credentialsSecretRef": {"name": "ssh"}}})
SECRET = SecretEntry(data={"ssh-privatekey": b"KEY", "known_hosts": b"10.0.0.1 ssh-ed25519 AAAA\n"},
                     resource_version="7")


class Patch:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}


class Shards:
    """What the handlers use of a Coordinator: this replica holds ``held``."""

    def __init__(self, held: set[int], shards: int = 12) -> None:
        self.held, self.asked = held, []
        self.config = SimpleNamespace(shards=shards, lease_duration=15.0)

    def shard_of(self, namespace: str, cluster: str, labels: dict[str, str] | None = None) -> int:
        return shard_of(namespace, cluster, self.config.shards, labels)

    @contextlib.asynccontextmanager
    async def acting(self, shard: int, key: Any = None) -> AsyncIterator[bool]:
        self.asked.append((shard, key))
        yield shard in self.held


def kwargs(pool: Any, shards: Shards | None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "body": {}, "spec": CLASSIC.to_wire(), "status": {}, "patch": Patch(),
        "meta": {"namespace": "default", "name": "cluv", "uid": "u1", "generation": 2, "annotations": {}},
        "memo": SimpleNamespace(pool=pool, objects=OperatorMemory(), shards=shards),
        "cluster_by_name": {("default", "jc-cluster"): [CLUSTER]},
        "cluster_labels": {("default", "jc-cluster"): [labels or {}]},
        "secret_by_name": {("default", "ssh"): [SECRET]},
        "site_by_group": {},
    }


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers.kopf, "event", lambda body, **event: None)


async def test_a_replica_without_the_shard_sends_nothing_and_writes_no_status() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    shards = Shards(held=set())
    kw = kwargs(runner, shards)
    await handlers._reconcile_site(kw)
    assert runner.sent == []
    assert kw["patch"].status == {}
    assert shards.asked == [(shard_of("default", "jc-cluster", 12), ("jobcentersites", "default", "cluv"))]


async def test_the_holder_runs_the_site() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    kw = kwargs(runner, Shards(held={shard_of("default", "jc-cluster", 12)}))
    await handlers._reconcile_site(kw)
    assert runner.sent
    assert {c["type"]: c["status"] for c in kw["patch"].status["conditions"]}["Ready"] == "True"


async def test_the_pin_label_on_the_cluster_decides_the_shard() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    pinned = (shard_of("default", "jc-cluster", 12) + 1) % 12
    shards = Shards(held={pinned})
    await handlers._reconcile_site(kwargs(runner, shards, labels={SHARD_LABEL: str(pinned)}))
    assert shards.asked[0][0] == pinned
    assert runner.sent


async def test_a_deletion_on_another_replicas_shard_is_retried_not_finalized() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    with pytest.raises(kopf.TemporaryError, match="another replica"):
        await handlers.site_deleted(**kwargs(runner, Shards(held=set())))
    assert runner.sent == []
