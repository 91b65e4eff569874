"""Bed layout on disk and the per-cluster record (``bed.json``) shared by host and node tools.

Every path the bed creates lives under one state folder per cluster, so ``down`` can remove
everything by removing that folder (after the namespaces and processes are gone).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
NETNS_PREFIX = "jcb"
SUBNET = "10.200"  # cluster K gets 10.200.K.0/24
MODES = ("classic", "standard-manager", "standard-agent", "standard")
# `standard`: MG and AG installed on every node, two failover groups (the MG one described by the
# BedRecord's group fields, the AG one by its agent_* fields).
START_STATES = ("fresh", "local-running", "site-exists", "no-vhost-dns")

# Node-private product trees: bind-mounted from the node's folder, so the host side can seed
# and inspect them while the node sees them at the real paths.
PRIVATE_DIRS = ("usr/lib/nqs", "opt/nec/clusterpro", "etc/opt/nec")
# Copy-on-write overlays (lower = host dir): writes inside a node never reach the host.
# /usr/bin and /usr/sbin are overlaid so jcagctrl, systemctl and clp* can sit at their real paths.
OVERLAY_DIRS = ("etc", "home", "usr/lib", "usr/bin", "usr/sbin", "usr/local", "opt", "mnt", "root", "srv", "var")
# Private tmpfs in every node (a staging dir in /tmp must neither reach the host nor the other node).
TMPFS_DIRS = ("run", "tmp")


def state_root() -> Path:
    env = os.environ.get("JCOP_TESTBED_STATE")
    return Path(env) if env else REPO_ROOT / ".state" / "testbed"


@dataclass
class Timings:
    """Simulated durations in seconds. ``--realistic`` switches to what real nodes take."""

    cjcpw_stop: float = 2.0  # real: 60-120 s (node-protocol 2.3)
    nqsstop: float = 0.2
    monitor_interval_cap: float = 1.0  # monitors poll at min(clp.conf interval, cap); 0 = no cap
    # how often the cluster daemon checks that node inits are alive and links up, where it cannot
    # wait for the kernel's events (pidfd, rtnetlink; with them it notices at once)
    node_watch: float = 0.25

    @classmethod
    def realistic(cls) -> Timings:
        return cls(cjcpw_stop=90.0, nqsstop=5.0, monitor_interval_cap=0.0, node_watch=1.0)


@dataclass
class NodeRecord:
    name: str
    address: str
    netns: str
    veth: str
    init_pid: int = 0  # root-namespace PID of the node's PID 1 (sshd)
    launcher_pid: int = 0  # the `unshare` process that forked the init


@dataclass
class BedRecord:
    name: str
    number: int
    mode: str
    nodes: list[NodeRecord]
    bridge: str
    floating_ip: str
    database_path: str
    virtual_host: str
    group: str
    exec_resource: str
    machine_id: int
    start_state: str
    agent_instance_id: str
    agent_instance_name: str
    agent_name: str
    timings: Timings = field(default_factory=Timings)
    python: str = sys.executable
    repo: str = str(REPO_ROOT)
    clusterd_pid: int = 0
    # mode `standard` only: the agent's own failover group (disk, exec, no floating IP)
    agent_group: str = ""
    agent_exec_resource: str = ""
    agent_database_path: str = ""
    # alternatives of guessed formats/rules asked for with `up --variant` (hack/testbed/variants.py)
    variants: list[str] = field(default_factory=list)

    def variant(self, axis: str) -> str:
        """The choice in effect on a variant axis (its default unless `up --variant` chose another)."""
        from .variants import effective

        return effective(self.variants, axis)

    def has(self, choice: str) -> bool:
        from .variants import axis_of

        return self.variant(axis_of(choice).name) == choice

    @property
    def has_manager(self) -> bool:
        return self.mode != "standard-agent"

    @property
    def has_agent(self) -> bool:
        return self.mode in ("standard-agent", "standard")

    @property
    def agent_data_path(self) -> str:
        """Where the agent instance keeps its data (its group's switched disk)."""
        return self.agent_database_path if self.mode == "standard" else self.database_path

    @property
    def disk_name(self) -> str:
        """The disk resource of the bed's (first) group; its shared folder is ``shared/disk``."""
        return "disk-jcmg" if self.mode == "standard" else "disk-jc"

    # --- paths -------------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return state_root() / self.name

    @property
    def subnet(self) -> str:
        return f"{SUBNET}.{self.number}"

    @property
    def bridge_ip(self) -> str:
        return f"{self.subnet}.1"

    def node(self, name: str) -> NodeRecord:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in cluster {self.name!r} (nodes: {[n.name for n in self.nodes]})")

    # --- (de)serialisation --------------------------------------------------------------------
    def save(self) -> None:
        tmp = self.dir / "bed.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.dir / "bed.json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BedRecord:
        data = dict(data)
        data["nodes"] = [NodeRecord(**n) for n in data["nodes"]]
        data["timings"] = Timings(**data["timings"])
        return cls(**data)

    @classmethod
    def load(cls, name: str) -> BedRecord:
        path = state_root() / name / "bed.json"
        if not path.exists():
            raise LookupError(f"no test-bed cluster named {name!r} (looked for {path})")
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def load_dir(cls, cluster_dir: Path) -> BedRecord:
        return cls.from_dict(json.loads((cluster_dir / "bed.json").read_text()))


def node_dir(bed: BedRecord, node: str) -> Path:
    return bed.dir / "nodes" / node


def node_private(bed: BedRecord, node: str, path: str) -> Path:
    """Host-side path of a node-private file, e.g. ``node_private(bed, 'clu1', '/usr/lib/nqs/x')``."""
    rel = path.lstrip("/")
    for d in PRIVATE_DIRS:
        if rel == d or rel.startswith(d + "/"):
            return node_dir(bed, node) / "root" / rel
    raise ValueError(f"{path} is not in a node-private directory {PRIVATE_DIRS}")


def shared_disk_dir(bed: BedRecord) -> Path:
    return bed.dir / "shared" / "disk"


def clusterd_socket(cluster_dir: Path) -> Path:
    return cluster_dir / "clpd.sock"


def faults_file(cluster_dir: Path) -> Path:
    return cluster_dir / "faults.json"


def list_beds() -> list[str]:
    root = state_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "bed.json").exists())
