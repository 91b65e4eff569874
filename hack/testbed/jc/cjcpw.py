"""/usr/lib/nqs/cluster/cjcpw: start (resident or -c), monitor and stop a cluster site.

node-protocol 2.3 and 9. Without -c, cjcpw stays in the foreground as the parent of the site's
processes and exits non-zero when one of them dies; `cjcpw -stop` makes it exit 0.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..config import BedRecord
from . import conf, guesses, local, procs
from .runtime import NodeContext

SITES = procs.RUN_DIR / "sites"
TITLE = "/usr/lib/nqs/cluster/cjcpw"


def _state_file(vhost: str) -> Path:
    return SITES / f"{vhost}.json"


def _running(vhost: str) -> dict[str, Any] | None:
    st = procs.read_state(_state_file(vhost))
    if not st:
        return None
    pids = [int(st["cjcpw"])] if st.get("cjcpw") else []
    pids += [int(p) for p in st.get("children", [])]
    return st if any(procs.alive(p) for p in pids) else None


def _vhost_problem(vhost: str) -> tuple[str, dict[str, str]] | None:
    """(error key, values) if the virtual host does not resolve to an address of this node."""
    try:
        canonical, _aliases, addrs = socket.gethostbyname_ex(vhost)
    except OSError:
        return "unresolved", {}
    if canonical != vhost:
        return "alias", {"canonical": canonical}
    with socket.socket() as s:
        try:
            s.bind((addrs[0], 0))
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                return "not_local", {"addr": addrs[0]}
            raise
    return None


def _fail(bed: BedRecord, key: str, **values: object) -> int:
    code, text = guesses.jc_error(bed.variant("jc-errors"), key, tool="cjcpw", usage=guesses.CJCPW_USAGE,
                                  **values)
    print(text, file=sys.stderr)
    return code


def start(vhost: str, dbpath: str, resident: bool, bed: BedRecord) -> int:
    site = conf.site_info(dbpath)
    if site is None:
        return _fail(bed, "no_site", dbpath=dbpath)
    if site.get(guesses.SITE_KEY_VHOST) != vhost:
        return _fail(bed, "other_site", dbpath=dbpath, owner=site.get(guesses.SITE_KEY_VHOST), vhost=vhost)
    if _running(vhost):
        return _fail(bed, "already_running", vhost=vhost)
    problem = _vhost_problem(vhost)
    if problem:
        return _fail(bed, problem[0], vhost=vhost, **problem[1])
    if local.running() and guesses.local_site_conflicts(local.started_with()):
        return _fail(bed, "local_conflict")
    mode = site.get(guesses.SITE_KEY_MODE, "CLASSIC")
    plist = guesses.site_processes(mode, site.get(guesses.JCWEBSERVER_PARAM, "").upper() == "ON")
    procs.become(f"{TITLE} {'-c ' if not resident else ''}{vhost} {dbpath}", "cjcpw")

    class _Stop(Exception):
        pass

    def on_term(_sig: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    workdir = os.path.join(dbpath, guesses.SITE_DAEMON_CWD)
    children = {procs.spawn(t, s, twin=tw, subs=subs, tie_to_parent=resident, cwd=workdir): s
                for t, s, tw, subs in guesses.site_daemon_layout(plist, bed.has("ppid-tree"))}
    state = {"vhost": vhost, "dbpath": dbpath, "cjcpw": os.getpid() if resident else 0,
             "children": list(children), "resident": resident}
    procs.write_state(_state_file(vhost), state)
    if not resident:
        return 0
    sys.stdout.flush()
    while True:
        try:
            pid, _status = os.wait()
        except (_Stop, ChildProcessError):
            break
        if pid in children:
            name = children.pop(pid)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            code = _fail(bed, "child_died", name=name, pid=pid, vhost=vhost)
            procs.terminate(list(children))
            _state_file(vhost).unlink(missing_ok=True)
            return code
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    procs.terminate(list(children))
    _state_file(vhost).unlink(missing_ok=True)
    return 0


def stop(vhost: str, ctx: NodeContext) -> int:
    st = _running(vhost)
    if st is None:
        stop_idle_fails = guesses.cjcpw_stop_idle_fails(ctx.bed.variant("cjcpw-stop-idle"))
        return _fail(ctx.bed, "stop_idle", vhost=vhost) if stop_idle_fails else 0
    time.sleep(ctx.bed.timings.cjcpw_stop)  # real sites take 1-2 minutes to stop
    main_pid = int(st.get("cjcpw") or 0)
    if main_pid and procs.alive(main_pid):
        os.kill(main_pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while procs.alive(main_pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    leftovers = [int(p) for p in st.get("children", []) if procs.alive(int(p))]
    procs.terminate(leftovers)
    _state_file(vhost).unlink(missing_ok=True)
    return 0


def main(argv: list[str], ctx: NodeContext) -> int:
    if os.geteuid() != 0:
        return _fail(ctx.bed, "not_root")
    if len(argv) == 2 and argv[0] == "-stop":
        return stop(argv[1], ctx)
    if len(argv) == 3 and argv[0] == "-c":
        return start(argv[1], argv[2], resident=False, bed=ctx.bed)
    if len(argv) == 2 and not argv[0].startswith("-"):
        return start(argv[0], argv[1], resident=True, bed=ctx.bed)
    return _fail(ctx.bed, "usage")
