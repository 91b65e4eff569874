"""One fault-matrix cell: a test bed in one mode, the operator's reconcile (through a real
NodePool), one fault, the invariants after every step, and the times it took.

The operator is driven the way its handlers drive it (``reconcile_site`` / ``unconfigure_site``
with a pool per operator process); "the operator SIGKILLed" is a ``Runner`` that stops dead at a
deterministic point, the Nth command of a step: everything before it ran, nothing after it is
sent, no restore runs, and the process's connections drop (its pool is closed unannounced). The
next run is a fresh pool, as after a restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hack.testbed import api
from jobcenter_operator.api import ClusterproClusterSpec, JobCenterSiteSpec
from jobcenter_operator.errors import OperatorError
from jobcenter_operator.node import CommandResult, NodeAddress, NodePool, SSHCredentials, Timeouts
from jobcenter_operator.outcome import SiteResult, run_error
from jobcenter_operator.plan.commands import unbounded
from jobcenter_operator.reconcile import ClusterAccess, access_from, reconcile_site
from jobcenter_operator.status import site_status
from jobcenter_operator.unconfigure import unconfigure_site

from .invariants import Checker

MODES = {"Classic": "classic", "StandardManager": "standard-manager", "StandardAgent": "standard-agent"}
CONNECT_S, KEEPALIVE_S, COMMAND_S = 2, 1, 20
# A fault must show as a condition within one reconcile bounded by this (the "one timeout").
SURFACE_TIMEOUT = 60.0
RECOVER_ATTEMPTS = 4


class OperatorKilled(BaseException):
    """The operator process died here: nothing catches it, as nothing survives a SIGKILL."""


@dataclass
class Recorder:
    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def __call__(self, node: str, argv: tuple[str, ...]) -> None:
        self.sent.append((node, tuple(argv)))


@dataclass
class KillAt:
    """A Runner around the pool that dies instead of sending the ``nth`` command of ``step``
    (an sh wrapper's $0 inside the bounded wrapper: stopgroup, apply, cjcmksite...)."""

    pool: NodePool
    step: str
    nth: int = 1
    seen: int = 0
    hook: Callable[[], None] | None = None  # instead of dying: do this once at that point, then go on

    async def run(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, argv: Sequence[str],
                  **kwargs: Any) -> CommandResult:
        own = unbounded(tuple(argv))
        if (own[:2] == ("sh", "-c") and own[3:4] == (self.step,)) or own[:1] == (self.step,):
            self.seen += 1
            if self.seen == self.nth:
                if self.hook is None:
                    raise OperatorKilled(f"killed before {self.step} #{self.nth} on {node.name}")
                self.hook()
        return await self.pool.run(node, creds, timeouts, argv, **kwargs)


def site_doc(bed: dict[str, Any], mode: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"clusterRef": {"name": "c"}, "mode": mode, "failoverGroup": bed["failoverGroup"],
                           "execResource": bed["execResource"], "databasePath": bed["databasePath"],
                           "monitorIntervalSeconds": 1, "deletionPolicy": "Unconfigure"}
    if mode == "StandardAgent":
        agent = bed["agent"]
        doc.update(monitorResource="genw-jcag", agent={"instanceId": agent["instanceId"],
                                                       "instanceName": agent["instanceName"],
                                                       "agentName": agent["agentName"]})
    else:
        doc.update(monitorResource="pidw-jc", virtualHost=bed["virtualHost"], machineId=bed["machineId"],
                   floatingIP=bed["floatingIP"])
    return doc


@dataclass
class Cell:
    """The state of one fault test: bed, spec, access, the current operator process's pool."""

    bed: dict[str, Any]
    mode: str
    site: dict[str, Any]
    spec: JobCenterSiteSpec
    known_hosts: bytes
    checker: Checker
    recorder: Recorder = field(default_factory=Recorder)
    pool: NodePool | None = None
    logs: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    surfaced_s: float | None = None
    recovered_s: float | None = None

    @classmethod
    def up(cls, make_bed: Callable[..., dict[str, Any]], mode: str) -> Cell:
        bed = make_bed(mode=MODES[mode])
        site = site_doc(bed, mode)
        key = Path(bed["privateKeyFile"]).read_text()
        secret_line = next(line for line in key.splitlines()[1:] if len(line) > 20)
        cell = cls(bed=bed, mode=mode, site=site, spec=JobCenterSiteSpec.model_validate(site),
                   known_hosts=Path(bed["knownHostsFile"]).read_bytes(),
                   checker=Checker(bed=bed, site=site, secrets=[secret_line]))
        cell.new_operator()
        return cell

    def new_operator(self) -> NodePool:
        """A fresh operator process: a new pool (the old one's connections are simply dropped)."""
        self.pool = NodePool(observer=self.recorder)
        return self.pool

    def access(self) -> ClusterAccess:
        return access_for(self.bed, self.known_hosts)

    def sigkill_operator_at(self, step: str, nth: int = 1) -> None:
        """Run a separate operator process that SIGKILLs itself before the ``nth`` command of ``step``."""
        doc = Path(self.bed["stateDir"]) / "killed-operator.json"
        doc.write_text(json.dumps({"bed": self.bed, "site": self.site, "knownHosts": self.known_hosts.decode()}))
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": f"{root / 'operator'}:{root}"}
        done = subprocess.run([sys.executable, "-m", "tests.faults.killed_operator", str(doc), step, str(nth)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == -signal.SIGKILL, f"the operator was not killed at {step}: {done}"

    async def reconcile(self, runner: Any = None) -> SiteResult:
        result = await reconcile_site(runner or self.pool, self.access(), self.spec, enforce=True,
                                      settle_timeout=30, settle_interval=0.2)
        self.note(result)
        return result

    async def unconfigure(self, runner: Any = None) -> SiteResult:
        result = await unconfigure_site(runner or self.pool, self.access(), self.spec)
        self.note(result)
        return result

    def note(self, result: SiteResult) -> None:
        """What a user would read: the error, every step's error, the status (scanned for secrets)."""
        error = run_error(result)
        self.logs += [str(error or ""), *(s.error or "" for s in result.steps)]
        self.logs.append(repr(site_status(spec=self.spec, generation=1, previous=None, result=result, error=None)))

    def check(self, step: str, *, settled: bool) -> None:
        self.violations += [f"{step}: {v}" for v in self.checker.check(
            settled=settled, sent=self.recorder.sent, texts=self.logs)]

    async def converge(self, step: str) -> SiteResult:
        """Reconcile until the plan is empty and the site healthy (bounded), then check everything."""
        result = await self.reconcile()
        for _ in range(RECOVER_ATTEMPTS):
            if run_error(result) is None and result.plan is not None and result.plan.converged:
                break
            result = await self.reconcile()
        assert run_error(result) is None and result.plan is not None and result.plan.converged, (
            f"{step}: not converged: {describe(result)}")
        self.check(step, settled=True)
        return result

    async def surface(self, expected: set[str], runner: Any = None) -> SiteResult:
        """Reconcile once after the fault: it must end with one of ``expected`` as a condition reason."""
        started = time.monotonic()
        result = await self.reconcile(runner)
        self.surfaced_s = time.monotonic() - started
        reasons = condition_reasons(self.spec, result)
        assert reasons & expected, f"expected one of {expected} in the conditions, got {reasons}: {describe(result)}"
        assert self.surfaced_s <= SURFACE_TIMEOUT, f"surfaced after {self.surfaced_s:.1f}s"
        self.check("fault surfaced", settled=False)
        return result

    async def recover(self) -> SiteResult:
        started = time.monotonic()
        result = await self.converge("recovered")
        self.recovered_s = time.monotonic() - started
        return result

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


def access_for(bed: dict[str, Any], known_hosts: bytes) -> ClusterAccess:
    spec = ClusterproClusterSpec.model_validate({
        "nodes": [{k: n[k] for k in ("name", "address", "port")} for n in bed["nodes"]],
        "ssh": {"user": bed["user"], "credentialsSecretRef": {"name": "ssh"},
                "timeouts": {"connectSeconds": CONNECT_S, "keepaliveSeconds": KEEPALIVE_S,
                             "commandSeconds": COMMAND_S}}})
    secret = {"ssh-privatekey": Path(bed["privateKeyFile"]).read_bytes(), "known_hosts": known_hosts}
    return access_from(spec, secret, cluster="faults/c")


def condition_reasons(spec: JobCenterSiteSpec, result: SiteResult) -> set[str]:
    error: OperatorError | None = run_error(result)
    status = site_status(spec=spec, generation=1, previous=None, result=result, error=None)
    reasons = {c["reason"] for c in status["conditions"] if c["status"] != "True" or c["type"] == "Stalled"}
    return reasons | ({error.reason} if error is not None else set())


def describe(result: SiteResult) -> str:
    steps = "; ".join(f"{s.action.kind}@{s.action.node}:{'ok' if s.ok else s.error}" for s in result.steps)
    pre = [f.reason for f in result.plan.preflight] if result.plan else None
    return f"error={result.error!r} preflight={pre} steps=[{steps}] health={result.health}"


def fault(bed: dict[str, Any], kind: str, node: str, arg: str | None = None) -> dict[str, Any]:
    return api.fault(bed["name"], kind, node, arg)
