"""The idle bed's CPU: N converged clusters (brought there by the floor), nothing talking to them.

What it measures: the CPU every process of the beds used (the nodes' PID namespaces and the
per-cluster CLUSTERPRO daemons, what they reaped included: ``procstat.bed_cpu_seconds``) over a
window of ``seconds`` after convergence, divided by the window and by N: milliseconds of CPU per
second per cluster. Its monitors run as configured (the bed's monitor interval cap), so this is the
background a bench run pays for every cluster while it waits.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from hack.testbed import api as testbed
from hack.testbed.config import BedRecord

from . import floor, procstat


def run(n: int = 3, seconds: float = 20.0) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    docs: list[dict[str, Any]] = []
    try:
        for i in range(n):
            docs.append(testbed.up(f"i{tag}-{i}", mode="classic"))
        floor.run(docs)  # converged: the site's monitors are in clp.conf and run
        beds = [BedRecord.load(d["name"]) for d in docs]
        before, t0 = procstat.bed_cpu_seconds(beds), time.monotonic()
        time.sleep(seconds)  # the measurement window itself: nothing to wait for
        used, wall = procstat.bed_cpu_seconds(beds) - before, time.monotonic() - t0
        monitors = sorted(testbed.cluster_status(docs[0]["name"])["monitors"])
        return {"clusters": n, "seconds": round(wall, 2), "bed_cpu_s": round(used, 3),
                "ms_per_s_per_cluster": round(used / wall / n * 1000, 2), "monitors": monitors}
    finally:
        for d in docs:
            testbed.down(d["name"])


def table(result: dict[str, Any]) -> str:
    return ("| idle bed | clusters | window | bed CPU | CPU per second per cluster |\n|---|---|---|---|---|\n"
            f"| converged, nothing talking | {result['clusters']} | {result['seconds']} s | "
            f"{result['bed_cpu_s']} s | {result['ms_per_s_per_cluster']} ms |")
