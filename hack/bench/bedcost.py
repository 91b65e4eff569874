"""The bed's CPU per simulated command: through the resident helper (the tool's real path, the C
shim) and through the direct wrapper (a Python interpreter per command), on the same node.

Each command runs K times in a shell loop inside the node. CPU = everything the bed's processes
used meanwhile (PID 1, the helper and what it reaped, the cluster daemon) plus the loop shell's
children, which `times` prints. `/bin/true` run the same way is the baseline (the loop, fork and
exec, the bed's background polling), reported and subtracted.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from hack.testbed import api as testbed
from hack.testbed.config import BedRecord
from hack.testbed.nodetools import TOOL_PATHS
from hack.testbed.toolshim import DIRECT_DIR

from . import procstat

REPO = Path(__file__).resolve().parents[2]

COMMANDS = [("clpstat", "clpstat"), ("clpgrp", "clpgrp -n failover-jc"), ("cjcls", "cjcls -a"),
            ("systemctl", "systemctl is-active jcexecutor_agent_1.service"), ("clplogcmd", "clplogcmd -m bench")]


def _times_seconds(out: str) -> float:
    """Children's user+system time from the last line of sh's `times` ("0m1.230000s 0m0.450000s")."""
    total = 0.0
    for part in out.strip().splitlines()[-1].split():
        minutes, seconds = part.rstrip("s").split("m")
        total += int(minutes) * 60 + float(seconds)
    return total


def _loop_cpu(name: str, bed: BedRecord, argv: str, k: int) -> float:
    before = procstat.bed_cpu_seconds([bed])
    r = testbed.exec_on(name, "clu1", ["sh", "-c", f"cd /root; i=0; while [ $i -lt {k} ]; do {argv} >/dev/null 2>&1; "
                                                   "i=$((i+1)); done; times"], timeout=600)
    return procstat.bed_cpu_seconds([bed]) - before + _times_seconds(r["stdout"])


def lifecycle(runs: int = 3) -> dict[str, Any]:
    """Wall time of `python -m hack.testbed up` and `down` of one classic bed, as a user runs them
    (was a budget asserted in tests/testbed/test_testbed_lifecycle.py: up < 3 s, down < 2 s)."""
    ups, downs = [], []
    for _ in range(runs):
        name = f"lc{uuid.uuid4().hex[:6]}"
        t0 = time.monotonic()
        cp = subprocess.run([sys.executable, "-m", "hack.testbed", "up", "--name", name], cwd=REPO,
                            capture_output=True, text=True, check=False)
        ups.append(time.monotonic() - t0)
        t1 = time.monotonic()
        down = subprocess.run([sys.executable, "-m", "hack.testbed", "down", "--name", name], cwd=REPO,
                              capture_output=True, text=True, check=False)
        downs.append(time.monotonic() - t1)
        if cp.returncode != 0 or down.returncode != 0:
            raise RuntimeError(f"bed up/down failed: {cp.stderr[-2000:]}{down.stderr[-2000:]}")
    return {"runs": runs, "up_s": statistics.median(ups), "down_s": statistics.median(downs),
            "up_all_s": ups, "down_all_s": downs}


def run(k: int = 50, lifecycle_runs: int = 3) -> dict[str, Any]:
    cycle = lifecycle(lifecycle_runs)
    name = f"bc{uuid.uuid4().hex[:6]}"
    testbed.up(name, mode="classic")
    try:
        bed = BedRecord.load(name)
        base = _loop_cpu(name, bed, "/bin/true", k) / k
        rows = []
        for tool, cmd in COMMANDS:
            args = cmd.split(" ", 1)[1:] or [""]
            resident = _loop_cpu(name, bed, f"{TOOL_PATHS[tool]} {args[0]}", k) / k
            direct = _loop_cpu(name, bed, f"{DIRECT_DIR}/{tool} {args[0]}", k) / k
            rows.append({"command": cmd, "resident_ms": (resident - base) * 1000, "direct_ms": (direct - base) * 1000})
        return {"commands_each": k, "baseline_ms": base * 1000, "bedcost": rows, "lifecycle": cycle}
    finally:
        testbed.down(name)


def table(result: dict[str, Any]) -> str:
    lines = ["| command | bed CPU per command, resident helper | direct (Python per command) | ratio |",
             "|---|---|---|---|"]
    for r in result["bedcost"]:
        ratio = r["direct_ms"] / r["resident_ms"] if r["resident_ms"] > 0 else float("nan")
        lines.append(f"| `{r['command']}` | {r['resident_ms']:.1f} ms | {r['direct_ms']:.1f} ms | {ratio:.0f}x |")
    lines.append(f"\n(baseline subtracted: /bin/true in the same loop, {result['baseline_ms']:.1f} ms per run; "
                 f"{result['commands_each']} runs each)")
    cycle = result.get("lifecycle")
    if cycle:
        lines.append(f"\nbed lifecycle (CLI, one classic bed, median of {cycle['runs']}): up {cycle['up_s']:.2f} s, "
                     f"down {cycle['down_s']:.2f} s")
    return "\n".join(lines)
