"""The per-cluster CLUSTERPRO daemon: ``python -m hack.testbed.clp.daemon <cluster-dir>``.

Runs on the host in the root namespaces, serves the node-side clp* tools (and the bed's API) on a
unix socket in the cluster's state folder, and drives the Engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import setproctitle

from ..config import BedRecord, clusterd_socket, node_private
from . import commands, guesses, webui
from . import conf as clpconf
from .engine import Engine

log = logging.getLogger("clusterd")

READ_ONLY = frozenset({"ping", "status", "clpstat"})  # requests that change nothing the loops wait on


def load_files(bed: BedRecord) -> dict[str, tuple[bytes, int]]:
    """Initial master copy: what `up` installed on the first node."""
    base = node_private(bed, bed.nodes[0].name, "/opt/nec/clusterpro")
    files = {"clp.conf": ((base / "etc" / "clp.conf").read_bytes(), 0o644)}
    for p in sorted((base / "scripts").rglob("*")):
        if p.is_file():
            files[str(p.relative_to(base))] = (p.read_bytes(), p.stat().st_mode & 0o7777)
    return files


class Server:
    def __init__(self, cluster_dir: Path):
        self.dir = cluster_dir
        self.bed = BedRecord.load_dir(cluster_dir)
        files = load_files(self.bed)
        self.engine = Engine(self.bed, clpconf.parse(files["clp.conf"][0]), files)
        self.started = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            req = json.loads(line)
            try:
                reply = await self.dispatch(req)
            except Exception as ex:
                log.exception("request %s failed", req.get("op"))
                reply = {"rc": 1, "stdout": "", "stderr": f"internal error of the simulated cluster: {ex}\n"}
            finally:
                if req.get("op") not in READ_ONLY:
                    self.engine.poke()  # what the request changed is looked at now, not at the next poll
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    async def dispatch(self, req: dict[str, Any]) -> dict[str, Any]:
        op, node, e = req.get("op"), req.get("node", ""), self.engine
        if op == "ping":
            return {"rc": 0, "started": self.started.is_set()}
        if op == "status":
            return {"rc": 0, "status": self.status()}
        if op == "node-rebooted":
            self.bed.node(node).init_pid = int(req["initPid"])
            return {"rc": 0}
        if op == "clpstat":
            return await commands.clpstat(e, node, req["argv"])
        if op == "clpgrp":
            return await commands.clpgrp(e, node, req["argv"])
        if op == "clpcl":
            return await commands.clpcl(e, node, req["argv"])
        if op == "clpcfctrl":
            return await commands.clpcfctrl(e, node, req)
        if op == "clpmonctrl":
            return await commands.clpmonctrl(e, node, req["argv"])
        if op == "webui-save":
            return self.webui_save(node)
        return {"rc": 1, "stdout": "", "stderr": f"unknown request {op}\n"}

    def webui_save(self, node: str) -> dict[str, Any]:
        """Bed helper: a Cluster WebUI connected to ``node`` saves the configuration it shows (what
        that node's WebManager loaded, clp/guesses.webui_base) as a save rewrites it (trekking,
        object number), applied on every node. Saved from an up-to-date WebManager it changes
        nothing that matters; from a stale one it writes an older configuration back."""
        e = self.engine
        files = dict(e.current_files())
        data, mode = files["clp.conf"]
        st = e.servers.get(node) or next(iter(e.servers.values()))
        base = guesses.webui_base(self.bed.variant("webui-source"), st.loaded.get("--web"), data)
        files["clp.conf"] = (webui.save(base), mode)
        failed = e.deliver_all([n for n, st in e.servers.items() if st.alive], files)
        if failed:
            return {"rc": 1, "stdout": "", "stderr": f"delivery to {failed} failed\n"}
        if e.pending:
            e.pending = (e.pending[0], files)
        else:
            e.files = files
        for s in e.servers.values():  # the WebUI applied it through WebManager, which now has it
            s.loaded["--web"] = files["clp.conf"][0]
        return {"rc": 0, "stdout": "", "stderr": ""}

    def status(self) -> dict[str, Any]:
        e = self.engine
        return {
            "suspended": e.suspended,
            "servers": {s: {"alive": st.alive, "service": st.service,
                            # sha256 of the clp.conf each manager service loaded (clpcl -r option -> digest)
                            "loaded": {o: hashlib.sha256(b).hexdigest() for o, b in st.loaded.items()}}
                        for s, st in e.servers.items()},
            "groups": {g: {"status": gs.status, "current": gs.current,
                           "resources": {r: rs.status for r, rs in gs.resources.items()}}
                       for g, gs in e.groups.items()},
            "monitors": {m: {"status": ms.status, "restarts": ms.restarts, "failovers": ms.fo_used,
                             "checks": ms.checks, "skipped": ms.skipped}
                         for m, ms in e.monitors.items()},
        }

    async def boot(self) -> None:
        """Cluster start at boot: every failover group comes online on its first server."""
        e = self.engine
        try:
            for g, gs in e.groups.items():
                dest = e.next_server(g, set())
                if dest:
                    async with gs.lock:
                        await e.start_group(g, dest, "START")
        except Exception:
            log.exception("cluster start failed")  # the groups show what went wrong
        finally:
            self.started.set()

    async def run(self) -> None:
        sock = clusterd_socket(self.dir)
        sock.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self.handle, path=str(sock))
        os.chmod(sock, 0o600)
        tasks = [asyncio.create_task(self.boot()),
                 asyncio.create_task(self.engine.monitor_loop()),
                 asyncio.create_task(self.engine.node_watch_loop())]
        async with server:
            await asyncio.gather(*tasks)


def main() -> None:
    cluster_dir = Path(sys.argv[1])
    setproctitle.setproctitle(f"jcb-clusterd {cluster_dir}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(Server(cluster_dir).run())


if __name__ == "__main__":
    main()
