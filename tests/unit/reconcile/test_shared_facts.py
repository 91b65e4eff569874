"""One facts read per node per drift interval for the cluster and its sites (shared_facts.py,
reconcile's use of it), against the fake nodes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_nodes import access, fake_runner, probe_stdout
from plan_factory import CLASSIC, NODES, apply, cluster, node

import jobcenter_operator.shared_facts as sf
from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.facts import NodeFacts, ProbeTarget
from jobcenter_operator.facts.clusterpro import clp_conf
from jobcenter_operator.facts.gather import PARAMETERS
from jobcenter_operator.facts.jobcenter import DaemonConf
from jobcenter_operator.plan import plan_site
from jobcenter_operator.reconcile import node_key, observe_cluster, probe_target, reconcile_site
from jobcenter_operator.shared_facts import SharedFacts, covers

ACCESS = access(NODES)
TARGET = probe_target(CLASSIC)
LONG = 3600.0  # an interval no test outlives: what is kept is fresh


def converged() -> dict:  # type: ignore[type-arg]
    facts = cluster()
    return apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)


# ----------------------------------------------------------------------------- the pure decision


def test_facts_serve_the_same_target_and_the_cluster_within_their_age() -> None:
    shared, facts = SharedFacts(max_age=10), node("clu1")
    shared.record("k", TARGET, facts, now=100.0, site=True)
    assert shared.fresh("k", TARGET, now=109.9) is facts
    assert shared.fresh("k", None, now=109.9) is facts, "the cluster reads no target-specific section"
    assert shared.fresh("k", TARGET, now=110.0) is None, "as old as max_age: read again"
    assert shared.fresh("k", ProbeTarget(failover_group="other"), now=101.0) is None, "another site's target"
    assert shared.fresh("other", TARGET, now=101.0) is None


def test_a_command_on_the_node_forgets_its_facts_but_not_the_target_its_site_asks() -> None:
    shared = SharedFacts(max_age=10)
    shared.record("k", TARGET, node("clu1"), now=0.0, site=True)
    shared.forget("k")
    assert shared.fresh("k", None, now=0.0) is None
    assert shared.target_for("k") == TARGET


def test_the_cluster_probes_with_the_target_a_site_asked_never_a_deletions_backup_read() -> None:
    shared = SharedFacts(max_age=10)
    assert shared.target_for("k") == ProbeTarget()
    shared.record("k", TARGET, node("clu1"), now=0.0, site=True)
    shared.record("k", probe_target(CLASSIC, backup=True), node("clu1"), now=1.0, site=True)
    shared.record("k", ProbeTarget(), node("clu1"), now=2.0, site=False)
    assert shared.target_for("k") == TARGET
    assert covers(TARGET, None) and covers(TARGET, TARGET) and not covers(ProbeTarget(), TARGET)


def test_nodes_nobody_read_for_long_are_let_go() -> None:
    shared = SharedFacts(max_age=1)
    shared.record("gone", TARGET, node("clu1"), now=0.0, site=True)
    shared.record("kept", TARGET, node("clu1"), now=100.0, site=True)
    assert len(shared) == 1 and shared.target_for("gone") == ProbeTarget()


# ----------------------------------------------------------------------------- reconcile


async def test_drift_checks_of_the_cluster_and_the_site_share_one_read_per_node() -> None:
    runner, _ = fake_runner(CLASSIC, converged())
    shared = SharedFacts(max_age=LONG)
    first = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared)
    assert first.plan is not None and first.plan.converged
    assert sorted(s.node for s in runner.sent) == sorted(NODES)

    runner.sent.clear()
    observed = await observe_cluster(runner, ACCESS, shared=shared, drift_check=True)
    site = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared, drift_check=True)
    assert runner.sent == [], "both drift checks answered from the site's read"
    assert set(observed.gathered.facts) == set(NODES) and observed.gathered.errors == {}
    assert site.plan is not None and site.plan.converged and site.health is not None and site.health.healthy


async def test_a_create_or_update_reads_the_nodes_even_with_recent_facts() -> None:
    runner, _ = fake_runner(CLASSIC, converged())
    shared = SharedFacts(max_age=LONG)
    await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared)
    runner.sent.clear()
    await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared)
    await observe_cluster(runner, ACCESS, shared=shared)
    assert sorted(s.node for s in runner.sent if s.is_probe) == sorted(NODES * 2)


async def test_the_clusters_read_is_made_for_its_site_so_the_sites_drift_check_reuses_it() -> None:
    runner, _ = fake_runner(CLASSIC, converged())
    shared = SharedFacts(max_age=LONG)
    await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared)
    for n in ACCESS.nodes:
        shared.forget(node_key(ACCESS, n))  # as after a command on the nodes
    runner.sent.clear()
    await observe_cluster(runner, ACCESS, shared=shared, drift_check=True)
    probes = [s for s in runner.sent if s.is_probe]
    assert len(probes) == len(NODES)
    assert all(dict(zip(PARAMETERS, p.argv[5:], strict=True))["dbpath"] == CLASSIC.database_path for p in probes)
    runner.sent.clear()
    await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared, drift_check=True)
    assert runner.sent == []


async def test_kept_facts_that_show_drift_are_read_again_before_anything_is_done() -> None:
    """Facts kept from earlier say daemon.conf is wrong; the nodes are fine now: nothing is sent
    but the new read."""
    runner, _ = fake_runner(CLASSIC, converged())
    shared = SharedFacts(max_age=LONG)
    stale = {name: f.model_copy(update={"daemon_conf": DaemonConf(present=True, text="", local_daemon=None)})
             for name, f in converged().items()}
    for n in ACCESS.nodes:
        shared.record(node_key(ACCESS, n), TARGET, stale[n.name], now=0.0, site=True)
    shared.max_age = float("inf")
    result = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared, drift_check=True)
    assert runner.actions() == [] and result.steps == []
    assert sorted(s.node for s in runner.sent if s.is_probe) == sorted(NODES)
    assert result.plan is not None and result.plan.converged


async def test_a_step_on_a_node_forgets_what_was_kept_of_it() -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    shared = SharedFacts(max_age=LONG)
    result = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared, settle_interval=0)
    assert result.steps and result.plan is not None and result.plan.converged
    # The verification's read after the last step is what is kept: the nodes as they are now.
    for n in ACCESS.nodes:
        kept = shared.fresh(node_key(ACCESS, n), TARGET, now=0.0)
        assert kept is not None and kept.daemon_conf.local_daemon == "SITE"


def test_a_site_no_longer_checked_is_withdrawn_from_the_clusters_probe() -> None:
    shared = SharedFacts(max_age=10)
    shared.record("k", TARGET, node("clu1"), now=0.0, site=True)
    shared.withdraw(probe_target(CLASSIC.model_copy(update={"failover_group": "other"})))
    assert shared.target_for("k") == TARGET, "another site's target: kept"
    shared.withdraw(TARGET)
    assert shared.target_for("k") == ProbeTarget()
    assert shared.fresh("k", None, now=1.0) is not None, "what was read stays for the cluster's own use"


async def test_clp_conf_travels_once_then_only_its_digest_until_it_changes() -> None:
    runner, fake = fake_runner(CLASSIC, converged())
    shared = SharedFacts(max_age=LONG)
    first = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared)
    sent = [dict(zip(PARAMETERS, s.argv[5:], strict=True)) for s in runner.sent if s.is_probe]
    assert sent and all(p["clp_sha"] == "" for p in sent), "nothing known yet: the whole file"
    for n in ACCESS.nodes:
        shared.forget(node_key(ACCESS, n))  # facts forgotten (a command ran): the copy of clp.conf is not
    runner.sent.clear()
    again = await reconcile_site(runner, ACCESS, CLASSIC, enforce=True, shared=shared, drift_check=True)
    probes = [s for s in runner.sent if s.is_probe]
    assert len(probes) == len(NODES)
    for probe in probes:
        known = first.gathered.facts[probe.node].clp_conf
        assert dict(zip(PARAMETERS, probe.argv[5:], strict=True))["clp_sha"] == known.file_sha256
        assert again.gathered.facts[probe.node].clp_conf is known, "answered 'unchanged': the copy held"
    assert again.plan is not None and again.plan.converged and runner.actions() == []

    changed = fake.facts["clu1"].clp_conf.text.replace("</root>", "<!-- edited --></root>")
    assert changed != fake.facts["clu1"].clp_conf.text
    fake.facts["clu1"] = fake.facts["clu1"].model_copy(update={"clp_conf": clp_conf(changed)})
    for n in ACCESS.nodes:
        shared.forget(node_key(ACCESS, n))
    third = await reconcile_site(runner, ACCESS, CLASSIC, enforce=False, shared=shared, drift_check=True)
    assert third.gathered.facts["clu1"].clp_conf.text == changed, "a changed file comes whole"
    assert shared.clp_conf(node_key(ACCESS, ACCESS.node("clu1"))) == third.gathered.facts["clu1"].clp_conf


# ----------------------------------------------------------------------------- memos (issue 15)


def test_a_node_answering_the_same_bytes_is_not_parsed_again_and_a_changed_byte_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = sf.parse_probe

    def counting(node: str, stdout: str, nonce: str, known: Any = None) -> NodeFacts:
        parsed.append(nonce)
        return real(node, stdout, nonce, known)

    monkeypatch.setattr(sf, "parse_probe", counting)
    shared, facts = SharedFacts(max_age=10), converged()["clu1"]
    first = shared.parse("k", "clu1", probe_stdout(facts, "aaaa1111"), "aaaa1111", None)
    again = shared.parse("k", "clu1", probe_stdout(facts, "bbbb2222"), "bbbb2222", None)
    assert again is first and parsed == ["aaaa1111"], "same answer, another nonce: the same facts"
    assert shared.parse("k2", "clu1", probe_stdout(facts, "cccc3333"), "cccc3333", None) is not first, \
        "another node's key parses for itself"
    edited = facts.model_copy(update={"daemon_conf": DaemonConf(present=True, text="", local_daemon=None)})
    third = shared.parse("k", "clu1", probe_stdout(edited, "dddd4444"), "dddd4444", None)
    assert third is not first and third.daemon_conf.local_daemon is None and parsed[-1] == "dddd4444"
    known = third.clp_conf  # as read from the node's bytes: it has their digest
    assert known.file_sha256
    fourth = shared.parse("k", "clu1", probe_stdout(edited, "eeee5555", known_clp_conf=known.file_sha256 or ""),
                          "eeee5555", known)
    assert fourth.clp_conf is known and parsed[-1] == "eeee5555", "another known clp.conf: parsed afresh"


async def test_a_converged_sites_drift_check_plans_once_until_facts_or_spec_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    planned: list[str] = []
    real = sf.plan_site

    def counting(spec: JobCenterSiteSpec, nodes: Any, facts: Any) -> Any:
        planned.append(spec.failover_group)
        return real(spec, nodes, facts)

    monkeypatch.setattr(sf, "plan_site", counting)
    runner, fake = fake_runner(CLASSIC, converged())
    shared = SharedFacts(max_age=LONG)

    async def check(spec: JobCenterSiteSpec = CLASSIC, enforce: bool = True) -> Any:
        for n in ACCESS.nodes:
            shared.forget(node_key(ACCESS, n))  # each check reads the nodes (a new interval)
        return await reconcile_site(runner, ACCESS, spec, enforce=enforce, shared=shared, drift_check=True)

    await check()  # the first read brings clp.conf whole; from the next on, only its digest
    planned.clear()
    first = await check()
    assert first.plan is not None and first.plan.converged and len(planned) == 1
    second = await check()
    assert len(planned) == 1 and second.plan is first.plan and second.health is first.health
    assert sum(s.is_probe for s in runner.sent) == 3 * len(NODES), "each check still read every node"

    renamed = CLASSIC.model_copy(update={"monitor_resource": CLASSIC.monitor_resource + "x"})
    await check(renamed, enforce=False)
    assert len(planned) == 2, "another spec: planned afresh"
    fake.facts["clu2"] = fake.facts["clu2"].model_copy(
        update={"daemon_conf": DaemonConf(present=True, text="", local_daemon=None)})
    drifted = await check(enforce=False)
    assert len(planned) == 3 and drifted.plan is not None and not drifted.plan.converged, "a node changed: drift seen"


def test_memos_of_nodes_nobody_reads_any_more_are_let_go() -> None:
    shared, facts = SharedFacts(max_age=1), converged()
    for name in NODES:
        parsed = shared.parse(name, name, probe_stdout(facts[name], "aaaa1111"), "aaaa1111", None)
        shared.record(name, TARGET, parsed, now=0.0, site=True)
    kept = {name: shared.parse(name, name, probe_stdout(facts[name], "bbbb2222"), "bbbb2222", None) for name in NODES}
    assert shared.plan(CLASSIC, NODES, kept).converged
    shared.record("other", TARGET, facts["clu1"], now=100.0, site=True)  # sweeps the nodes read at 0
    assert shared._answers == {} and shared._verdicts == {}


class _Held:
    """The fake nodes, each probe held until ``go`` (probes under way at the same moment)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.go, self.waiting, self.arrived = inner, asyncio.Event(), 0, asyncio.Condition()

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        async with self.arrived:
            self.waiting += 1
            self.arrived.notify_all()
        await self.go.wait()
        return await self.inner.run(*args, **kwargs)

    async def until_waiting(self, n: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.waiting >= n)


async def test_the_clusters_observation_takes_the_probe_its_new_sites_first_read_has_under_way() -> None:
    runner, _ = fake_runner(CLASSIC, converged())
    held, shared = _Held(runner), SharedFacts(max_age=LONG)
    site = asyncio.create_task(reconcile_site(held, ACCESS, CLASSIC, enforce=False, shared=shared))  # type: ignore[arg-type]
    await held.until_waiting(len(NODES))
    observed = asyncio.create_task(observe_cluster(held, ACCESS, shared=shared))  # type: ignore[arg-type]
    for _ in range(5):
        await asyncio.sleep(0)
    assert held.waiting == len(NODES), "the cluster probes nothing of its own"
    held.go.set()
    result, cluster_result = await site, await observed
    assert sum(s.is_probe for s in runner.sent) == len(NODES)
    assert set(cluster_result.gathered.facts) == set(NODES)
    assert all(cluster_result.gathered.facts[n] is result.gathered.facts[n] for n in NODES)


async def test_a_sites_create_reads_for_itself_while_the_clusters_probe_is_under_way() -> None:
    runner, _ = fake_runner(CLASSIC, converged())
    held, shared = _Held(runner), SharedFacts(max_age=LONG)
    observed = asyncio.create_task(observe_cluster(held, ACCESS, shared=shared))  # type: ignore[arg-type]
    await held.until_waiting(len(NODES))
    site = asyncio.create_task(reconcile_site(held, ACCESS, CLASSIC, enforce=False, shared=shared))  # type: ignore[arg-type]
    await held.until_waiting(2 * len(NODES))
    held.go.set()
    await observed, await site
    assert sum(s.is_probe for s in runner.sent) == 2 * len(NODES)
