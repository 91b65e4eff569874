"""End-to-end helpers shared by the e2e tests and their fixtures (conftest.py): the operator as a
real subprocess (`python -m jobcenter_operator run`) with an audit log of every command it sends.

Tests import from this module, never from ``conftest``: several test folders have a conftest, and
which one ``import conftest`` finds depends on the order pytest collected them in."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hack.standin.pytest_fixtures import StandInProcess
from hack.testbed import api
from jobcenter_operator.plan.commands import LOCK_HOLDER, LOCK_LOG, Contention, lock_contention, unbounded

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "manifests" / "samples"
TIMER = 3.0  # seconds between drift checks in these tests
# A site mode -> the test-bed mode of a bed with one failover group for it.
BED_MODES = {"Classic": "classic", "StandardManager": "standard-manager", "StandardAgent": "standard-agent"}
# A site mode -> the name of its JobCenterSite in site_manifests.
SITE_NAMES = {"Classic": "cluv", "StandardManager": "jcmgcluster", "StandardAgent": "jcagcluster"}


# The running operator's log, appended to a timeout's message (set by the operator_env fixture).
LOG_SOURCE: list[Callable[[], str]] = []


def context() -> str:
    return "".join(f"\n--- operator log ---\n{source()}" for source in LOG_SOURCE)


def wait_for(what: str, predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r}){context()}")


@dataclass
class Operator:
    standin: StandInProcess
    workdir: Path
    audit: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *extra_args: str) -> subprocess.Popen[bytes]:
        env = dict(self.standin.env, JCOP_TIMER_INTERVAL=str(TIMER), JCOP_SETTLE_TIMEOUT="60",
                   JCOP_BACKOFF_CAP="5", JCOP_AUDIT_LOG=str(self.audit), PYTHONPATH=str(REPO / "operator"))
        log = (self.workdir / f"operator-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "jobcenter_operator", "run", "--namespace", "default",
                                 *extra_args],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def commands(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        # Only complete lines: the operator may be writing one right now (or was SIGKILLed mid-line).
        complete = self.audit.read_text().split("\n")[:-1]
        return [json.loads(line) for line in complete if line.strip()]

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.workdir.glob("operator-*.log")))

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.standin.kubectl(*args, input=input, timeout=120)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        out = self.kubectl("get", kind, name, "-o", "json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def condition(self, name: str, ctype: str) -> dict[str, Any] | None:
        for c in self.get("jcs", name).get("status", {}).get("conditions", []):
            if c["type"] == ctype:
                return c  # type: ignore[no-any-return]
        return None


def is_probe(command: dict[str, Any]) -> bool:
    return len(command["argv"]) > 3 and command["argv"][3] == "jcop-facts"


def step_name(command: dict[str, Any]) -> str:
    """The operator's sh wrappers carry their name as $0 (argv[3]); plain commands are argv[0]. An
    action's own argv is read inside the node-side bound and lock every action runs in."""
    argv = list(unbounded(tuple(command["argv"])))
    return str(argv[3]) if argv[:2] == ["sh", "-c"] and len(argv) > 3 else str(argv[0])


def apply_secret(op: Operator, bed: dict[str, Any]) -> None:
    """The credentials Secret as most GitOps repositories write it: ``stringData`` (the API server
    turns it into ``data``; the operator only ever reads ``data``)."""
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "jobcenter.clusterpro.io/ssh-credentials",
              "metadata": {"name": "jc-cluster-ssh"},
              "stringData": {"ssh-privatekey": Path(bed["privateKeyFile"]).read_text(),
                             "known_hosts": Path(bed["knownHostsFile"]).read_text()}}
    applied = op.kubectl("apply", "-f", "-", input=yaml.safe_dump(secret))
    assert applied.returncode == 0, applied.stderr


def site_manifests(bed: dict[str, Any], mode: str = "Classic") -> list[dict[str, Any]]:
    """The samples' ClusterproCluster and the ``mode`` site (named ``SITE_NAMES[mode]``), pointed at
    the bed's first failover group (its nodes, group, exec resource, disk, FIP, virtual host, agent)."""
    cluster = yaml.safe_load((SAMPLES / "clusterprocluster.yaml").read_text())
    cluster["spec"]["nodes"] = [{"name": n["name"], "address": n["address"]} for n in bed["nodes"]]
    sample = {"Classic": "jobcentersite-classic.yaml", "StandardManager": "jobcentersite-standard-manager.yaml",
              "StandardAgent": "jobcentersite-standard-agent.yaml"}[mode]
    site = yaml.safe_load((SAMPLES / sample).read_text())
    site["metadata"]["name"] = SITE_NAMES[mode]
    group = bed["groups"][0]
    site["spec"].update(failoverGroup=group["name"], execResource=group["execResource"],
                        databasePath=group["databasePath"], monitorIntervalSeconds=2)
    if mode == "StandardAgent":
        agent = group["agent"]
        site["spec"]["agent"] = {"instanceId": agent["instanceId"], "instanceName": agent["instanceName"],
                                 "agentName": agent["agentName"]}
    else:
        site["spec"].update(floatingIP=group["floatingIP"], virtualHost=group["virtualHost"],
                            machineId=group["machineId"])
    return [cluster, site]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` as {(name, labels): value}; empty while the server is not up yet."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@dataclass(frozen=True)
class NodeLock:
    """What a bed node's operator lock recorded (plan/commands.py's wrapper): the last holder and
    every time an action found the lock taken."""

    bed: str
    node: str
    holder: str | None
    contention: tuple[Contention, ...]

    @property
    def second_holders(self) -> list[Contention]:
        """Another operator process came for the lock while one held it (never allowed: issue 16)."""
        return [c for c in self.contention if c.second_process]


def node_locks(bed: dict[str, Any]) -> list[NodeLock]:
    """The lock records of every node of ``bed``, read inside the nodes (no SSH)."""
    found = []
    for node in (n["name"] for n in bed["nodes"]):
        holder = api.exec_on(bed["name"], node, ["cat", LOCK_HOLDER], timeout=30)
        log = api.exec_on(bed["name"], node, ["cat", LOCK_LOG], timeout=30)
        found.append(NodeLock(bed=bed["name"], node=node,
                              holder=holder["stdout"].strip() or None if holder["exitStatus"] == 0 else None,
                              contention=tuple(lock_contention(log["stdout"])) if log["exitStatus"] == 0 else ()))
    return found


def assert_no_second_holder(beds: list[dict[str, Any]], replicas: list[str]) -> None:
    """The node-side lock (every action's wrapper) never saw a second operator process: no action
    of one process found a node's lock held by another (a restarted replica is another process).
    Not vacuous: every node of every bed was last held by one of ``replicas``."""
    locks = [lock for bed in beds for lock in node_locks(bed)]
    second = [(lock.bed, lock.node, c) for lock in locks for c in lock.second_holders]
    assert second == [], f"a node's lock saw a second operator process: {second}"
    holders = {(lock.bed, lock.node): lock.holder for lock in locks}
    assert all(h is not None and h.split(":")[0] in replicas for h in holders.values()), holders
