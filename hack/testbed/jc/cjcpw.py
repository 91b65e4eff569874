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


def _vhost_is_local(vhost: str) -> str | None:
    """Error text if the virtual host does not resolve to an address configured on this node."""
    try:
        canonical, _aliases, addrs = socket.gethostbyname_ex(vhost)
    except OSError:
        return f"cannot resolve the virtual host name {vhost}"
    if canonical != vhost:
        return f"{vhost} is an alias of {canonical}; give the official host name"
    with socket.socket() as s:
        try:
            s.bind((addrs[0], 0))
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                return f"the address {addrs[0]} of {vhost} is not configured on this machine"
            raise
    return None


def start(vhost: str, dbpath: str, resident: bool) -> int:
    err = guesses.EXIT_ERROR
    site = conf.site_info(dbpath)
    if site is None:
        print(f"cjcpw: no cluster site at {dbpath} ({dbpath}/nqs not found).", file=sys.stderr)
        return err
    if site.get(guesses.SITE_KEY_VHOST) != vhost:
        print(f"cjcpw: the site at {dbpath} belongs to {site.get(guesses.SITE_KEY_VHOST)}, not {vhost}.",
              file=sys.stderr)
        return err
    if _running(vhost):
        print(f"cjcpw: cluster site {vhost} is already running.", file=sys.stderr)
        return err
    problem = _vhost_is_local(vhost)
    if problem:
        print(f"cjcpw: {problem}.", file=sys.stderr)
        return err
    if local.running() and local.started_with() not in ("SITE",):
        # GUESS: the local daemon in its default mode takes the site's packets (S1 2.3).
        print("cjcpw: the local daemon is running and cannot coexist with a cluster site "
              "(set local_daemon=SITE or OFF in /usr/lib/nqs/rc/daemon.conf and restart it).",
              file=sys.stderr)
        return err
    mode = site.get(guesses.SITE_KEY_MODE, "CLASSIC")
    plist = guesses.site_processes(mode, site.get(guesses.JCWEBSERVER_PARAM, "").upper() == "ON")
    procs.become(f"{TITLE} {'-c ' if not resident else ''}{vhost} {dbpath}", "cjcpw")

    class _Stop(Exception):
        pass

    def on_term(_sig: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    children = {procs.spawn(t, s, twin=(t, s) == guesses.JNWCASTER, tie_to_parent=resident): s
                for t, s in plist}
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
            print(f"cjcpw: process {name} (pid {pid}) of site {vhost} terminated; stopping the site.",
                  file=sys.stderr)
            procs.terminate(list(children))
            _state_file(vhost).unlink(missing_ok=True)
            return err
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    procs.terminate(list(children))
    _state_file(vhost).unlink(missing_ok=True)
    return 0


def stop(vhost: str, ctx: NodeContext) -> int:
    st = _running(vhost)
    if st is None:
        return 0  # GUESS: idempotent
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
        print("cjcpw: permission denied (must be run as root).", file=sys.stderr)
        return guesses.EXIT_ERROR
    if len(argv) == 2 and argv[0] == "-stop":
        return stop(argv[1], ctx)
    if len(argv) == 3 and argv[0] == "-c":
        return start(argv[1], argv[2], resident=False)
    if len(argv) == 2 and not argv[0].startswith("-"):
        return start(argv[0], argv[1], resident=True)
    print(guesses.CJCPW_USAGE, file=sys.stderr)
    return guesses.EXIT_ERROR
