"""Three sharded operator processes against one stand-in and several bed clusters (issue 16).

Each process has its own identity and audit log; the audit lines name the cluster each command was
for. Shown: every site Ready; each cluster's commands sent by exactly one process; SIGKILL of a
process moves its clusters to the others, and restarting it moves them back, without a cluster's
commands from two processes ever interleaving, and without any node's lock (the wrapper around every
action, which records each action that finds the lock held and by whom) seeing a second process.
Waits are bounded polls, never sleeps.

Bed count: JCOP_E2E_HA_BEDS (default 6, the issue's number; each bed is two network-namespace
nodes). The rolling restart uses at most 3 of them: each restart waits for the in-flight runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_support import LOG_SOURCE, REPO, assert_no_second_holder, is_probe, step_name, wait_for

from hack.demo import manifests
from hack.standin.pytest_fixtures import StandInProcess
from jobcenter_operator.shard import SHARD_LABEL, assign

BEDS = int(os.environ.get("JCOP_E2E_HA_BEDS", "6"))
REPLICAS = [f"op-{i}" for i in range(3)]
SHARDS = 12
LEASE_DURATION = 15  # the default
BOUND = 30  # seconds: the takeover bound (measured and printed; the waits allow for load)


@dataclass
class Replicas:
    standin: StandInProcess
    workdir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, identity: str) -> None:
        env = dict(self.standin.env, JCOP_TIMER_INTERVAL="20", JCOP_SETTLE_TIMEOUT="60", JCOP_BACKOFF_CAP="5",
                   JCOP_AUDIT_LOG=str(self.audit_path(identity)), PYTHONPATH=str(REPO / "operator"),
                   JCOP_SHARDS=str(SHARDS), JCOP_REPLICA_ID=identity, JCOP_SHARD_CHECK_INTERVAL="1")
        log = (self.workdir / f"operator-{identity}.log").open("ab")
        self.procs[identity] = subprocess.Popen(
            [sys.executable, "-m", "jobcenter_operator", "run", "--namespace", "default"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def running(self, identity: str) -> bool:
        """True while ``identity``'s process runs; a process that exited (one that could not even
        start: an import error) fails the test at once with its log, not after a wait's timeout."""
        code = self.procs[identity].poll()
        assert code is None, f"replica {identity} exited with {code}\n{self.log()}"
        return True

    def audit_path(self, identity: str) -> Path:
        return self.workdir / f"audit-{identity}.jsonl"

    def commands(self) -> list[dict[str, Any]]:
        """Every replica's audit lines, in the order they were sent."""
        lines = []
        for identity in REPLICAS:
            path = self.audit_path(identity)
            if path.exists():
                # complete lines only: an operator may be writing the last one right now
                lines += [json.loads(x) for x in path.read_text().split("\n")[:-1] if x.strip()]
        return sorted(lines, key=lambda c: c["at"])

    def senders(self, cluster: str, since: float = 0.0) -> set[str]:
        return {c["replica"] for c in self.commands() if c["cluster"] == cluster and c["at"] >= since}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
                         for p in sorted(self.workdir.glob("operator-*.log")))


@pytest.fixture
def replicas(standin_server: StandInProcess, tmp_path: Path) -> Iterator[Replicas]:
    r = Replicas(standin=standin_server, workdir=tmp_path)
    LOG_SOURCE.append(r.log)
    try:
        yield r
    finally:
        LOG_SOURCE.remove(r.log)
        r.stop()


def kubectl(r: Replicas, *args: str, input: str | None = None) -> str:
    out = r.standin.kubectl(*args, input=input, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def ready(r: Replicas, site: str) -> bool:
    conditions = json.loads(kubectl(r, "get", "jcs", site, "-o", "json")).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def apply_bed(r: Replicas, bed: dict[str, Any], i: int, shard: int) -> None:
    """Secret, ClusterproCluster (pinned to ``shard``) and site for bed ``i``, with names of their own."""
    secret = r.standin.kubectl(
        "create", "secret", "generic", f"ssh-{i}", "--type=jobcenter.clusterpro.io/ssh-credentials",
        f"--from-file=ssh-privatekey={bed['privateKeyFile']}",
        f"--from-file=known_hosts={bed['knownHostsFile']}", "--dry-run=client", "-o", "yaml")
    assert secret.returncode == 0, secret.stderr
    kubectl(r, "apply", "-f", "-", input=secret.stdout)
    cluster, site = yaml.safe_load_all(manifests(bed))
    cluster["metadata"].update(name=f"jc-{i}", labels={SHARD_LABEL: str(shard)})
    cluster["spec"]["ssh"]["credentialsSecretRef"]["name"] = f"ssh-{i}"
    site["metadata"]["name"] = f"cluv-{i}"
    site["spec"]["clusterRef"]["name"] = f"jc-{i}"
    kubectl(r, "apply", "-f", "-", input=yaml.safe_dump_all([cluster, site]))


def lease_holders(r: Replicas) -> dict[int, str]:
    leases = json.loads(kubectl(r, "get", "leases", "-l", "jobcenter.clusterpro.io/lease=shard", "-o", "json"))
    return {int(x["metadata"]["name"].rsplit("-", 1)[1]): x["spec"].get("holderIdentity") or ""
            for x in leases["items"]}


def interleaved(commands: list[dict[str, Any]], cluster: str) -> list[str]:
    """The replicas acting on ``cluster``, one entry per run of consecutive commands (time order):
    [a, b] is a handover; [a, b, a] within a phase would be two replicas acting at once."""
    runs: list[str] = []
    for c in commands:
        if c["cluster"] == cluster and (not runs or runs[-1] != c["replica"]):
            runs.append(c["replica"])
    return runs


@dataclass
class Fleet:
    sites: list[str]
    clusters: list[str]
    expected: dict[str, str]  # cluster -> the replica its pinned shard is assigned to
    beds: list[dict[str, Any]]


def bring_up(r: Replicas, testbed_cluster: Callable[..., dict[str, Any]], count: int) -> Fleet:
    owners = assign(SHARDS, REPLICAS)
    # Pin bed i's cluster to a shard of replica i % 3, so every replica owns a cluster (the pin label;
    # beds past the third get a pin above the shard count, which is taken modulo).
    pins = [next(s for s in range(SHARDS) if owners[s] == REPLICAS[i % len(REPLICAS)]) + SHARDS * (i // 3)
            for i in range(count)]
    # The replicas run before the sites exist (as in a cluster): the first one up must not have acted
    # on the others' shards before they joined, so wait until the Leases match the assignment.
    for identity in REPLICAS:
        r.start(identity)
    beds = [testbed_cluster(mode="classic") for _ in range(count)]
    wait_for("the shard Leases held as assigned", lambda: lease_holders(r) == owners, timeout=120, interval=1)
    for i, bed in enumerate(beds):
        apply_bed(r, bed, i, pins[i])
    clusters = [f"default/jc-{i}" for i in range(count)]
    return Fleet(sites=[f"cluv-{i}" for i in range(count)], clusters=clusters,
                 expected={clusters[i]: owners[pins[i] % SHARDS] for i in range(count)}, beds=beds)


def test_sharded_replicas_take_over_and_rebalance(testbed_cluster: Callable[..., dict[str, Any]],
                                                   replicas: Replicas) -> None:
    r = replicas
    fleet = bring_up(r, testbed_cluster, BEDS)
    sites, clusters, expected = fleet.sites, fleet.clusters, fleet.expected

    wait_for("every site Ready", lambda: all(ready(r, s) for s in sites), timeout=400, interval=1)
    # Each cluster's commands were sent by exactly one process: the holder of its shard.
    for cluster in clusters:
        assert r.senders(cluster) == {expected[cluster]}, (cluster, r.senders(cluster))
    assert {c["cluster"] for c in r.commands()} == set(clusters)  # no command outside a sharded run

    # SIGKILL the owner of jc-0: no release, its Leases expire; a survivor takes jc-0 over.
    victim = expected[clusters[0]]
    lost = [c for c in clusters if expected[c] == victim]
    r.procs[victim].send_signal(signal.SIGKILL)
    r.procs[victim].wait()
    killed_at = time.time()
    for cluster in lost:
        wait_for(f"a survivor acting on {cluster}", lambda c=cluster: r.senders(c, since=killed_at),
                 timeout=BOUND * 4, interval=0.5)
    took = max(min(c["at"] for c in r.commands() if c["cluster"] == cl and c["at"] >= killed_at) for cl in lost)
    print(f"takeover of {lost} after {took - killed_at:.1f} s (bound {BOUND} s, lease {LEASE_DURATION} s)")
    for cluster in lost:
        assert victim not in r.senders(cluster, since=killed_at)
        assert len(r.senders(cluster, since=killed_at)) == 1
    for cluster in set(clusters) - set(lost):  # the others' clusters did not move
        assert r.senders(cluster, since=killed_at) <= {expected[cluster]}
    wait_for("every site Ready after the takeover", lambda: all(ready(r, s) for s in sites), timeout=120, interval=1)

    # Restart it (same identity): its shards come back; the survivor hands over only when idle.
    restarted_at = time.time()
    r.start(victim)
    for cluster in lost:
        wait_for(f"{victim} acting on {cluster} again",
                 lambda c=cluster: r.running(victim) and victim in r.senders(c, since=restarted_at),
                 timeout=BOUND * 4, interval=0.5)
    wait_for("every site Ready after the rebalance", lambda: all(ready(r, s) for s in sites), timeout=120, interval=1)
    commands = r.commands()
    for cluster in lost:
        # victim until the kill, one survivor, the victim again: never back and forth
        runs = interleaved(commands, cluster)
        assert runs[0] == victim and runs[-1] == victim and len(runs) == 3, (cluster, runs)
    for cluster in set(clusters) - set(lost):
        assert interleaved(commands, cluster) == [expected[cluster]], cluster
    # The takeover and the rebalance: no node's lock ever saw two processes (issue 16).
    assert_no_second_holder(fleet.beds, REPLICAS)


def test_rolling_restart_during_converge(testbed_cluster: Callable[..., dict[str, Any]], replicas: Replicas) -> None:
    """Each replica in turn stopped gracefully (SIGINT, as the kubelet's SIGTERM) and started again
    while the sites converge: every site Ready, no group stopped twice, no cluster acted on by two
    replicas at once (each handover is one block of commands after another)."""
    r = replicas
    fleet = bring_up(r, testbed_cluster, min(BEDS, 3))
    wait_for("a replica stopping a group", lambda: any(step_name(c) == "stopgroup" for c in r.commands()),
             timeout=300, interval=0.05)
    owners = assign(SHARDS, REPLICAS)
    for identity in REPLICAS:
        r.procs[identity].send_signal(signal.SIGINT)
        r.procs[identity].wait(180)  # its in-flight runs end first (bounded by the settle timeout)
        r.start(identity)
        wait_for(f"{identity}'s shards back", lambda i=identity: r.running(i) and lease_holders(r) == owners,
                 timeout=120, interval=1)
    wait_for("every site Ready", lambda: all(ready(r, s) for s in fleet.sites), timeout=400, interval=1)
    commands = r.commands()
    for cluster in fleet.clusters:
        steps = [step_name(c) for c in commands if c["cluster"] == cluster and not is_probe(c)]
        assert steps.count("stopgroup") <= 1, (cluster, steps)
        assert steps.count("cjcmksite") == 1, (cluster, steps)
        runs = interleaved(commands, cluster)
        # the owner; while it restarts, at most one other; the owner again
        assert runs[0] == fleet.expected[cluster] and len(runs) <= 3, (cluster, runs)
    assert_no_second_holder(fleet.beds, REPLICAS)
