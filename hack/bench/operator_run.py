"""The operator as a user runs it: the API stand-in, `python -m jobcenter_operator run`, kubectl apply.

As tests/e2e does it: one stand-in, one operator subprocess with JCOP_AUDIT_LOG, N ClusterproClusters
(one per bed), their Secrets and one JobCenterSite each, applied in one `kubectl apply`.

``replicas`` R > 0: R operator processes sharing the sites through shard Leases (issue 16, as
tests/e2e/test_sharded.py starts them: JCOP_SHARDS, JCOP_REPLICA_ID, one audit log each; no shard
pins, so every site's shard is the stable hash of its cluster). The objects are applied once every
shard Lease is held as assigned, so the clock starts with the replicas settled, as in a cluster
where the operator ran before the sites came.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hack.demo import SAMPLES
from hack.standin.pytest_fixtures import StandInProcess, start_standin, stop_standin
from hack.testbed.config import BedRecord, node_dir

from . import procstat, report

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "operator") not in sys.path:
    sys.path.insert(0, str(REPO / "operator"))
SHARDS = 12  # as tests/e2e/test_sharded.py
PROFILE = Path(os.environ["BENCH_PROFILE"]) if os.environ.get("BENCH_PROFILE") else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def manifests(beds: list[dict[str, Any]]) -> str:
    """Secret + ClusterproCluster + JobCenterSite per bed, named c<i>, c<i>-ssh and s<i>."""
    docs: list[dict[str, Any]] = []
    for i, bed in enumerate(beds):
        # data, not stringData: what `kubectl create secret --from-file` sends (the stand-in has no stringData)
        # the type marks it for the operator (it reads no other Secret)
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"c{i}-ssh"},
                  "type": "jobcenter.clusterpro.io/ssh-credentials",
                  "data": {"ssh-privatekey": _b64(Path(bed["privateKeyFile"]).read_bytes()),
                           "known_hosts": _b64(Path(bed["knownHostsFile"]).read_bytes())}}
        cluster = yaml.safe_load((SAMPLES / "clusterprocluster.yaml").read_text())
        cluster["metadata"]["name"] = f"c{i}"
        cluster["spec"]["nodes"] = [{"name": n["name"], "address": n["address"]} for n in bed["nodes"]]
        cluster["spec"]["ssh"]["credentialsSecretRef"]["name"] = f"c{i}-ssh"
        sample = "jobcentersite-classic.yaml" if bed["mode"] == "classic" else "jobcentersite-standard-manager.yaml"
        site = yaml.safe_load((SAMPLES / sample).read_text())
        site["metadata"]["name"] = f"s{i}"
        site["spec"]["clusterRef"]["name"] = f"c{i}"
        site["spec"].update(floatingIP=bed["floatingIP"], virtualHost=bed["virtualHost"],
                            databasePath=bed["databasePath"], failoverGroup=bed["failoverGroup"],
                            execResource=bed["execResource"], machineId=bed["machineId"])
        docs += [secret, cluster, site]
    return yaml.safe_dump_all(docs, sort_keys=False)


def sshd_logins(beds: list[BedRecord]) -> int:
    total = 0
    for b in beds:
        for n in b.nodes:
            log = node_dir(b, n.name) / "sshd.log"
            total += report.sshd_handshakes(log.read_text(errors="replace")) if log.exists() else 0
    return total


@dataclass
class Snapshot:
    """Counters at one instant; the difference of two is what happened in between."""
    t: float
    operator_cpu: float
    standin_cpu: float
    bed_cpu: float
    logins: int
    net_bytes: int
    commands: int
    round_trips: int

    @classmethod
    def take(cls, run: OperatorRun, *, start: bool = False) -> Snapshot:
        """``start``: the snapshot opening a window. The /metrics scrape (round trips) costs the
        operator CPU of its own (a few ms): it is read before the CPU at a window's start and after
        it at its end, so that neither scrape is billed to the window."""
        round_trips = run.round_trips() if start else 0
        snap = cls(t=time.monotonic(), operator_cpu=sum(procstat.cpu_seconds(p.pid) for p in run.procs),
                   standin_cpu=procstat.cpu_seconds(run.api.process.pid),
                   bed_cpu=procstat.bed_cpu_seconds(run.beds), logins=sshd_logins(run.beds),
                   net_bytes=procstat.veth_bytes(run.beds), commands=len(run.audit_lines()),
                   round_trips=round_trips)
        if not start:
            snap.round_trips = run.round_trips()
        return snap


# The operator's own count of what it sent: one observation per round trip to a node (a batch of
# actions is one; the audit log has a line per action).
ROUND_TRIPS_METRIC = "jobcenter_operator_ssh_command_duration_seconds_count"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_total(port: int, metric: str) -> float:
    """The sum of ``metric`` over its labels on the operator's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == metric)


@dataclass
class OperatorRun:
    workdir: Path
    bed_docs: list[dict[str, Any]]
    timer_interval: float
    beds: list[BedRecord] = field(default_factory=list)
    standin: StandInProcess | None = None
    replicas: int = 0  # 0: one standalone operator (no Leases); R > 0: R sharded replicas
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)

    @property
    def api(self) -> StandInProcess:
        assert self.standin is not None, "not started"
        return self.standin

    @property
    def identities(self) -> list[str]:
        return [f"op-{i}" for i in range(self.replicas)] if self.replicas else [""]

    def _log_path(self, identity: str) -> Path:
        return self.workdir / (f"operator-{identity}.log" if identity else "operator.log")

    def _profile_path(self, identity: str) -> Path:
        assert PROFILE is not None
        PROFILE.mkdir(parents=True, exist_ok=True)
        return PROFILE / f"{self.workdir.name}{'-' + identity if identity else ''}.pstats"

    def _audit_path(self, identity: str) -> Path:
        return self.workdir / (f"audit-{identity}.jsonl" if identity else "audit.jsonl")

    def audit_lines(self) -> list[str]:
        lines: list[str] = []
        for identity in self.identities:
            path = self._audit_path(identity)
            if path.exists():
                lines += path.read_text().splitlines()
        return lines

    def round_trips(self) -> int:
        return int(sum(scrape_total(port, ROUND_TRIPS_METRIC) for port in self.metrics_ports))

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.beds = [BedRecord.load(d["name"]) for d in self.bed_docs]
        self.standin = start_standin(self.workdir, REPO / "crds")
        for identity in self.identities:
            port = _free_port()
            self.metrics_ports.append(port)
            env = dict(self.api.env, JCOP_TIMER_INTERVAL=str(self.timer_interval), JCOP_METRICS_PORT=str(port),
                       JCOP_AUDIT_LOG=str(self._audit_path(identity)), PYTHONPATH=str(REPO / "operator"))
            if identity:
                env.update(JCOP_SHARDS=str(SHARDS), JCOP_REPLICA_ID=identity)
            log = self._log_path(identity).open("wb")
            # BENCH_PROFILE=DIR: under cProfile (profiled.py), on during the steady window only
            profiled = ["-m", "hack.bench.profiled", str(self._profile_path(identity))] if PROFILE else []
            env["PYTHONPATH"] += f":{REPO}" if PROFILE else ""
            self.procs.append(subprocess.Popen([sys.executable, *(profiled or ["-m", "jobcenter_operator"]), "run",
                                                "--namespace", "default"],
                                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        for identity, proc in zip(self.identities, self.procs, strict=True):
            self._wait_log(proc, identity, "operator start-up", "Initial authentication has finished")
        if self.replicas:
            self._wait_leases()

    def _wait_log(self, proc: subprocess.Popen[bytes], identity: str, what: str, text: str,
                  timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self._log_path(identity).read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what}: no {text!r} in the operator log:\n"
                                   + self._log_path(identity).read_text(errors="replace")[-3000:])
            time.sleep(0.05)

    def _wait_leases(self, timeout: float = 120) -> None:
        """Until every shard Lease is held by the replica the assignment gives it."""
        from jobcenter_operator.coordination import ROLE_LABEL
        from jobcenter_operator.shard import assign

        want = assign(SHARDS, self.identities)
        deadline = time.monotonic() + timeout
        while True:
            got = self.api.kubectl("get", "leases", "-l", f"{ROLE_LABEL}=shard", "-o", "json", timeout=60)
            if got.returncode == 0:
                held = {int(x["metadata"]["name"].rsplit("-", 1)[1]): x["spec"].get("holderIdentity") or ""
                        for x in json.loads(got.stdout)["items"]}
                if held == want:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"shard Leases not held as assigned after {timeout} s: {got.stdout[-2000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Whatever start() got to start (also after a failed start)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.standin is not None:
            stop_standin(self.standin)

    def converge(self, timeout: float) -> dict[str, Any]:
        """kubectl apply of every bed's objects, then kubectl wait until all sites are Ready."""
        before = Snapshot.take(self, start=True)
        applied = self.api.kubectl("apply", "-f", "-", input=manifests(self.bed_docs), timeout=120)
        if applied.returncode != 0:
            raise RuntimeError(f"kubectl apply: {applied.stderr}")
        waited = self.api.kubectl("wait", "--for=condition=Ready", "jcs", "--all", f"--timeout={int(timeout)}s",
                                      timeout=timeout + 30)
        after = Snapshot.take(self)
        if waited.returncode != 0:
            raise RuntimeError(f"sites not Ready in {timeout} s: {waited.stderr}\n"
                               + self._log_path(self.identities[0]).read_text(errors="replace")[-3000:])
        return self._measure(before, after, sites=len(self.bed_docs))

    def steady(self) -> dict[str, Any]:
        """Two drift intervals with converged nodes and warm connections, per site and node per check."""
        time.sleep(self.timer_interval)  # the first timer round after creation belongs to convergence
        before = Snapshot.take(self, start=True)
        self._profile(signal.SIGUSR1)
        time.sleep(2 * self.timer_interval)
        self._profile(signal.SIGUSR2)
        after = Snapshot.take(self)
        m = self._measure(before, after, sites=len(self.bed_docs), checks=2)
        m.pop("wall_s")  # a drift check has no wall time of its own here: it is spread over the interval
        return m

    def _profile(self, sig: signal.Signals) -> None:
        """With BENCH_PROFILE: start (SIGUSR1) or stop and write (SIGUSR2) the operators' profiles."""
        if PROFILE is not None:
            for proc in self.procs:
                proc.send_signal(sig)

    def _measure(self, before: Snapshot, after: Snapshot, sites: int, checks: int = 1) -> dict[str, Any]:
        nodes = sum(len(b.nodes) for b in self.beds)
        wall = after.t - before.t
        op = after.operator_cpu - before.operator_cpu
        standin = after.standin_cpu - before.standin_cpu
        bed = after.bed_cpu - before.bed_cpu
        total = op + standin + bed
        return {
            "wall_s": wall,
            "commands_per_node": (after.commands - before.commands) / nodes / checks,
            "round_trips_per_node": (after.round_trips - before.round_trips) / nodes / checks,
            "handshakes_per_node": (after.logins - before.logins) / nodes / checks,
            "kbytes_per_node": (after.net_bytes - before.net_bytes) / 1024 / nodes / checks,
            "cpu_per_site_ms": op * 1000 / sites / checks,
            "operator_cpu_s": op, "standin_cpu_s": standin, "bed_cpu_s": bed,
            "bed_share": bed / total if total > 0 else None,
            "rss_mb": max(procstat.rss_mb(p.pid) for p in self.procs),  # per replica: the largest
            "rss_total_mb": sum(procstat.rss_mb(p.pid) for p in self.procs),
            "replicas": len(self.procs),
            **self._spread(),
        }

    def _spread(self) -> dict[str, Any]:
        """With replicas: how many clusters the busiest replica acted on (from the audit logs; the
        shard hash decides it, so R replicas need not split the work R ways)."""
        if not self.replicas:
            return {}
        owners: dict[str, set[str]] = {}
        for line in self.audit_lines():
            if line.strip():
                c = json.loads(line)
                owners.setdefault(str(c.get("replica")), set()).add(str(c.get("cluster")))
        sizes = sorted((len(v) for v in owners.values()), reverse=True)
        return {"busiest_replica_clusters": sizes[0] if sizes else 0, "clusters_per_replica": sizes}
