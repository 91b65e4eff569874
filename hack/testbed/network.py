"""Per-cluster bridge, one veth pair + named network namespace per node (root netns side)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .config import BedRecord
from .proc import run


def _batch(cmds: list[str], check: bool = True, netns: str | None = None) -> None:
    """Run many ``ip`` commands in one process (one fork instead of dozens: keeps ``up`` fast)."""
    if not cmds:
        return
    ns = ["-n", netns] if netns else []
    cp = subprocess.run(["ip", *ns, "-force", "-batch", "-"], input="\n".join(cmds) + "\n",
                        capture_output=True, text=True, check=False)
    if check and cp.returncode != 0:
        raise RuntimeError(f"ip -batch failed: {cp.stderr.strip()}")


def create(bed: BedRecord) -> None:
    cmds = [
        f"link add {bed.bridge} type bridge",
        f"addr add {bed.bridge_ip}/24 dev {bed.bridge}",
        f"link set {bed.bridge} up",
    ]
    for n in bed.nodes:
        cmds += [
            f"netns add {n.netns}",
            f"link add {n.veth} type veth peer name eth0 netns {n.netns}",
            f"link set {n.veth} master {bed.bridge}",
            f"link set {n.veth} up",
        ]
    _batch(cmds)
    for n in bed.nodes:
        _batch([f"addr add {n.address}/24 dev eth0", "link set eth0 up", "link set lo up"], netns=n.netns)


def destroy(bed: BedRecord) -> None:
    """Delete netns (and with it the node veth ends) and the bridge; missing pieces are fine."""
    cmds = [f"netns del {n.netns}" for n in bed.nodes if netns_exists(n.netns)]
    cmds += [f"link del {n.veth}" for n in bed.nodes if link_exists(n.veth)]
    _batch(cmds, check=False)
    if link_exists(bed.bridge):
        _batch([f"link del {bed.bridge}"], check=False)


def netns_exists(name: str) -> bool:
    return Path(f"/run/netns/{name}").exists()


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def link_up(name: str) -> bool:
    """Administratively up (``ip link set ... down`` is what `fault cut-network` does)."""
    try:
        flags = int(Path(f"/sys/class/net/{name}/flags").read_text(), 16)
    except (OSError, ValueError):
        return False
    return bool(flags & 0x1)  # IFF_UP


def netns_pids(name: str) -> list[int]:
    if not netns_exists(name):
        return []
    cp = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in cp.stdout.split()]


def set_link(bed: BedRecord, node: str, up: bool) -> None:
    run(["ip", "link", "set", bed.node(node).veth, "up" if up else "down"])


def fip_add(bed: BedRecord, node: str, ip: str) -> None:
    n = bed.node(node)
    run(["ip", "-n", n.netns, "addr", "replace", f"{ip}/24", "dev", "eth0"])
    flush_neigh(bed, ip)


def fip_del(bed: BedRecord, node: str, ip: str) -> None:
    n = bed.node(node)
    run(["ip", "-n", n.netns, "addr", "del", f"{ip}/24", "dev", "eth0"], check=False)
    flush_neigh(bed, ip)


def flush_neigh(bed: BedRecord, ip: str) -> None:
    # No GARP tool on the host: forget the stale MAC everywhere instead (feasibility A.5.7),
    # so the new owner answers at once.
    run(["ip", "neigh", "flush", "to", ip], check=False)
    for n in bed.nodes:
        if netns_exists(n.netns):
            run(["ip", "-n", n.netns, "neigh", "flush", "to", ip], check=False)


def fip_holder(bed: BedRecord, ip: str) -> str | None:
    for n in bed.nodes:
        if not netns_exists(n.netns):
            continue
        cp = run(["ip", "-n", n.netns, "-o", "addr", "show", "dev", "eth0"], check=False)
        if f" {ip}/" in cp.stdout:
            return n.name
    return None
