"""resolve.py and memory.py: what the handlers decide before the nodes, and what they remember."""

from __future__ import annotations

from typing import Any

import pytest
from plan_factory import CLASSIC

import jobcenter_operator.resolve as resolve
from jobcenter_operator.errors import InvalidSpec, OperatorError
from jobcenter_operator.memory import OperatorMemory
from jobcenter_operator.reconcile import ClusterAccess
from jobcenter_operator.resolve import (
    ClusterEntry,
    SecretEntry,
    claim_error,
    cluster_access,
    decide_deletion,
    decide_site,
)

NODES = [{"name": "clu1", "address": "10.0.0.1"}, {"name": "clu2", "address": "10.0.0.2"}]
CLUSTER = ClusterEntry(spec={"nodes": NODES, "ssh": {"credentialsSecretRef": {"name": "ssh"}}},
                       host_keys={"clu1": "SHA256:x"})
SECRET = SecretEntry(data={"ssh-privatekey": b"KEY", "known_hosts": b"10.0.0.1 ssh-ed25519 AAAA\n"},
                     resource_version="7")


def decide(**overrides: Any) -> Any:
    args: dict[str, Any] = {"name": "cluv", "site": CLASSIC, "generation": 2, "claims": [("2026-01-01", "cluv")],
                            "cluster": CLUSTER, "secret": SECRET, "stalled_on": None, "drift_check": False}
    return decide_site(**{**args, **overrides})


def test_a_resolved_site_runs_with_the_recorded_host_keys() -> None:
    decision = decide()
    assert isinstance(decision.access, ClusterAccess) and decision.access.names == ("clu1", "clu2")
    assert decision.error is None and decision.enforce and not decision.skip
    assert decision.stall_key == (2, "7") and decision.host_keys == {"clu1": "SHA256:x"}


def test_the_oldest_site_of_a_group_holds_the_claim() -> None:
    assert claim_error("cluv", CLASSIC, [("2026-01-02", "twin"), ("2026-01-01", "cluv")]) is None
    error = claim_error("twin", CLASSIC, [("2026-01-02", "twin"), ("2026-01-01", "cluv")])
    assert error is not None and error.reason == "GroupClaimed" and not error.transient and "cluv" in error.message
    decision = decide(name="twin", claims=[("2026-01-02", "twin"), ("2026-01-01", "cluv")])
    assert decision.access is None and decision.error is not None and not decision.retry


def test_what_is_missing_or_wrong_is_the_error() -> None:
    assert "ClusterproCluster jc-cluster not found" in str(cluster_access("jc-cluster", None, SECRET))
    invalid = cluster_access("jc-cluster", ClusterEntry(spec={"nodes": []}), SECRET)
    assert isinstance(invalid, OperatorError) and invalid.transient and "is invalid" in invalid.message
    missing = cluster_access("jc-cluster", CLUSTER, None)
    assert isinstance(missing, OperatorError) and missing.message.startswith("Secret ssh (SSH credentials) not found")
    assert (missing.reason, invalid.reason) == ("SecretNotFound", "ClusterInvalid")
    assert cluster_access("jc-cluster", None, SECRET).reason == "ClusterNotFound"  # type: ignore[union-attr]
    no_key = cluster_access("jc-cluster", CLUSTER, SecretEntry(data={"known_hosts": b"x"}))
    assert isinstance(no_key, InvalidSpec) and not no_key.transient


def test_a_stalled_site_skips_its_timer_ticks_until_the_generation_or_secret_changes() -> None:
    assert decide(drift_check=True, stalled_on=(2, "7")).skip
    assert not decide(drift_check=False, stalled_on=(2, "7")).skip, "a spec change or a request always runs"
    assert not decide(drift_check=True, stalled_on=(1, "7")).skip
    assert not decide(drift_check=True, stalled_on=(2, "7"), secret=SecretEntry(data=SECRET.data,
                                                                                 resource_version="8")).skip
    # A missing cluster is not what the site stalled on: it is reported on every tick.
    assert not decide(drift_check=True, stalled_on=(2, "7"), cluster=None).skip


def test_enforce_follows_the_management_and_drift_policies() -> None:
    assert decide().enforce and decide(drift_check=True).enforce
    assert not decide(site=CLASSIC.model_copy(update={"management_policy": "Observe"})).enforce
    report = CLASSIC.model_copy(update={"drift_policy": "Report"})
    assert decide(site=report).enforce and not decide(site=report, drift_check=True).enforce


def test_deletion_without_the_cluster_is_permanent_without_the_secret_transient() -> None:
    gone = decide_deletion(CLASSIC, None, SECRET)
    assert isinstance(gone, OperatorError) and not gone.transient and "nothing was changed" in gone.message
    no_secret = decide_deletion(CLASSIC, CLUSTER, None)
    assert isinstance(no_secret, OperatorError) and no_secret.transient
    assert isinstance(decide_deletion(CLASSIC, CLUSTER, SECRET), ClusterAccess)


def test_2_only_the_owner_of_the_group_unconfigures_a_twin_touches_nothing() -> None:
    """Issue 12, hole 2: deleting a twin (a site that got GroupClaimed) with Unconfigure would stop
    the owner's group and revert its scripts; its deletion resolves to no access at all."""
    claims = [("2026-01-02", "twin"), ("2026-01-01", "cluv")]
    assert decide_deletion(CLASSIC, CLUSTER, SECRET, name="twin", claims=claims) is None
    assert isinstance(decide_deletion(CLASSIC, CLUSTER, SECRET, name="cluv", claims=claims), ClusterAccess)


def test_each_object_has_one_memory_and_a_new_uid_starts_afresh() -> None:
    objects = OperatorMemory()
    memory = objects.of("jobcentersites", "ns", "cluv", "uid-1")
    first, second = memory.retry_delay(300), memory.retry_delay(300)
    assert 1.6 <= first <= 2.4 and 3.2 <= second <= 4.8 and memory.failures == 2
    memory.stalled_on, memory.written = (1, "7"), {"conditions": []}
    assert objects.of("jobcentersites", "ns", "cluv", "uid-1") is memory
    assert objects.of("clusterproclusters", "ns", "cluv", "uid-1") is not memory, "kinds never share"
    assert memory.known_status({"stale": True}) == {"conditions": []}
    memory.succeeded()
    assert (memory.failures, memory.stalled_on) == (0, None)
    fresh = objects.of("jobcentersites", "ns", "cluv", "uid-2")
    assert fresh is not memory and fresh.written is None and fresh.known_status({"a": 1}) == {"a": 1}
    for _ in range(40):
        fresh.retry_delay(300)
    assert fresh.retry_delay(300) <= 300 * 1.2
    assert objects.cluster_lock("ns", "jc") is objects.cluster_lock("ns", "jc")


def test_the_access_of_the_same_index_entries_is_built_once_and_anew_for_new_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = resolve.access_from

    def counting(spec: Any, secret: Any, *, cluster: str = "") -> Any:
        built.append(cluster)
        return real(spec, secret, cluster=cluster)

    monkeypatch.setattr(resolve, "access_from", counting)
    spec = {"nodes": [{"name": "clu1", "address": "10.0.0.1"}, {"name": "clu2", "address": "10.0.0.2"}],
            "ssh": {"credentialsSecretRef": {"name": "ssh"}}}
    entry = resolve.ClusterEntry(spec=spec, scope="ns/c")
    secret = resolve.SecretEntry(data={"ssh-privatekey": b"KEY", "known_hosts": b"10.0.0.1 ssh-ed25519 AAAA\n"})
    first = resolve.cluster_access("c", entry, secret)
    assert isinstance(first, resolve.ClusterAccess)
    assert resolve.cluster_access("c", entry, secret) is first and built == ["ns/c"]
    rotated = resolve.SecretEntry(data={"ssh-privatekey": b"KEY2", "known_hosts": b"10.0.0.1 ssh-ed25519 AAAA\n"})
    again = resolve.cluster_access("c", entry, rotated)
    assert isinstance(again, resolve.ClusterAccess) and again.creds.private_key == b"KEY2" and len(built) == 2
    moved = resolve.ClusterEntry(spec={**spec, "nodes": [{"name": "clu1", "address": "10.0.0.9"},
                                                         {"name": "clu2", "address": "10.0.0.2"}]}, scope="ns/c")
    other = resolve.cluster_access("c", moved, rotated)
    assert isinstance(other, resolve.ClusterAccess) and other.nodes[0].host == "10.0.0.9" and len(built) == 3


def test_a_cluster_entry_is_validated_once_however_many_site_checks_read_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    validated: list[int] = []
    real = resolve.ClusterproClusterSpec.model_validate

    def counting(data: Any) -> Any:
        validated.append(1)
        return real(data)

    monkeypatch.setattr(resolve.ClusterproClusterSpec, "model_validate", counting)
    spec = {"nodes": [{"name": "clu1", "address": "10.0.0.1"}, {"name": "clu2", "address": "10.0.0.2"}],
            "ssh": {"credentialsSecretRef": {"name": "ssh"}}, "disruption": {"approval": "Manual"}}
    entry = resolve.ClusterEntry(spec=spec, scope="ns/c")
    secret = resolve.SecretEntry(data={"ssh-privatekey": b"KEY", "known_hosts": b"10.0.0.1 ssh-ed25519 AAAA\n"})
    for _ in range(3):
        decision = resolve.decide_site(name="cluv", site=CLASSIC, generation=1, claims=[], cluster=entry,
                                       secret=secret, stalled_on=None, drift_check=True)
        assert decision.access is not None and decision.disruption.approval == "Manual"
    assert len(validated) == 1
    edited = resolve.ClusterEntry(spec={**spec, "disruption": {"approval": "Automatic"}}, scope="ns/c")
    decision = resolve.decide_site(name="cluv", site=CLASSIC, generation=1, claims=[], cluster=edited,
                                   secret=secret, stalled_on=None, drift_check=True)
    assert decision.disruption.approval == "Automatic" and len(validated) == 2
