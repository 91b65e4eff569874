"""Standard-mode agent: /usr/bin/jcagctrl and a `systemctl` for jcexecutor_agent_<ID>.service.

node-protocol 2.7 and 9. Unit state is real: "active" means the agent process runs; "enabled" is
the usual multi-user.target.wants symlink inside the node's /etc overlay.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..clp import services as clp_services
from . import guesses, procs
from .runtime import NodeContext

UNITS = procs.RUN_DIR / "units"
_UNIT_RE = re.compile(r"^jcexecutor_agent_(?P<id>[A-Za-z0-9_.-]+)\.service$")


def registry() -> list[dict[str, Any]]:
    try:
        data: list[dict[str, Any]] = json.loads(Path(guesses.AG_REGISTRY).read_text())
    except (OSError, ValueError):
        return []
    return data


def _instance(unit: str) -> dict[str, Any] | None:
    m = _UNIT_RE.match(unit)
    if not m:
        return None
    for inst in registry():
        if str(inst["id"]) == m["id"]:
            return inst
    return None


def _pid(unit: str) -> int:
    st = procs.read_state(UNITS / f"{unit}.json") or {}
    return int(st.get("pid", 0))


def is_active(unit: str) -> bool:
    pid = _pid(unit)
    return pid > 0 and procs.alive(pid)


def _unit_file(unit: str) -> Path:
    return Path(guesses.AG_UNIT_DIR) / unit


def _wants(unit: str) -> Path:
    return Path(guesses.AG_WANTS_DIR) / unit


def jcagctrl(argv: list[str], ctx: NodeContext) -> int:
    if argv[:1] != ["list"]:
        print("Usage: jcagctrl list", file=sys.stderr)
        return 1
    rows = [(str(inst["id"]), str(inst["name"]), str(inst["agent"]),
             is_active(guesses.unit_name(str(inst["id"]))), bool(inst.get("enable", True)))
            for inst in registry()]
    sys.stdout.write(guesses.jcagctrl_list(ctx.bed.variant("jcagctrl-layout"), rows))
    return 0


def _start(unit: str, inst: dict[str, Any], needs_disk: bool) -> int:
    if is_active(unit):
        return 0
    data = inst.get("data", "")
    # GUESS: the instance keeps its data on the switched disk, so it cannot start where that
    # disk is not mounted (this is why the unit must not be started by systemd at boot).
    if needs_disk and data and not os.path.ismount(data):
        print(f"Job for {unit} failed because the control process exited with error code.\n"
              f'See "systemctl status {unit}" and "journalctl -xeu {unit}" for details.', file=sys.stderr)
        return 1
    title, short = guesses.AG_PROCESS
    [pid] = procs.spawn_detached([(f"{title} {inst['id']}", short)])
    procs.write_state(UNITS / f"{unit}.json", {"pid": pid})
    return 0


def _stop(unit: str) -> int:
    pid = _pid(unit)
    if pid and procs.alive(pid):
        procs.terminate([pid])
    (UNITS / f"{unit}.json").unlink(missing_ok=True)
    return 0


def systemctl(argv: list[str], ctx: NodeContext) -> int:
    quiet = False
    args: list[str] = []
    for a in argv:
        if a in ("-q", "--quiet"):
            quiet = True
        elif a in ("--no-pager", "--no-block", "--system"):
            continue
        elif a.startswith("-"):
            print(f"systemctl: unrecognized option '{a}' (test-bed systemctl)", file=sys.stderr)
            return 1
        else:
            args.append(a)
    if not args:
        print("systemctl (JobCenter test bed): only start|stop|restart|is-active|enable|disable|is-enabled|"
              "status|daemon-reload of jcexecutor_agent_<ID>.service are simulated", file=sys.stderr)
        return 1
    verb, units = args[0], args[1:]
    if verb == "daemon-reload":
        return 0
    known = {"start", "stop", "restart", "is-active", "enable", "disable", "is-enabled", "status"}
    if verb not in known:
        print(f"Unknown command verb '{verb}'. (JobCenter test bed: only {sorted(known)})", file=sys.stderr)
        return 1
    if not units:
        print("Too few arguments.", file=sys.stderr)
        return 1
    rc = 0
    for raw in units:
        unit = raw if "." in raw else f"{raw}.service"
        product = clp_services.systemctl(verb, unit, quiet, ctx.bed.variant("clp-version"))
        if product is not None:  # an installed CLUSTERPRO unit (clp/services.py)
            rc = max(rc, product)
            continue
        inst = _instance(unit)
        rc = max(rc, _one(verb, unit, inst, quiet, guesses.agent_needs_disk(ctx.bed.variant("agent-disk"))))
    return rc


def _one(verb: str, unit: str, inst: dict[str, Any] | None, quiet: bool, needs_disk: bool) -> int:
    if verb == "is-active":
        active = inst is not None and is_active(unit)
        if not quiet:
            print("active" if active else "inactive")
        return 0 if active else 3
    if inst is None:
        if verb in ("start", "restart"):
            print(f"Failed to {verb} {unit}: Unit {unit} not found.", file=sys.stderr)
            return 5
        if verb == "stop":
            print(f"Failed to stop {unit}: Unit {unit} not loaded.", file=sys.stderr)
            return 5
        if verb == "status":
            print(f"Unit {unit} could not be found.", file=sys.stderr)
            return 4
        print(f"Failed to {verb} unit: Unit file {unit} does not exist.", file=sys.stderr)
        return 1
    if verb == "start":
        return _start(unit, inst, needs_disk)
    if verb == "stop":
        return _stop(unit)
    if verb == "restart":
        _stop(unit)
        return _start(unit, inst, needs_disk)
    wants, target = _wants(unit), _unit_file(unit)
    if verb == "enable":
        if not wants.is_symlink():
            wants.parent.mkdir(parents=True, exist_ok=True)
            wants.symlink_to(target)
            print(f"Created symlink {wants} \u2192 {target}.", file=sys.stderr)
        return 0
    if verb == "disable":
        if wants.is_symlink():
            wants.unlink()
            print(f'Removed "{wants}".', file=sys.stderr)
        return 0
    if verb == "is-enabled":
        enabled = wants.is_symlink()
        if not quiet:
            print("enabled" if enabled else "disabled")
        return 0 if enabled else 1
    # status
    active = is_active(unit)
    print(f"\u25cf {unit} - JobCenter agent instance {inst['name']}\n"
          f"     Loaded: loaded ({target}; {'enabled' if wants.is_symlink() else 'disabled'})\n"
          f"     Active: {'active (running)' if active else 'inactive (dead)'}")
    if active:
        print(f"   Main PID: {_pid(unit)} (jcexecutor_agen)")
    return 0 if active else 3


def boot_units() -> None:
    """At node (re)boot systemd starts the enabled units; errors are only logged, as systemd does.
    Runs in the node with JCB_CLUSTER_DIR / JCB_NODE set (node_init)."""
    needs_disk = guesses.agent_needs_disk(NodeContext.from_env().bed.variant("agent-disk"))
    for inst in registry():
        unit = guesses.unit_name(str(inst["id"]))
        if _wants(unit).is_symlink():
            _start(unit, inst, needs_disk)
