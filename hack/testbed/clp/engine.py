"""The simulated CLUSTERPRO cluster: group activation, exec scripts, monitors, recovery, failover.

One Engine per cluster runs in the cluster daemon (host side, root namespaces). Everything that
happens on a node (mount, scripts) is done inside that node with nsenter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import network
from ..config import BedRecord, faults_file, node_private, shared_disk_dir
from ..nsexec import node_env, nsenter_argv
from ..proc import is_alive, kill, tree
from . import conf as clpconf
from . import guesses, services

log = logging.getLogger("clusterd")

SCRIPTS = "/opt/nec/clusterpro/scripts"
LOGS = "/opt/nec/clusterpro/log"


def _open_log(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


@dataclass
class RscState:
    status: str = "Offline"
    proc: asyncio.subprocess.Process | None = None  # async exec start script (its nsenter parent)


@dataclass
class GroupState:
    status: str = "Offline"
    current: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    resources: dict[str, RscState] = field(default_factory=dict)


@dataclass
class MonState:
    status: str = "Offline"
    per_server: dict[str, str] = field(default_factory=dict)
    fails: int = 0
    restarts: dict[str, int] = field(default_factory=dict)
    fo_used: int = 0
    next_due: float = 0.0
    suspended: bool = False
    checks: int = 0  # checks run
    skipped: int = 0  # checks due while the cluster or the monitor was suspended


@dataclass
class ServerState:
    alive: bool = True
    service: bool = True
    # clpcl -r option (--web, --alert, --ib, --api) -> the clp.conf its service loaded (clp/services.py)
    loaded: dict[str, bytes] = field(default_factory=dict)


class Engine:
    def __init__(self, bed: BedRecord, conf: clpconf.ClusterConf, files: dict[str, tuple[bytes, int]]):
        self.bed = bed
        self.conf = conf
        self.files = files  # master copy of the pushed configuration: rel path -> (data, mode)
        self.pending: tuple[clpconf.ClusterConf, dict[str, tuple[bytes, int]]] | None = None
        self.suspended = False
        self.deferred_lost: set[str] = set()  # servers lost while suspended: failed over at resume
        self.servers = {n.name: ServerState(alive=is_alive(n.init_pid)) for n in bed.nodes}
        for st in self.servers.values():  # the services loaded the configuration the bed came up with
            st.loaded = {o: files["clp.conf"][0] for o in services.OPTIONS if "clp.conf" in files}
        self.groups: dict[str, GroupState] = {}
        self.monitors: dict[str, MonState] = {}
        # Set whenever something may have made a monitor due earlier or a node's state changed: the
        # monitor loop sleeps until the next check is due or this is set, the node watch until the
        # kernel reports an event (see node_watch_loop) or this is set. An idle bed sleeps.
        self._monitor_wake = asyncio.Event()
        self._node_wake = asyncio.Event()
        self._sync_state()

    # ------------------------------------------------------------------ state bookkeeping
    def poke(self) -> None:
        """Wake the monitor loop and the node watch to look again (a request changed something)."""
        self._monitor_wake.set()
        self._node_wake.set()

    def _sync_state(self) -> None:
        for g in self.conf.groups.values():
            gs = self.groups.setdefault(g.name, GroupState())
            for _t, r in g.members:
                gs.resources.setdefault(r, RscState())
            for r in list(gs.resources):
                if r not in {n for _t, n in g.members}:
                    del gs.resources[r]
        for name in list(self.groups):
            if name not in self.conf.groups:
                del self.groups[name]
        for m in self.conf.monitors:
            self.monitors.setdefault(m, MonState())
        for m in list(self.monitors):
            if m not in self.conf.monitors:
                del self.monitors[m]
        self._monitor_wake.set()  # new monitors are due at once

    def online_servers(self) -> list[str]:
        return [s for s in self.conf.servers if s in self.servers and self.servers[s].alive
                and self.servers[s].service]

    def init_pid(self, node: str) -> int:
        return self.bed.node(node).init_pid

    def next_server(self, group: str, exclude: set[str]) -> str | None:
        for s in self.conf.groups[group].policy:
            if s in self.online_servers() and s not in exclude:
                return s
        return None

    # ------------------------------------------------------------------ running things in nodes
    async def node_run(self, node: str, argv: list[str], *, env: dict[str, str] | None = None,
                       cwd: str = "/", log_path: Path | None = None, wait: bool = True,
                       limit: float | None = None) -> tuple[int, asyncio.subprocess.Process]:
        out = _open_log(log_path) if log_path else asyncio.subprocess.DEVNULL
        try:
            proc = await asyncio.create_subprocess_exec(
                *nsenter_argv(self.init_pid(node), argv, cwd=cwd), stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=out if log_path else asyncio.subprocess.DEVNULL, env=node_env(env),
                start_new_session=True)
        finally:
            if log_path:
                os.close(out)
        if not wait:
            return 0, proc
        try:
            rc = await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:
            kill(tree(proc.pid))
            await proc.wait()
            rc = -1
        return rc, proc

    def _log(self, node: str, name: str) -> Path:
        p = node_private(self.bed, node, f"{LOGS}/{name}.log")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def faults(self) -> dict[str, Any]:
        """Injected faults the cluster itself acts on (api.fault writes them)."""
        try:
            data: dict[str, Any] = json.loads(faults_file(self.bed.dir).read_text())
        except (OSError, ValueError):
            data = {}
        return data

    def disk_failed(self, node: str) -> bool:
        return node in self.faults().get("diskFailure", [])

    def _script_env(self, group: str, rsc: str, node: str, event: str) -> dict[str, str]:
        """node-protocol 3.3: CLP_EVENT START|FAILOVER; CLP_DISK SUCCESS, or the failure word when
        `fault disk-failure` keeps the group's disk from attaching; CLP_SERVER HOME|OTHER."""
        home = guesses.clp_server_home(self.bed.variant("clp-server"), self.conf.groups[group].policy,
                                       self.conf.servers)
        disk = guesses.CLP_DISK_FAILURE[self.bed.variant("clp-disk-failure")] if self.disk_failed(node) \
            else "SUCCESS"
        return {"CLP_EVENT": event, "CLP_DISK": disk,
                "CLP_SERVER": "HOME" if node == home else guesses.CLP_SERVER_OTHER,
                "CLP_GROUPNAME": group, "CLP_RESOURCENAME": rsc, "CLP_PATH": "/opt/nec/clusterpro"}

    def _script_path(self, group: str, r: clpconf.Resource, key: str, default: str) -> str:
        p = r.get(f"parameters/{key}/path", default)
        return p if p.startswith("/") else f"{SCRIPTS}/{group}/{r.name}/{p}"

    # ------------------------------------------------------------------ resources
    async def start_rsc(self, group: str, r: clpconf.Resource, node: str, event: str) -> bool:
        rs = self.groups[group].resources[r.name]
        rs.status = "Online Pending"
        ok = True
        if r.type == "fip":
            network.fip_add(self.bed, node, r.get("parameters/ip"))
        elif r.type == "disk":
            mp = r.get("parameters/mount/point")
            # the bed's own disk resource uses shared/disk; any other disk resource gets its own folder
            own = r.name == self.bed.disk_name
            src = shared_disk_dir(self.bed) if own else self.bed.dir / "shared" / f"disk-{r.name}"
            src.mkdir(parents=True, exist_ok=True)
            if self.disk_failed(node):
                # The partition did not attach: what CLUSTERPRO does then is guessed (clp/guesses.py).
                log.warning("disk %s on %s: not attached (fault disk-failure)", r.name, node)
                rs.status = guesses.DISK_NOT_ATTACHED_STATUS
                return True
            rc, _ = await self.node_run(node, ["/bin/sh", "-c", 'mkdir -p "$1" && mount --bind "$2" "$1"', "sh",
                                               mp, str(src)])
            ok = rc == 0
        elif r.type == "exec":
            path = self._script_path(group, r, "act", "start.sh")
            logp = self._log(node, r.name)
            _append(logp, f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {path} CLP_EVENT={event}\n")
            cwd = os.path.dirname(path)
            env = self._script_env(group, r.name, node, event)
            if r.get("parameters/act/sync", "1") == "0":
                _rc, proc = await self.node_run(node, [path], env=env, cwd=cwd, log_path=logp, wait=False)
                rs.proc = proc
            else:
                timeout = float(r.get("parameters/timeout/start", "1800") or 1800)
                rc, _p = await self.node_run(node, [path], env=env, cwd=cwd, log_path=logp, limit=timeout)
                ok = rc == 0
                if not ok:
                    log.warning("exec %s start.sh on %s exited %s", r.name, node, rc)
        rs.status = "Online" if ok else "Online Failure"
        return ok

    async def stop_rsc(self, group: str, r: clpconf.Resource, node: str, event: str) -> bool:
        rs = self.groups[group].resources[r.name]
        ok = True
        node_up = self.servers[node].alive and is_alive(self.init_pid(node))
        rs.status = "Offline Pending"
        if r.type == "fip":
            network.fip_del(self.bed, node, r.get("parameters/ip"))
        elif r.type == "disk" and node_up:
            mp = r.get("parameters/mount/point")
            rc, _ = await self.node_run(node, ["/bin/sh", "-c",
                                               'if mountpoint -q "$1"; then umount "$1" || umount -l "$1"; fi',
                                               "sh", mp])
            ok = rc == 0
        elif r.type == "exec":
            if node_up:
                path = self._script_path(group, r, "deact", "stop.sh")
                logp = self._log(node, r.name)
                _append(logp, f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} stop {path} CLP_EVENT={event}\n")
                env = self._script_env(group, r.name, node, event)
                if rs.proc is not None:
                    env["CLP_PID"] = str(rs.proc.pid)
                if r.get("parameters/deact/sync", "1") == "0":
                    await self.node_run(node, [path], env=env, cwd=os.path.dirname(path), log_path=logp,
                                        wait=False)
                else:
                    timeout = float(r.get("parameters/timeout/stop", "1800") or 1800)
                    for _attempt in range(int(r.get("deact/retry", "0") or 0) + 1):
                        rc, _p = await self.node_run(node, [path], env=env, cwd=os.path.dirname(path),
                                                     log_path=logp, limit=timeout)
                        ok = rc == 0
                        if ok:
                            break
                    if not ok:
                        log.warning("exec %s stop.sh on %s exited %s", r.name, node, rc)
            if rs.proc is not None:
                # What is left of the async start script's tree is killed once stop.sh returned.
                if rs.proc.returncode is None:
                    kill(tree(rs.proc.pid), signal.SIGKILL)
                    try:
                        await asyncio.wait_for(rs.proc.wait(), 10)
                    except TimeoutError:
                        log.error("start script tree of %s did not die", r.name)
                rs.proc = None
        rs.status = "Offline" if ok else "Offline Failure"
        return ok

    # ------------------------------------------------------------------ groups (call with lock held)
    async def _activate(self, group: str, node: str, event: str) -> clpconf.Resource | None:
        gs = self.groups[group]
        gs.status, gs.current = "Online Pending", node
        for r in self.conf.start_order(group):
            retries = int(r.get("act/retry", "0") or 0)
            for _attempt in range(retries + 1):
                if await self.start_rsc(group, r, node, event):
                    break
            else:
                gs.status = "Online Failure"
                return r
        gs.status = "Online"
        return None

    async def _deactivate(self, group: str, event: str) -> bool:
        gs = self.groups[group]
        node = gs.current
        if node is None:
            gs.status = "Offline"
            return True
        gs.status = "Offline Pending"
        for r in reversed(self.conf.start_order(group)):
            if gs.resources[r.name].status == "Offline":
                continue
            if not await self.stop_rsc(group, r, node, event):
                # deactivation failure action (node-protocol 4.2: deact/action, default 4)
                action = int(r.get("deact/action", str(guesses.DEACT_ACTION_DEFAULT)) or 0)
                if action == 0:  # "none (deactivate the next resource)"
                    continue
                gs.status = "Offline Failure"
                if action >= 3:
                    self._deact_failure_action(node, r.name, action)
                return False
        gs.status, gs.current = "Offline", None
        for m in self.conf.monitors_for_group(group):
            self.monitors[m.name].fails = 0
        return True

    async def start_group(self, group: str, node: str, event: str) -> bool:
        """Activate on ``node``; on an activation failure fail over per the resource's act/fo."""
        tried: set[str] = set()
        fo_used = 0
        while True:
            tried.add(node)
            failed = await self._activate(group, node, event)
            if failed is None:
                return True
            limit = int(failed.get("act/fo", "1") or 0)
            nxt = self.next_server(group, tried)
            if fo_used >= limit or nxt is None:
                log.warning("group %s: activation of %s failed on %s, no failover left", group, failed.name, node)
                return False
            fo_used += 1
            log.warning("group %s: activation of %s failed on %s, failing over to %s", group, failed.name, node, nxt)
            if not await self._deactivate(group, "FAILOVER"):
                return False
            node, event = nxt, "FAILOVER"

    async def failover(self, group: str, reason: str) -> bool:
        gs = self.groups[group]
        src = gs.current
        nxt = self.next_server(group, {src} if src else set())
        log.warning("group %s: failover from %s to %s (%s)", group, src, nxt, reason)
        if not await self._deactivate(group, "FAILOVER"):
            return False
        if nxt is None:
            return False
        return await self.start_group(group, nxt, "FAILOVER")

    # ------------------------------------------------------------------ node loss
    def _deact_failure_action(self, node: str, rsc: str, action: int) -> None:
        """3: stop the cluster service on ``node`` (its groups fail over); 4 (default), 5 and the
        hardware codes: stop the service and shut the server down: the bed powers the node off
        (its init is killed; `fault heal` boots it), the node watch fails its groups over."""
        if action == 3:
            log.warning("resource %s failed to stop on %s: deact action 3, cluster service stops", rsc, node)
            self.servers[node].service = False
            asyncio.get_running_loop().create_task(self._evacuate(node, fence=True))
        else:
            log.warning("resource %s failed to stop on %s: deact action %d, the server shuts down",
                        rsc, node, action)
            kill([self.init_pid(node)])

    async def node_lost(self, node: str, isolated: bool = False) -> None:
        """A server left the cluster: its init died, or (``isolated``) its network was cut.

        GUESS for a cut network (variant axis isolation): isolation-self-fence (default) = the
        isolated server loses every heartbeat, fences itself (resources stopped without scripts:
        start-script tree killed, disk unmounted, FIP removed) and stays up; isolation-shutdown = it
        shuts down (its init is killed). Either way the others take its groups over. A suspended
        cluster fails nothing over until `clpcl --resume`.
        """
        log.warning("server %s is %s", node, "isolated (network cut)" if isolated else "down")
        self.servers[node].alive = False
        if isolated and guesses.isolated_server_shuts_down(self.bed.variant("isolation")):
            kill([self.init_pid(node)])
            isolated = False
        if self.suspended:
            self.deferred_lost.add(node)
            log.warning("cluster suspended: failover of %s's groups waits for the resume", node)
            return
        await self._evacuate(node, fence=isolated)

    async def _evacuate(self, node: str, fence: bool) -> None:
        """Take every group of ``node`` down without scripts and start it on the next server."""
        for gname, gs in self.groups.items():
            if gs.current != node:
                continue
            async with gs.lock:
                if gs.current != node:
                    continue
                for r in self.conf.start_order(gname):
                    rs = gs.resources[r.name]
                    if r.type == "fip":
                        network.fip_del(self.bed, node, r.get("parameters/ip"))
                    if rs.proc is not None and rs.proc.returncode is None:
                        kill(tree(rs.proc.pid))
                    if r.type == "disk" and fence and is_alive(self.init_pid(node)):
                        await self.node_run(node, ["umount", "-l", r.get("parameters/mount/point")])
                    rs.proc, rs.status = None, "Offline"
                gs.status, gs.current = "Offline", None
                nxt = self.next_server(gname, {node})
                if nxt:
                    await self.start_group(gname, nxt, "FAILOVER")

    async def resume(self) -> None:
        """`clpcl --resume`: the configuration pushed while suspended takes effect, monitors start
        afresh, and servers lost meanwhile have their groups failed over now."""
        if self.pending:
            self.conf, self.files = self.pending
            self.pending = None
            self._sync_state()
        for ms in self.monitors.values():
            ms.fails, ms.next_due = 0, 0.0
        self.suspended = False
        self._monitor_wake.set()
        lost, self.deferred_lost = self.deferred_lost, set()
        for node in sorted(lost):
            if not self.servers[node].alive:
                await self._evacuate(node, fence=is_alive(self.init_pid(node)))

    async def node_back(self, node: str) -> None:
        log.info("server %s is up again", node)
        self.servers[node].alive = True
        self.servers[node].service = True
        self.deferred_lost.discard(node)
        self.deliver_to(node, self.pending[1] if self.pending else None)

    # ------------------------------------------------------------------ configuration delivery
    def deliver_to(self, node: str, files: dict[str, tuple[bytes, int]] | None = None) -> None:
        """Install the configuration on one node (clp.conf + the scripts tree, replaced as a whole).

        Each file is replaced atomically (temporary file + rename) and files no longer delivered are
        removed afterwards, so a monitor script of another group that runs meanwhile (a genw of an
        online group while a push changes an offline one) never finds its script missing."""
        files = self.files if files is None else files
        base = node_private(self.bed, node, "/opt/nec/clusterpro")
        scripts = base / "scripts"
        wanted: set[Path] = set()
        for rel, (data, mode) in files.items():
            dst = base / "etc" / "clp.conf" if rel == "clp.conf" else base / rel
            wanted.add(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.jcb-new")
            tmp.write_bytes(data)
            os.chmod(tmp, mode)
            os.replace(tmp, dst)
        if scripts.exists():
            for path in sorted(scripts.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir() and not path.is_symlink():
                    if not any(path.iterdir()):
                        path.rmdir()
                elif path not in wanted:
                    path.unlink()

    def current_files(self) -> dict[str, tuple[bytes, int]]:
        """What is installed on the nodes (a push while suspended is installed at once)."""
        return self.pending[1] if self.pending else self.files

    def deliver_all(self, nodes: list[str], files: dict[str, tuple[bytes, int]]) -> str | None:
        """Deliver to every node or to none: stage the whole tree on each node first; if any node
        cannot take it (`fault fail-delivery`), drop the staged copies and name that node."""
        failing = set(self.faults().get("failDelivery", []))
        staged: list[Path] = []
        try:
            for node in nodes:
                if node in failing:
                    log.warning("delivery to %s fails (fault fail-delivery)", node)
                    return node
                stage = node_private(self.bed, node, "/opt/nec/clusterpro/work/.jcb-push")
                if stage.exists():
                    shutil.rmtree(stage)
                stage.mkdir(parents=True)
                staged.append(stage)
                for rel, (data, mode) in files.items():
                    dst = stage / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(data)
                    os.chmod(dst, mode)
            for node in nodes:
                self.deliver_to(node, files)
            return None
        finally:
            for stage in staged:
                shutil.rmtree(stage, ignore_errors=True)

    # ------------------------------------------------------------------ monitors
    def effective_interval(self, m: clpconf.Monitor) -> float:
        iv = float(m.get("polling/interval", "60") or 60)
        cap = self.bed.timings.monitor_interval_cap
        return min(iv, cap) if cap > 0 else iv

    async def check_monitor(self, m: clpconf.Monitor) -> None:
        ms = self.monitors[m.name]
        if m.type == "userw":
            ms.status = "Normal"
            ms.per_server = {s: "Online" for s in self.online_servers()}
            return
        group = self.conf.group_of(m.target) if m.target else None
        active_time = m.get("polling/timing") == "1" or m.type == "pidw"
        if group is None or not active_time:
            # always-on monitor (polling/timing 0): checked on every server of the cluster
            if m.type != "genw":
                ms.status = "Normal"
                return
            for srv in self.online_servers():
                error = await self._genw(m, srv)
                ms.per_server[srv] = "Error" if error else "Online"
                if await self._judge(m, srv, error):
                    return
            return
        gs = self.groups[group]
        tgt = gs.resources[m.target]
        node = gs.current
        if gs.lock.locked():
            return  # an operation on the group is running: not an error (pidw is active-time only)
        if node is None or tgt.status != "Online":
            ms.status, ms.per_server, ms.fails = "Offline", {}, 0
            return
        ms.per_server = {node: "Online"}
        error = ""
        if m.type == "pidw":
            if tgt.proc is None:
                ms.status = "Warning"  # target was started synchronously: no PID to watch
                return
            if tgt.proc.returncode is not None:
                error = f"process {tgt.proc.pid} of {m.target} is gone (exit {tgt.proc.returncode})"
        elif m.type == "genw":
            error = await self._genw(m, node)
            if gs.lock.locked() or gs.current != node or tgt.status != "Online":
                return  # the group changed while the script ran
        await self._judge(m, node, error)

    async def _genw(self, m: clpconf.Monitor, node: str) -> str:
        """Run a synchronous custom monitor script once on ``node``; '' = normal, else the error."""
        path = m.get("parameters/path", "genw.sh")
        if not path.startswith("/"):
            path = f"{SCRIPTS}/monitor.s/{m.name}/{path}"
        timeout = float(m.get("polling/timeout", "60") or 60)
        if self.bed.timings.monitor_interval_cap > 0:
            timeout = min(timeout, 10.0)
        rc, _p = await self.node_run(node, [path], cwd=os.path.dirname(path), log_path=self._log(node, m.name),
                                     limit=timeout)
        normal = int(m.get("parameters/normalval", "0") or 0)
        return "" if rc == normal else f"{path} exited {rc} (normal value {normal})"

    async def _judge(self, m: clpconf.Monitor, node: str, error: str) -> bool:
        """Count an error against polling/reconfirmation; run the recovery when it is confirmed."""
        ms = self.monitors[m.name]
        if not error:
            ms.status, ms.fails = "Normal", 0
            return False
        ms.fails += 1
        if ms.fails <= int(m.get("polling/reconfirmation", "0") or 0):
            return False
        ms.status, ms.fails = "Error", 0
        ms.per_server[node] = "Error"
        log.warning("monitor %s: error on %s: %s", m.name, node, error)
        await self.recover(m, node)
        return True

    async def recover(self, m: clpconf.Monitor, node: str) -> None:
        ms = self.monitors[m.name]
        rtype, rname = m.relation
        group = rname if rtype == "grp" else self.conf.group_of(rname) if rtype == "rsc" else None
        if group is None:
            if rtype == "cls" and int(m.get("emergency/action", "1") or 1) >= 3:
                await self._leave_cluster(node)
            return
        gs = self.groups[group]
        restart_limit = int(m.get("emergency/threshold/restart", "3") or 0)
        fo_limit = int(m.get("emergency/threshold/fo", m.get("emergency/threshold/fo2", "1")) or 0)
        async with gs.lock:
            if gs.current != node:
                return
            if ms.restarts.get(node, 0) < restart_limit:
                ms.restarts[node] = ms.restarts.get(node, 0) + 1
                log.warning("monitor %s: reactivating %s %s on %s (%d/%d)", m.name, rtype, rname, node,
                            ms.restarts[node], restart_limit)
                if rtype == "rsc":
                    r = self.conf.resources[rname]
                    await self.stop_rsc(group, r, node, "START")
                    if not await self.start_rsc(group, r, node, "START"):
                        gs.status = "Online Failure"
                else:
                    if await self._deactivate(group, "START"):
                        await self.start_group(group, node, "START")
                return
            if ms.fo_used < fo_limit and self.next_server(group, {node}):
                ms.fo_used += 1
                await self.failover(group, f"monitor {m.name}")
                return
            action = int(m.get("emergency/action", "1") or 1)
            log.warning("monitor %s: final action %d", m.name, action)
            if action == 2:
                await self._deactivate(group, "START")
            elif action >= 3:
                await self._deactivate(group, "FAILOVER")
                self.servers[node].service = False

    async def _leave_cluster(self, node: str) -> None:
        """Final action "stop the cluster service" (and, simplified, its shutdown variants): the
        server's groups fail over and it leaves the cluster; the bed never powers a node off."""
        self.servers[node].service = False
        for g, gs in self.groups.items():
            if gs.current == node:
                async with gs.lock:
                    await self.failover(g, f"cluster service stopped on {node}")

    async def monitor_loop(self) -> None:
        """Run each monitor when due. A suspended cluster (or monitor) runs none: the check that
        was due is counted as skipped (status ``skipped``), so tests can wait for intervals to pass.

        Between passes the loop sleeps until the earliest monitor is due, or until ``poke`` (a
        request that resumed the cluster or a monitor, or changed the monitors) wakes it: a check
        runs when it is due, as a fixed-period poll would run it, without waking in between."""
        while True:
            self._monitor_wake.clear()
            now = time.monotonic()
            for m in list(self.conf.monitors.values()):
                ms = self.monitors.get(m.name)
                if ms is None or now < ms.next_due:
                    continue
                ms.next_due = now + self.effective_interval(m)
                if self.suspended or ms.suspended:
                    ms.skipped += 1
                    continue
                ms.checks += 1
                try:
                    await self.check_monitor(m)
                except Exception:
                    log.exception("monitor %s failed", m.name)
            due = [ms.next_due for name, ms in self.monitors.items() if name in self.conf.monitors]
            delay = max(0.0, min(due) - time.monotonic()) if due else None
            try:
                await asyncio.wait_for(self._monitor_wake.wait(), delay)
            except TimeoutError:
                pass

    async def node_watch_loop(self) -> None:
        """Notice a node going down (its init died, its link was set down) or coming back.

        Event-driven: a pidfd per node init (readable when it exits) and a netlink socket on the
        host's link changes (``ip link set <veth> down|up`` of `fault cut-network` / `heal`) wake
        the loop, and so does ``poke`` (`node-rebooted` brings a new init). Where the kernel offers
        neither (no pidfd_open, no netlink), it polls every ``timings.node_watch`` seconds instead."""
        watch = NodeEvents(self._node_wake, [n.veth for n in self.bed.nodes])
        try:
            while True:
                self._node_wake.clear()
                watch.arm({n.name: n.init_pid for n in self.bed.nodes})
                for n in self.bed.nodes:
                    running = is_alive(n.init_pid)
                    alive = running and network.link_up(n.veth)
                    st = self.servers[n.name]
                    if st.alive and not alive:
                        await self.node_lost(n.name, isolated=running)
                    elif not st.alive and alive:
                        await self.node_back(n.name)
                try:
                    await asyncio.wait_for(self._node_wake.wait(),
                                           None if watch.complete else self.bed.timings.node_watch)
                except TimeoutError:
                    pass
        finally:
            watch.close()


RTMGRP_LINK = 0x1  # linux/rtnetlink.h: the multicast group of link (RTM_NEWLINK/DELLINK) messages


class NodeEvents:
    """The kernel events the node watch waits on: each node init's exit (pidfd) and any change of
    the host's links (rtnetlink). Every event sets ``wake``; the watch then reads the state itself,
    so a lost or coalesced event costs nothing but the wake-up it would have caused."""

    def __init__(self, wake: asyncio.Event, links: list[str]) -> None:
        self.wake = wake
        try:  # only this cluster's links wake it (the veths outlive node reboots)
            self.links: set[int] | None = {socket.if_nametoindex(name) for name in links}
        except OSError:
            self.links = None  # a link is missing already: every link event wakes the watch
        self.loop = asyncio.get_running_loop()
        self.pidfds: dict[str, tuple[int, int | None]] = {}  # node -> (init pid, open pidfd or None)
        self.link_ok = False
        self.pidfd_ok = hasattr(os, "pidfd_open")
        self.sock: socket.socket | None = None
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            sock.bind((0, RTMGRP_LINK))
            sock.setblocking(False)
            self.loop.add_reader(sock.fileno(), self._drain)
            self.sock, self.link_ok = sock, True
        except (OSError, AttributeError) as ex:
            log.warning("no netlink link events (%s): the node watch polls links", ex)

    @property
    def complete(self) -> bool:
        """Every change the watch looks for raises an event (else it must poll)."""
        return self.link_ok and self.pidfd_ok

    def _drain(self) -> None:
        assert self.sock is not None
        ours = False
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError:  # ENOBUFS: events were dropped; look at everything again
                ours = True
                break
            if not data:
                break
            ours = ours or self._concerns_us(data)
        if ours:
            self.wake.set()

    def _concerns_us(self, data: bytes) -> bool:
        """Does a batch of rtnetlink messages (nlmsghdr + ifinfomsg each) name one of our links?"""
        if self.links is None:
            return True
        offset = 0
        while offset + 24 <= len(data):
            length, = struct.unpack_from("=I", data, offset)
            index, = struct.unpack_from("=i", data, offset + 20)  # ifinfomsg.ifi_index after the 16-byte header
            if index in self.links:
                return True
            if length < 16:
                break
            offset += (length + 3) & ~3
        return False

    def _exited(self, node: str) -> None:
        pid, fd = self.pidfds[node]
        if fd is not None:  # a pidfd stays readable once the process is gone: stop watching it
            self.loop.remove_reader(fd)
            os.close(fd)
            self.pidfds[node] = (pid, None)
        self.wake.set()

    def arm(self, inits: dict[str, int]) -> None:
        """Watch each node's current init (again, after a reboot gave it a new one)."""
        if not self.pidfd_ok:
            return
        for node, pid in inits.items():
            old = self.pidfds.get(node)
            if old is not None and old[0] == pid:
                continue
            if old is not None and old[1] is not None:
                self.loop.remove_reader(old[1])
                os.close(old[1])
            fd: int | None = None
            if pid > 0:
                try:
                    fd = os.pidfd_open(pid)
                except ProcessLookupError:
                    fd = None  # already gone: the watch's own check sees it dead
                except OSError as ex:
                    log.warning("no pidfd for %s's init (%s): the node watch polls", node, ex)
                    self.pidfd_ok = False
                    return
            self.pidfds[node] = (pid, fd)
            if fd is not None:
                self.loop.add_reader(fd, self._exited, node)

    def close(self) -> None:
        for _pid, fd in self.pidfds.values():
            if fd is not None:
                self.loop.remove_reader(fd)
                os.close(fd)
        self.pidfds.clear()
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
