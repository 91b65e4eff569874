"""Python API of the test bed (the CLI is a thin wrapper around it).

    from hack.testbed import api
    info = api.up("c1", mode="classic")
    api.exec_on("c1", "clu1", ["ps", "-ef"])
    api.fault("c1", "crash-node", "clu1")
    api.down("c1")
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import network, node_boot, node_fs, sshkeys
from . import variants as _variants
from .clp.protocol import request
from .config import (
    MODES,
    NETNS_PREFIX,
    START_STATES,
    BedRecord,
    NodeRecord,
    Timings,
    clusterd_socket,
    faults_file,
    list_beds,
    node_dir,
    shared_disk_dir,
    state_root,
)
from .jc import conf as jcconf
from .jc import guesses
from .nsexec import node_env, nsenter_argv
from .proc import is_alive, kill, wait_until

log = logging.getLogger("hack.testbed")

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")
FAULTS = ("crash-node", "cut-network", "heal", "kill-process", "unmount-disk", "rekey-host", "slow",
          "fail-command", "disk-failure", "fail-delivery", "webui-save")
CHARSETS = {"ascii": "clp-conf-ascii", "euc-jp": "clp-conf-euc-jp"}
# The switched disk is bind-mounted inside a node, so its mount point must be in a node overlay.
DISK_PARENTS = ("/mnt/", "/srv/", "/opt/", "/home/")


@contextlib.contextmanager
def _state_lock() -> Iterator[None]:
    root = state_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


# Subnets, bridges and network namespaces are machine-wide, while state folders are per checkout:
# two clones (CI beside a developer, parallel worktrees) must never pick the same K. A reservation
# file per K under one machine-wide folder, taken under one machine-wide lock, names the bed that
# holds it; a reservation whose bed folder no longer records that K is stale and reclaimed.
RESERVATIONS = Path("/run/jcop-testbed")


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    RESERVATIONS.mkdir(parents=True, exist_ok=True)
    with open(RESERVATIONS / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _reservation_live(k: int) -> bool:
    try:
        bed_dir = Path((RESERVATIONS / str(k)).read_text().strip())
        return bool(json.loads((bed_dir / "bed.json").read_text()).get("number") == k)
    except (OSError, ValueError):
        return False


def _reserve_number(bed_dir: Path) -> int:
    """Pick a free 10.200.K.0/24 for the bed that will live in ``bed_dir`` and record it machine-wide."""
    with _machine_lock():
        used = set()
        for name in list_beds():
            with contextlib.suppress(Exception):
                used.add(BedRecord.load(name).number)
        for k in range(1, 255):
            if k in used or network.link_exists(f"{NETNS_PREFIX}{k}-br"):
                continue
            if (RESERVATIONS / str(k)).exists() and (
                    _reservation_live(k) or time.time() - (RESERVATIONS / str(k)).stat().st_mtime < 120):
                continue  # held by a bed of another checkout, or being built right now
            (RESERVATIONS / str(k)).write_text(str(bed_dir))
            return k
    raise RuntimeError("no free 10.200.K.0/24 subnet left")


def _release_number(k: int, bed_dir: Path) -> None:
    with _machine_lock(), contextlib.suppress(OSError):
        if (RESERVATIONS / str(k)).read_text().strip() == str(bed_dir):
            (RESERVATIONS / str(k)).unlink()


def _agent_doc(bed: BedRecord) -> dict[str, Any]:
    return {"instanceId": bed.agent_instance_id, "instanceName": bed.agent_instance_name,
            "agentName": bed.agent_name, "unit": guesses.unit_name(bed.agent_instance_id)}


def info(bed: BedRecord) -> dict[str, Any]:
    """The JSON contract printed by `up` (and `list`). The top-level group keys describe the bed's
    first group (mode `standard`: the MG one); ``groups`` lists every group."""
    current: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        current = {g: st.get("current") for g, st in cluster_status(bed.name)["groups"].items()}
    groups = [{"name": bed.group, "execResource": bed.exec_resource, "databasePath": bed.database_path,
               "floatingIP": bed.floating_ip or None, "virtualHost": bed.virtual_host or None,
               "machineId": bed.machine_id if bed.has_manager else None,
               "activeNode": current.get(bed.group),
               "agent": _agent_doc(bed) if bed.mode == "standard-agent" else None}]
    if bed.mode == "standard":
        groups.append({"name": bed.agent_group, "execResource": bed.agent_exec_resource,
                       "databasePath": bed.agent_database_path, "floatingIP": None, "virtualHost": None,
                       "machineId": None, "activeNode": current.get(bed.agent_group),
                       "agent": _agent_doc(bed)})
    return {
        "name": bed.name,
        "nodes": [{"name": n.name, "address": n.address, "port": 22} for n in bed.nodes],
        "floatingIP": bed.floating_ip or None,
        "user": "root",
        "privateKeyFile": str(sshkeys.client_key(bed)),
        "knownHostsFile": str(sshkeys.known_hosts(bed)),
        "failoverGroup": bed.group,
        "execResource": bed.exec_resource,
        "databasePath": bed.database_path,
        "virtualHost": bed.virtual_host or None,
        "machineId": bed.machine_id,
        "activeNode": current.get(bed.group),
        "mode": bed.mode,
        "agent": _agent_doc(bed) if bed.mode == "standard-agent" else None,
        "groups": groups,
        "stateDir": str(bed.dir),
        "variants": {a.name: bed.variant(a.name) for a in _variants.AXES},
    }


# Defaults of the group options per mode (`standard`: the vendor guide's chapter 3 names).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "classic": {"database_path": "/mnt/sdb2", "virtual_host": "cluv", "group": "failover-jc",
                "exec_resource": "exec-jc", "machine_id": 114},
    "standard": {"database_path": "/mnt/jobmgdb", "virtual_host": "jcmgcluster", "group": "failover-jcmg",
                 "exec_resource": "exec-jcmg", "machine_id": 100, "agent_group": "failover-jcag",
                 "agent_exec_resource": "exec-jcag", "agent_database_path": "/mnt/jobagdb"},
}


def up(name: str, *, mode: str = "classic", nodes: int = 2, database_path: str | None = None,
       virtual_host: str | None = None, group: str | None = None, exec_resource: str | None = None,
       state: str = "fresh", realistic: bool = False, machine_id: int | None = None,
       agent_instance_id: str = "1", agent_instance_name: str = "clusterinstance",
       agent_name: str = "jcagcluster", agent_group: str | None = None,
       agent_exec_resource: str | None = None, agent_database_path: str | None = None,
       timings: Timings | None = None, variants: list[str] | None = None,
       charset: str | None = None) -> dict[str, Any]:
    """Build and start one simulated cluster; returns the `up` JSON document.

    Options left at None take the mode's defaults (``_DEFAULTS``; every mode but `standard` has the
    classic ones). ``agent_*`` group options apply to mode `standard` only. ``variants``: names from
    ``hack.testbed.variants`` (or ``all``); None = ``$JCOP_TESTBED_VARIANTS`` (comma-separated), so a
    whole test suite can run on a variant bed. ``charset``: ``ascii`` or ``euc-jp`` (clp.conf)."""
    if variants is None:
        variants = [v for v in os.environ.get("JCOP_TESTBED_VARIANTS", "").split(",") if v.strip()]
    chosen = _variants.normalize([v.strip() for v in variants])
    if charset is not None:
        if charset.lower() not in CHARSETS:
            raise ValueError(f"charset must be one of {sorted(CHARSETS)}")
        chosen = _variants.normalize([*chosen, CHARSETS[charset.lower()]])
    if not NAME_RE.match(name):
        raise ValueError(f"bad cluster name {name!r}: lower-case letters, digits and '-', max 20 chars")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    defaults = _DEFAULTS.get(mode, _DEFAULTS["classic"])
    database_path = database_path or defaults["database_path"]
    virtual_host = virtual_host or defaults["virtual_host"]
    group = group or defaults["group"]
    exec_resource = exec_resource or defaults["exec_resource"]
    machine_id = defaults["machine_id"] if machine_id is None else machine_id
    standard = mode == "standard"
    agent_group = (agent_group or defaults["agent_group"]) if standard else ""
    agent_exec_resource = (agent_exec_resource or defaults["agent_exec_resource"]) if standard else ""
    agent_database_path = (agent_database_path or defaults["agent_database_path"]).rstrip("/") if standard else ""
    if state not in START_STATES:
        raise ValueError(f"state must be one of {START_STATES}")
    if not 1 <= nodes <= 8:
        raise ValueError("nodes must be 1..8")
    for path in (database_path, agent_database_path) if standard else (database_path,):
        if not path.startswith(DISK_PARENTS) or ".." in path:
            raise ValueError(f"database path must be below one of {DISK_PARENTS}")
    if standard and (agent_group == group or agent_exec_resource == exec_resource
                     or agent_database_path == database_path.rstrip("/")):
        raise ValueError("mode standard: the AG group, exec resource and database path must differ from the MG ones")
    agent = mode == "standard-agent"
    with _state_lock():
        if (state_root() / name / "bed.json").exists():
            raise FileExistsError(f"cluster {name!r} is already up (run `down --name {name}` first)")
        k = _reserve_number((state_root() / name).resolve())
        bed = BedRecord(
            name=name, number=k, mode=mode,
            nodes=[NodeRecord(name=f"clu{i}", address=f"10.200.{k}.{10 + i}",
                              netns=f"{NETNS_PREFIX}{k}-clu{i}-ns", veth=f"{NETNS_PREFIX}{k}-clu{i}")
                   for i in range(1, nodes + 1)],
            bridge=f"{NETNS_PREFIX}{k}-br", floating_ip="" if agent else f"10.200.{k}.100",
            database_path=database_path.rstrip("/"), virtual_host="" if agent else virtual_host,
            group=group, exec_resource=exec_resource, machine_id=machine_id, start_state=state,
            agent_instance_id=agent_instance_id, agent_instance_name=agent_instance_name,
            agent_name=agent_name,
            timings=timings or (Timings.realistic() if realistic else Timings()),
            agent_group=agent_group, agent_exec_resource=agent_exec_resource,
            agent_database_path=agent_database_path, variants=chosen)
        if len(str(clusterd_socket(bed.dir))) > 100:
            raise ValueError(f"state folder path too long for a unix socket: {bed.dir}")
        bed.dir.mkdir(parents=True)
        bed.save()
    try:
        _build(bed)
    except BaseException:
        log.exception("up of %s failed; tearing down", name)
        down(name)
        raise
    return info(bed)


def _build(bed: BedRecord) -> None:
    t0 = time.monotonic()
    sshkeys.setup(bed)
    node_fs.populate(bed)
    if bed.start_state == "site-exists":
        jcconf.create_site(shared_disk_dir(bed), bed.virtual_host, bed.machine_id,
                           guesses.INSTALL_MODE[bed.mode], identity_keys=bed.has("site-identity-keys"))
    network.create(bed)
    launchers = {n.name: node_boot.launch(bed, n.name) for n in bed.nodes}
    bed.save()
    for n in bed.nodes:
        node_boot.find_init(bed, n.name, launchers[n.name])
    bed.save()
    for n in bed.nodes:
        node_boot.wait_ready(bed, n.name, launchers[n.name])
    log.info("nodes of %s up in %.2fs", bed.name, time.monotonic() - t0)
    _start_clusterd(bed)
    log.info("cluster %s up in %.2fs", bed.name, time.monotonic() - t0)


def _start_clusterd(bed: BedRecord) -> None:
    logf = open(bed.dir / "clusterd.log", "ab")
    p = subprocess.Popen([bed.python, "-m", "hack.testbed.clp.daemon", str(bed.dir)], cwd=bed.repo,
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": bed.repo,
                              "LANG": "C.UTF-8"})
    logf.close()
    bed.clusterd_pid = p.pid
    bed.save()

    def started() -> bool:
        if p.poll() is not None:
            raise RuntimeError("cluster daemon died:\n" + (bed.dir / "clusterd.log").read_text()[-3000:])
        try:
            return bool(request(clusterd_socket(bed.dir), {"op": "ping"}, timeout=1).get("started"))
        except OSError:
            return False

    wait_until(started, 30, interval=0.02, what=f"cluster daemon of {bed.name} (groups started)")


def _daemon(bed: BedRecord, msg: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    return request(clusterd_socket(bed.dir), msg, timeout=timeout)


def cluster_status(name: str) -> dict[str, Any]:
    bed = BedRecord.load(name)
    st: dict[str, Any] = _daemon(bed, {"op": "status"})["status"]
    return st


def _our_pids(bed: BedRecord) -> list[int]:
    """Recorded PIDs that still are ours (checked by command line: a PID may have been reused)
    plus every process in the cluster's network namespaces."""
    recorded = [bed.clusterd_pid] + [p for n in bed.nodes for p in (n.init_pid, n.launcher_pid)]
    pids = [p for p in recorded if p > 0 and _mentions_dir(p, bed.dir)]
    for n in bed.nodes:
        pids += network.netns_pids(n.netns)
    return pids


def down(name: str) -> dict[str, Any]:
    """Remove everything `up` made for this cluster. Kills only recorded PIDs + the netns' PIDs."""
    d = state_root() / name
    try:
        bed = BedRecord.load(name)
    except (LookupError, ValueError):
        if d.exists():
            shutil.rmtree(d)
        return {"name": name, "removed": d.exists() is False}
    t0 = time.monotonic()
    # the daemon first, so it does not react to the nodes going away
    if bed.clusterd_pid and is_alive(bed.clusterd_pid) and _mentions_dir(bed.clusterd_pid, bed.dir):
        kill([bed.clusterd_pid])
    pids = _our_pids(bed)
    kill(pids)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not any(is_alive(p) for p in _our_pids(bed)), 10, what="bed processes to exit")
    leftover = [p for p in _our_pids(bed) if is_alive(p)]
    network.destroy(bed)
    shutil.rmtree(bed.dir, ignore_errors=True)
    _release_number(bed.number, bed.dir.resolve())
    return {"name": name, "removed": True, "leftoverPids": leftover,
            "seconds": round(time.monotonic() - t0, 3)}


def _mentions_dir(pid: int, d: Path) -> bool:
    """Whether the process' command line names the state folder ``d`` (not merely a longer name)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    text = str(d)
    return any(text + sep in cmd + "\x00" for sep in ("/", "\x00", " "))


def down_all() -> list[dict[str, Any]]:
    return [down(n) for n in list_beds()]


def exec_on(name: str, node: str, argv: list[str], *, timeout: float = 120,
            input: str | None = None) -> dict[str, Any]:
    """Run ``argv`` inside the node's namespaces as root (no SSH)."""
    bed = BedRecord.load(name)
    n = bed.node(node)
    if not is_alive(n.init_pid):
        return {"exitStatus": 255, "stdout": "", "stderr": f"node {node} is down\n"}
    # errors="replace": a node file may be in another charset (an EUC-JP clp.conf); read bytes with node_path
    cp = subprocess.run(nsenter_argv(n.init_pid, argv), input=input, capture_output=True, encoding="utf-8",
                        errors="replace", env=node_env(), timeout=timeout, check=False)
    return {"exitStatus": cp.returncode, "stdout": cp.stdout, "stderr": cp.stderr}


def node_processes(name: str, node: str) -> list[dict[str, Any]]:
    """JobCenter-looking processes of a node: pid, ppid, comm, args (node's PID namespace view)."""
    r = exec_on(name, node, ["ps", "-eo", "pid=,ppid=,comm=,args="])
    out = []
    for line in r["stdout"].splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and ("/usr/lib/nqs" in parts[3] or parts[3].startswith("NQS ")):
            out.append({"pid": int(parts[0]), "ppid": int(parts[1]), "comm": parts[2], "args": parts[3]})
    return out


def status(name: str) -> dict[str, Any]:
    bed = BedRecord.load(name)
    st = cluster_status(name)
    nodes = {}
    for n in bed.nodes:
        alive = is_alive(n.init_pid)
        nodes[n.name] = {"alive": alive, "address": n.address,
                         "linkUp": network.link_up(n.veth),
                         "jobcenterProcesses": node_processes(name, n.name) if alive else []}
    return {**info(bed), "cluster": st, "nodeState": nodes,
            "floatingIPHolder": network.fip_holder(bed, bed.floating_ip) if bed.floating_ip else None}


def _faults(bed: BedRecord) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(faults_file(bed.dir).read_text())
    except (OSError, ValueError):
        data = {}
    data.setdefault("slow", {})
    data.setdefault("failCommand", {})
    data.setdefault("diskFailure", [])
    data.setdefault("failDelivery", [])
    return data


def _save_faults(bed: BedRecord, data: dict[str, Any]) -> None:
    tmp = faults_file(bed.dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(faults_file(bed.dir))


def fault(name: str, kind: str, node: str, arg: str | None = None) -> dict[str, Any]:
    """Inject a fault (see FAULTS); returns what was done."""
    bed = BedRecord.load(name)
    n = bed.node(node)
    result: dict[str, Any] = {"name": name, "fault": kind, "node": node}
    if kind == "crash-node":
        kill([n.init_pid])  # PID 1 of the node's PID namespace: the kernel kills the whole node
        wait_until(lambda: not is_alive(n.init_pid), 10, what=f"node {node} to die")
    elif kind == "cut-network":
        network.set_link(bed, node, up=False)
    elif kind == "heal":
        network.set_link(bed, node, up=True)
        f = _faults(bed)
        f["slow"].pop(node, None)
        f["failCommand"].pop(node, None)
        for key in ("diskFailure", "failDelivery"):
            f[key] = [x for x in f[key] if x != node]
        _save_faults(bed, f)
        if not is_alive(n.init_pid):
            _reboot(bed, node)
            result["rebooted"] = True
    elif kind == "kill-process":
        if not arg:
            raise ValueError("kill-process needs the exact process name")
        # comm is cut at 15 characters (jcexecutor_agent -> jcexecutor_agen); pkill -x compares
        # against comm, so a longer name would match nothing
        r = exec_on(name, node, ["pkill", "-KILL", "-e", "-x", arg[:15]])
        result["killed"] = [line for line in r["stdout"].splitlines() if line]
        if r["exitStatus"] not in (0, 1):
            raise RuntimeError(f"pkill failed: {r['stderr']}")
    elif kind == "unmount-disk":
        r = exec_on(name, node, ["umount", "-l", bed.database_path])
        result["exitStatus"], result["stderr"] = r["exitStatus"], r["stderr"]
    elif kind == "rekey-host":
        sshkeys.rekey(bed, node)
        # SIGHUP makes sshd re-exec itself with the new key; it stays PID 1 of the node
        kill([n.init_pid], signal.SIGHUP)
        new_key = sshkeys.host_key(bed, node).with_suffix(".pub").read_text().split()[1]

        def serves_new_key() -> bool:  # not just "accepts": the old listener may still answer
            cp = subprocess.run(["ssh-keyscan", "-T", "1", "-t", "ed25519", n.address], capture_output=True,
                                text=True, check=False)
            return new_key in cp.stdout

        wait_until(serves_new_key, 10, interval=0.02, what=f"sshd of {node} to serve its new host key")
        result["hostKey"] = sshkeys.host_key(bed, node).with_suffix(".pub").read_text().strip()
    elif kind == "slow":
        f = _faults(bed)
        seconds = float(arg or 0)
        if seconds > 0:
            f["slow"][node] = seconds
        else:
            f["slow"].pop(node, None)
        _save_faults(bed, f)
    elif kind == "fail-command":
        if not arg:
            raise ValueError("fail-command needs a tool name (e.g. clpcfctrl, cjcpw)")
        f = _faults(bed)
        f["failCommand"].setdefault(node, [])
        if arg not in f["failCommand"][node]:
            f["failCommand"][node].append(arg)
        _save_faults(bed, f)
    elif kind in ("disk-failure", "fail-delivery"):
        # disk-failure: the group's disk does not attach on that node from its next activation on;
        # the exec scripts get CLP_DISK=FAILURE. fail-delivery: clpcfctrl cannot deliver to it.
        f = _faults(bed)
        key = "diskFailure" if kind == "disk-failure" else "failDelivery"
        if node not in f[key]:
            f[key].append(node)
        _save_faults(bed, f)
    elif kind == "webui-save":
        r = _daemon(bed, {"op": "webui-save", "node": node})
        if r.get("rc"):
            raise RuntimeError(r.get("stderr", "webui-save failed"))
    else:
        raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
    return result


def _reboot(bed: BedRecord, node: str) -> None:
    """Boot a crashed node again (its netns and veth survived); it rejoins the cluster as standby."""
    n = bed.node(node)
    kill(network.netns_pids(n.netns))
    launcher = node_boot.launch(bed, node, reboot=True)
    node_boot.find_init(bed, node, launcher)
    node_boot.wait_ready(bed, node, launcher)
    bed.save()
    _daemon(bed, {"op": "node-rebooted", "node": node, "initPid": n.init_pid})
    # the daemon's node watch notices the node and delivers the current configuration to it
    wait_until(lambda: cluster_status(bed.name)["servers"][node]["alive"], 10, interval=0.02,
               what=f"cluster to see {node} again")


def list_clusters() -> list[dict[str, Any]]:
    out = []
    for name in list_beds():
        try:
            out.append(info(BedRecord.load(name)))
        except Exception as ex:
            out.append({"name": name, "error": str(ex)})
    return out


def node_path(name: str, node: str, path: str) -> Path:
    """Host-side path of a node-private file (for tests that inspect node files without SSH)."""
    from .config import node_private

    return node_private(BedRecord.load(name), node, path)


__all__ = ["FAULTS", "cluster_status", "down", "down_all", "exec_on", "fault", "info", "list_clusters",
           "node_dir", "node_path", "node_processes", "status", "up"]
