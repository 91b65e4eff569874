"""handlers._reconcile_site with the fake nodes and plain dicts for kopf's kwargs (no API server):
what the wiring itself decides."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from fake_nodes import Sent, fake_runner
from plan_factory import CLASSIC, cluster

from jobcenter_operator import handlers
from jobcenter_operator.memory import OperatorMemory
from jobcenter_operator.metrics import Metrics
from jobcenter_operator.resolve import ClusterEntry, SecretEntry

NODES = [{"name": "clu1", "address": "10.0.0.1"}, {"name": "clu2", "address": "10.0.0.2"}]
CLUSTER = ClusterEntry(spec={"nodes": NODES, "ssh": {"credentialsSecretRef": {"name": "ssh"}}})
SECRET = SecretEntry(data={"ssh-privatekey": b"KEY", "known_hosts": b"10.0.0.1 ssh-ed25519 AAAA\n"},
                     resource_version="7")


class Patch:
    def __init__(self) -> None:
        self.status: dict[str, Any] = {}


def kwargs(pool: Any, **meta: Any) -> dict[str, Any]:
    return {
        "body": {}, "spec": CLASSIC.to_wire(), "status": {}, "patch": Patch(),
        "meta": {"namespace": "default", "name": "cluv", "uid": "u1", "generation": 2, "annotations": {}, **meta},
        # runner: the metered pool of configure(); no settings, so the progress writes are skipped (logged)
        "memo": SimpleNamespace(pool=pool, runner=pool, metrics=Metrics(), objects=OperatorMemory()),
        "resource": SimpleNamespace(plural=handlers.SITES), "logger": logging.getLogger("test"),
        "cluster_by_name": {("default", "jc-cluster"): [CLUSTER]},
        "secret_by_name": {("default", "ssh"): [SECRET]},
        "site_by_group": {},
    }


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    posted: list[dict[str, Any]] = []
    monkeypatch.setattr(handlers.kopf, "event", lambda body, **event: posted.append(event))
    return posted


async def test_a_spec_change_during_a_run_does_not_lend_the_status_its_generation() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    kw = kwargs(runner)

    def spec_changes_meanwhile(sent: Sent) -> Any:
        kw["meta"]["generation"] = 3  # kopf's body is a live view of the latest object
        return nodes(sent)

    runner.on(lambda s: s.is_probe, spec_changes_meanwhile)
    await handlers._reconcile_site(kw)
    status = kw["patch"].status
    assert status["observedGeneration"] == 2
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"


async def test_a_stalled_site_is_left_alone_by_its_timer_until_something_changes(no_events: list[Any]) -> None:
    runner, _ = fake_runner(CLASSIC, cluster(clu1={"site": cluster()["clu1"].site.model_copy(
        update={"present": True, "virtual_host": "other", "machine_id": 1})}))
    kw = kwargs(runner)
    with pytest.raises(handlers.kopf.PermanentError, match="SiteMismatch"):
        await handlers._reconcile_site(kw)
    assert {c["type"]: c["reason"] for c in kw["patch"].status["conditions"]}["Stalled"] == "SiteMismatch"
    probes = len(runner.sent)
    await handlers._reconcile_site(kw, drift_check=True)
    assert len(runner.sent) == probes, "nothing sent: neither the generation nor the Secret changed"
    kw["meta"]["generation"] = 3
    await handlers._reconcile_site(kw, drift_check=True)  # a timer never raises a permanent error
    assert len(runner.sent) > probes
    assert any(e["reason"] == "SiteMismatch" and e["type"] == "Warning" for e in no_events)


async def test_a_status_written_by_another_handler_during_the_run_is_the_previous_one() -> None:
    runner, nodes = fake_runner(CLASSIC, cluster())
    kw = kwargs(runner)
    memory = kw["memo"].objects.of(handlers.SITES, "default", "cluv", "u1")
    ready = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "m", "lastTransitionTime": "T0"}

    def timer_writes_meanwhile(sent: Sent) -> Any:
        memory.written = {"conditions": [ready]}  # the drift timer of this site, finishing first
        return nodes(sent)

    runner.on(lambda s: s.is_probe, timer_writes_meanwhile)
    await handlers._reconcile_site(kw)
    conditions = {c["type"]: c for c in kw["patch"].status["conditions"]}
    assert conditions["Ready"]["status"] == "True" and conditions["Ready"]["lastTransitionTime"] == "T0"


def test_drift_and_shard_check_timers_that_succeed_leave_no_log_line() -> None:
    def record(msg: str, level: int = logging.INFO) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", level, __file__, 1, msg, None, None)

    for timer in ("site_drift", "cluster_drift", "site_shard_gained", "cluster_shard_gained"):
        assert not handlers._quiet_timers(record(f"Timer '{timer}' succeeded."))
    assert handlers._quiet_timers(record("Timer 'site_drift' failed with an exception. Will retry.", logging.ERROR))
    assert handlers._quiet_timers(record("Handler 'site_changed' succeeded."))
    assert handlers._quiet_timers(record("Timer 'site_drift' succeeded.", logging.WARNING))


async def test_a_drift_check_that_finds_nothing_changed_writes_nothing_and_posts_no_event(
        no_events: list[Any]) -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    kw = kwargs(runner)
    kw["memo"].facts = handlers.SharedFacts(max_age=3600)
    await handlers._reconcile_site(kw)  # converges: status written, Events posted
    assert kw["patch"].status and no_events
    # The first check after the build says SiteCreated=Present where the build said Created: one write.
    for check in range(3):
        kw["status"] = {**kw["status"], **kw["patch"].status}  # the API applied the last patch
        kw["patch"] = Patch()
        no_events.clear()
        acted = len(runner.actions())
        await handlers._reconcile_site(kw, drift_check=True)
        assert len(runner.actions()) == acted, "nothing sent but the probe"
        if check:
            assert kw["patch"].status == {}, "no status patch"
            assert no_events == [], "no Event"


async def test_a_build_writes_its_progress_once_per_round_trip(monkeypatch: pytest.MonkeyPatch,
                                                                no_events: list[dict[str, Any]]) -> None:
    """Progress status writes are coalesced: one per round trip (naming its first disruptive step),
    not one per step, and none for a trip led by the operator's markers (bookkeeping: they interrupt
    nothing); every disruptive step still has its Started Event before its trip is sent."""
    from jobcenter_operator.plan import plan_site
    from jobcenter_operator.progress import BOOKKEEPING
    from jobcenter_operator.reconcile import round_trip

    runner, _ = fake_runner(CLASSIC, cluster())
    kw = kwargs(runner)
    written: list[tuple[str, int]] = []

    async def patch_now(kw: Any, old: Any, new: dict[str, Any]) -> None:
        written.append((next(c["message"] for c in new["conditions"] if c["type"] == "Reconciling"),
                        len(runner.actions())))

    monkeypatch.setattr(handlers, "_patch_status_now", patch_now)
    await handlers._reconcile_site(kw)
    actions = plan_site(CLASSIC, tuple(n["name"] for n in NODES), cluster()).actions
    shown, start, trips = [], 0, 0
    while start < len(actions):
        trip, trips = round_trip(actions, start), trips + 1
        first = next((k for k, a in enumerate(trip) if a.disruptive), 0)
        if trip[first].kind not in BOOKKEEPING:
            shown.append((f"step {start + first + 1}/{len(actions)}: {trip[first].kind} on {trip[first].node}",
                          start))
        start += len(trip)
    assert written == shown
    assert len(shown) < trips  # the build has marker trips to leave out
    assert {m.split(": ")[1].split(" ")[0] for m, _ in written} >= {"StopLocalSite", "StopGroup"}
    started = [e["reason"] for e in no_events if e["reason"].endswith("Started")]
    assert started == [f"{a.kind}Started" for a in actions
                       if a.disruptive and a.kind not in ("MarkSuspended", "ClearSuspendMarker")]


async def test_a_drift_check_validates_the_spec_again_only_when_it_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    kw = kwargs(runner)
    validated: list[str] = []
    real = handlers.JobCenterSiteSpec.model_validate

    def counting(data: Any) -> Any:
        validated.append(data["failoverGroup"])
        return real(data)

    monkeypatch.setattr(handlers.JobCenterSiteSpec, "model_validate", counting)
    first = handlers._valid_site(kw, drift_check=True)
    assert first is not None and handlers._valid_site(kw, drift_check=True) is first and len(validated) == 1
    kw["spec"] = {**kw["spec"], "failoverGroup": "other"}
    other = handlers._valid_site(kw, drift_check=True)
    assert other is not None and other.failover_group == "other" and validated == [first.failover_group, "other"]
    kw["spec"]["databasePath"] = "/mnt/elsewhere"  # changed in place: still seen as a change
    moved = handlers._valid_site(kw, drift_check=True)
    assert moved is not None and moved.database_path == "/mnt/elsewhere" and len(validated) == 3


async def test_a_clusters_drift_check_on_facts_unchanged_since_its_status_computes_nothing_again(
        monkeypatch: pytest.MonkeyPatch, no_events: list[Any]) -> None:
    from jobcenter_operator.reconcile import reconcile_site

    runner, fake = fake_runner(CLASSIC, cluster())
    site_kw = kwargs(runner)
    shared = handlers.SharedFacts(max_age=3600)
    site_kw["memo"].facts = shared
    site_kw["memo"].runner = runner
    site_kw["memo"].pool = SimpleNamespace(host_key_fingerprint=lambda node: f"SHA256:{node.name}",
                                           pin_host_key=lambda node, fp: None)
    await handlers._reconcile_site(site_kw)  # the site is built: its nodes' facts are in ``shared``
    kw = {**site_kw, "spec": CLUSTER.spec, "status": {}, "patch": Patch(),
          "meta": {"namespace": "default", "name": "jc-cluster", "uid": "c1", "generation": 1, "annotations": {}},
          "resource": SimpleNamespace(plural=handlers.CLUSTERS)}
    computed: list[int] = []
    real = handlers.st.cluster_status

    def counting(**args: Any) -> Any:
        computed.append(1)
        return real(**args)

    monkeypatch.setattr(handlers.st, "cluster_status", counting)

    async def check() -> dict[str, Any]:
        kw["status"] = {**kw["status"], **kw["patch"].status}  # the API applied the last patch
        kw["patch"] = Patch()
        await handlers._observe_cluster(kw, drift_check=True)
        return kw["patch"].status

    assert await check() and len(computed) == 1, "the first check writes the cluster's status"
    assert await check() == {} and len(computed) == 2, "unchanged: computed once more, nothing written"
    probes = sum(s.is_probe for s in runner.sent)
    for _ in range(3):
        assert await check() == {} and len(computed) == 2, "the same facts again: nothing computed"
    assert sum(s.is_probe for s in runner.sent) == probes, "and nothing read: the site's read served"
    # A site's drift check reads a node that changed: the cluster computes (and writes) again.
    fake.facts["clu2"] = fake.facts["clu2"].model_copy(update={"cluster": fake.facts["clu2"].cluster.model_copy(
        update={"running": False})})
    for key in list(shared._probed):
        shared.forget(key)
    spec = handlers.JobCenterSiteSpec.model_validate(dict(site_kw["spec"]))
    decision = handlers._decide(site_kw, spec, handlers._memory(site_kw, handlers.SITES), True)
    assert decision.access is not None
    await reconcile_site(runner, decision.access, spec, enforce=False, shared=shared, drift_check=True)
    assert await check() and len(computed) == 3, "new facts: the status is computed again, and written"
