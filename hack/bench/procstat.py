"""CPU and memory of processes from /proc: the operator, the API stand-in, and the whole test bed."""

from __future__ import annotations

import os
from pathlib import Path

from hack.testbed.config import BedRecord

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from 3 (state) on


def cpu_seconds(pid: int, children: bool = True) -> float:
    """utime+stime (and cutime+cstime: reaped children) of a process, in seconds; 0 if it is gone."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    if children:
        ticks += int(f[13]) + int(f[14])  # cutime, cstime
    return ticks / CLK_TCK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pid_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def bed_cpu_seconds(beds: list[BedRecord]) -> float:
    """All CPU the beds used so far: every process in the nodes' PID namespaces plus each cluster
    daemon, counting what they reaped (a command's process ends up in its parent's cutime)."""
    namespaces = {ns for b in beds for n in b.nodes if (ns := _pid_ns(n.init_pid))}
    total = sum(cpu_seconds(b.clusterd_pid) for b in beds if b.clusterd_pid)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and _pid_ns(int(entry.name)) in namespaces:
            total += cpu_seconds(int(entry.name))
    return total


def veth_bytes(beds: list[BedRecord]) -> int:
    """Bytes through the nodes' links (both directions, host side of each veth)."""
    total = 0
    for b in beds:
        for n in b.nodes:
            base = Path(f"/sys/class/net/{n.veth}/statistics")
            try:
                total += int((base / "rx_bytes").read_text()) + int((base / "tx_bytes").read_text())
            except OSError:
                pass
    return total
