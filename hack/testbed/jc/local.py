"""The local site: /usr/lib/nqs/nqsstart and /usr/lib/nqs/nqsstop (node-protocol 2.1; behaviour GUESS).

GUESS (variant axis nqsstart): nqsstart-lenient (default) exits 0 without a word when the local
site already runs or local_daemon=OFF; nqsstart-strict refuses a second start (non-zero) and says
why it starts nothing under OFF. nqsstop always exits 0.
"""

from __future__ import annotations

import sys
import time

from . import conf, guesses, procs
from .runtime import NodeContext

STATE = procs.RUN_DIR / "local.json"


def _state_pids() -> list[int]:
    st = procs.read_state(STATE) or {}
    return [int(p) for p in st.get("pids", [])]


def running() -> bool:
    return any(procs.alive(p) for p in _state_pids())


def started_with() -> str:
    """local_daemon value in effect when the running local site was started ('' = not set)."""
    return str((procs.read_state(STATE) or {}).get("local_daemon", ""))


def nqsstart(argv: list[str], ctx: NodeContext) -> int:
    settings = conf.read(guesses.LOCAL_DAEMON_CONF)
    mode = settings.get("local_daemon", "")
    refusal = guesses.nqsstart_refusal(ctx.bed.variant("nqsstart"), mode, running())
    if refusal == "silent":
        return 0
    if refusal:
        code, text = guesses.jc_error(ctx.bed.variant("jc-errors"), refusal)
        print(text, file=sys.stderr)
        return code
    plist = guesses.site_processes(conf.install_mode(ctx.bed),
                                   settings.get(guesses.JCWEBSERVER_PARAM, "").upper() == "ON")
    pids = procs.spawn_detached(plist)
    procs.write_state(STATE, {"pids": pids, "local_daemon": mode.upper()})
    return 0


def nqsstop(argv: list[str], ctx: NodeContext) -> int:
    pids = [p for p in _state_pids() if procs.alive(p)]
    if pids:
        time.sleep(ctx.bed.timings.nqsstop)
        procs.terminate(pids)
    STATE.unlink(missing_ok=True)
    return 0
