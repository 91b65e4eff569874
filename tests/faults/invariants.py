"""The one checker of invariants every fault test uses (issue 12, "The fault matrix").

It reads the nodes of a test bed itself, with ``api.exec_on`` inside each node (never through
the operator's SSH pool or parsers), after every step of a fault test:

- the site's files (``<databasePath>/nqs``) keep the checksums they had once the site existed:
  job data is never touched and a site is never re-created;
- no ``cjcmksite`` is sent once the site exists (the pool's observer records every argv);
- the site runs on at most one node;
- once a step is meant to have settled: the failover group online on exactly one node, no stop
  marker of the operator left, the cluster not suspended;
- no secret (the private key, a password, a passphrase) in the logs, the errors or the status;
- no node's operator lock saw a second operator process (its lock log, plan/commands.py): a
  killed operator's successor never finds the dead one's action still holding a node.

A violation is a line of text; a test asserts the list is empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hack.testbed import api
from jobcenter_operator.paths import STOP_MARKER_DIR
from jobcenter_operator.plan.commands import LOCK_LOG, lock_contention

AGENT_PROCESS = "jcexecutor_agent"


def _on(bed: dict[str, Any], node: str, argv: list[str]) -> dict[str, Any]:
    return api.exec_on(bed["name"], node, argv, timeout=60)


def site_files(bed: dict[str, Any], node: str, database_path: str) -> dict[str, str]:
    """path -> sha256 of every file under ``<databasePath>/nqs`` as ``node`` sees it ({} when absent)."""
    r = _on(bed, node, ["sh", "-c", '[ -d "$1/nqs" ] || exit 0; find "$1/nqs" -type f -exec sha256sum {} +', "sh",
                        database_path])
    out: dict[str, str] = {}
    for line in r["stdout"].splitlines():
        digest, _, path = line.partition("  ")
        if path:
            out[path] = digest
    return out


def alive(bed: dict[str, Any]) -> list[str]:
    nodes = api.status(bed["name"])["nodeState"]
    return [n for n, st in nodes.items() if st["alive"]]


def running_site_on(bed: dict[str, Any], site: dict[str, Any]) -> list[str]:
    """The nodes where this site's processes run (cjcpw of its virtual host; the agent instance)."""
    found = []
    for node in alive(bed):
        procs = api.node_processes(bed["name"], node)
        if site["mode"] == "StandardAgent":
            if any(AGENT_PROCESS in p["args"] for p in procs):
                found.append(node)
        elif any("cjcpw" in p["args"] and site["virtualHost"] in p["args"].split() for p in procs):
            found.append(node)
    return found


@dataclass
class Checker:
    """Invariants over one bed and one site spec (as a dict in API spelling)."""

    bed: dict[str, Any]
    site: dict[str, Any]
    secrets: list[str] = field(default_factory=list)
    baseline: dict[str, str] = field(default_factory=dict)  # site files once the site existed
    sent_before: int = 0  # commands sent before the baseline (the site's creation among them)

    def holder(self) -> str | None:
        group = api.cluster_status(self.bed["name"])["groups"].get(self.site["failoverGroup"]) or {}
        current = group.get("current")
        return str(current) if current else None

    def take_baseline(self, sent_so_far: int = 0) -> None:
        self.sent_before = sent_so_far
        node = self.holder()
        if node is not None and self.site["mode"] != "StandardAgent":
            self.baseline = site_files(self.bed, node, self.site["databasePath"])

    def check(self, *, settled: bool, sent: Iterable[tuple[str, tuple[str, ...]]] = (),
              texts: Iterable[str] = ()) -> list[str]:
        bad: list[str] = []
        holder = self.holder()
        mounted = holder is not None and _on(self.bed, holder, ["mountpoint", "-q", self.site["databasePath"]])[
            "exitStatus"] == 0
        if self.baseline and holder is not None and mounted:  # unmounted (a fault): the files are not in view
            now = site_files(self.bed, holder, self.site["databasePath"])
            changed = sorted(p for p, h in self.baseline.items() if now.get(p) != h)
            if changed:
                bad.append(f"site files changed or gone on {holder}: {changed[:5]}")
        if self.baseline:
            later = list(sent)[self.sent_before:]
            creates = [n for n, argv in later if "cjcmksite" in argv]  # the wrapper's $0, an exact element
            if creates:
                bad.append(f"cjcmksite sent over an existing site on {creates}")
        for node in alive(self.bed):
            log = _on(self.bed, node, ["cat", LOCK_LOG])
            second = [c for c in lock_contention(log["stdout"]) if c.second_process] if log["exitStatus"] == 0 else []
            if second:
                bad.append(f"the node lock on {node} saw a second operator process: {second}")
        running = running_site_on(self.bed, self.site)
        if len(running) > 1:
            bad.append(f"the site runs on {running} at once")
        if settled:
            status = api.cluster_status(self.bed["name"])
            if status.get("suspended"):
                bad.append("the cluster was left suspended")
            if holder is None:
                bad.append(f"{self.site['failoverGroup']} was left stopped")
            for node in alive(self.bed):
                marker = _on(self.bed, node, ["cat", f"{STOP_MARKER_DIR}/{self.site['failoverGroup']}"])
                if marker["exitStatus"] == 0:
                    bad.append(f"a stop marker was left on {node}")
        for text in texts:
            for secret in self.secrets:
                if secret and secret in text:
                    bad.append(f"a secret appears in: {text[:80]!r}...")
        return bad
