"""The clp* commands as the cluster daemon answers them (messages and exit codes: node-protocol 5, 9).

Texts marked GUESS in node-protocol.md live in clp/guesses.py (MESSAGES, CF_CODES and alternatives).
"""

from __future__ import annotations

import base64
import getopt
from typing import Any

from . import conf as clpconf
from . import formats, guesses, services
from .engine import Engine

Reply = dict[str, Any]


def _msgs(e: Engine) -> dict[str, str]:
    return guesses.messages(e.bed.variant("clp-messages"))


def _reply(rc: int, out: str = "", err: str = "") -> Reply:
    return {"rc": rc, "stdout": out, "stderr": err}


def stat_view(e: Engine, local: str) -> formats.StatView:
    servers = []
    for s in e.conf.servers:
        st = e.servers.get(s)
        if st is None or not st.alive:
            status = "Offline"
        elif not st.service:
            status = "Offline"
        elif e.suspended:
            status = "Suspend"
        else:
            status = "Online"
        servers.append((s, status))
    groups = []
    for g in e.conf.groups.values():
        gs = e.groups[g.name]
        groups.append((g.name, gs.status, gs.current, [(n, gs.resources[n].status) for _t, n in g.members]))
    mons = [(m.name, e.monitors[m.name].status if not e.suspended else "Suspend",
             "User mode monitor" if m.type == "userw" else "") for m in e.conf.monitors.values()]
    return formats.StatView(e.conf.name, local, servers, e.conf.heartbeats, groups, mons,
                            server_online={s: st == "Online" or st == "Suspend" for s, st in servers})


async def clpstat(e: Engine, node: str, argv: list[str]) -> Reply:
    v = stat_view(e, node)
    usage = "Usage: clpstat [-s|-g|-m|-n] [--long] [-h <host>]\n"
    try:
        opts, args = getopt.gnu_getopt(argv, "sgmnh:", ["long", "local"])
    except getopt.GetoptError as ex:
        return _reply(1, err=f"clpstat: {ex}\n{usage}")
    views = [k for k, _v in opts if k in ("-s", "-g", "-m", "-n")]
    if args or len(set(views)) > 1:
        return _reply(1, err=usage)
    view = views[0] if views else "-s"
    long = any(k == "--long" for k, _v in opts)
    alt = e.bed.has("clpstat-guessed-alt")
    if view == "-s":
        return _reply(0, formats.status(v, long=long))
    if view == "-g":
        return _reply(0, formats.groupmap(v))
    if view == "-m":
        return _reply(0, formats.monitors(v, {m: s.per_server for m, s in e.monitors.items()}, alt=alt))
    return _reply(0, formats.heartbeats(v, alt=alt))


def _service_ok(e: Engine, node: str) -> bool:
    return node in e.online_servers()


async def clpgrp(e: Engine, node: str, argv: list[str]) -> Reply:
    try:
        opts, args = getopt.gnu_getopt(argv, "stmnh:a:f")
    except getopt.GetoptError as ex:
        return _reply(1, err=f"clpgrp: {ex}\n")
    o = dict(opts)
    ops = [k for k in ("-s", "-t", "-m", "-n") if k in o]
    if len(ops) != 1 or len(args) > 1:
        return _reply(1, err="Usage: clpgrp -s|-t|-m|-n [<group>] [-h <host>] [-a <dest>] [-f]\n")
    op = ops[0]
    groups = args or ([] if op == "-n" else list(e.conf.groups))
    if not groups:
        return _reply(1, err="Usage: clpgrp -n <group>\n")
    for g in groups:
        if g not in e.conf.groups:
            return _reply(1, err=_msgs(e)["bad_group"] + "\n")
    if op == "-n":
        gs = e.groups[groups[0]]
        return _reply(0, f"{gs.current}\n" if gs.current and gs.status != "Offline" else "")
    target = o.get("-h", node)
    if target not in e.conf.servers:
        return _reply(1, err=_msgs(e)["bad_server"] + "\n")
    if not _service_ok(e, target):
        return _reply(1, err=_msgs(e)["no_service"] + "\n")
    if e.suspended and guesses.suspended_refuses("clpgrp", op):
        return _reply(1, err=_msgs(e)["suspended"] + "\n")
    rc, errs = 0, list[str]()
    for g in groups:
        gs = e.groups[g]
        if gs.lock.locked():
            rc, errs = 1, [*errs, _msgs(e)["pending"]]
            continue
        async with gs.lock:
            if op == "-s":
                if gs.status != "Offline":
                    if len(args) == 1:
                        rc = 1
                        errs.append(_msgs(e)["already_started_local" if gs.current == target
                                             else "already_started_other"])
                    continue
                if not await e.start_group(g, target, "START"):
                    rc, errs = 1, [*errs, f"{_msgs(e)['start_failed']} ({g})."]
            elif op == "-t":
                if gs.status == "Offline":
                    if len(args) == 1:
                        rc, errs = 1, [*errs, _msgs(e)["already_stopped"]]
                    continue
                if not await e._deactivate(g, "START"):
                    rc, errs = 1, [*errs, f"{_msgs(e)['stop_failed']} ({g})."]
            else:  # -m
                if gs.current is None or gs.status == "Offline":
                    if len(args) == 1:
                        rc, errs = 1, [*errs, _msgs(e)["not_online"]]
                    continue
                dest = o.get("-a") or e.next_server(g, {gs.current})
                if dest is None or dest == gs.current or dest not in e.online_servers():
                    rc, errs = 1, [*errs, _msgs(e)["bad_server" if o.get("-a") else "no_dest"]]
                    continue
                if not await e._deactivate(g, "START") or not await e.start_group(g, dest, "START"):
                    rc, errs = 1, [*errs, f"{_msgs(e)['start_failed']} ({g})."]
    if rc:
        return _reply(rc, err="\n".join(errs) + "\n")
    return _reply(0, _msgs(e)["ok"] + "\n")


def _restart(e: Engine, targets: list[str], options: list[str]) -> Reply:
    """``clpcl -r --web ...``: each named manager service on ``targets`` loads the installed
    configuration (clp/services.py); a service this version lacks is refused (clp/guesses.py)."""
    unknown = services.unknown_options(e.bed.variant("clp-version"), options)
    if unknown:
        return _reply(1, err=guesses.clpcl_unknown_option(unknown[0]) + "\n")
    for t in targets:
        if not e.servers[t].alive:
            return _reply(1, err=_msgs(e)["no_service"] + "\n")
    installed = e.current_files()["clp.conf"][0]
    for t in targets:
        e.servers[t].loaded.update({o: installed for o in options})
    return _reply(0, _msgs(e)["ok"] + "\n")


async def clpcl(e: Engine, node: str, argv: list[str]) -> Reply:
    try:
        opts, args = getopt.gnu_getopt(argv, "strah:", ["suspend", "resume", "web", "alert", "ib", "api",
                                                       "force"])
    except getopt.GetoptError as ex:
        return _reply(1, err=f"clpcl: {ex}\n")
    o = dict(opts)
    if args:
        return _reply(1, err="Usage: clpcl -s|-t|-r|--suspend|--resume [-a] [-h <host>]\n")
    targets = list(e.conf.servers) if "-a" in o else [o.get("-h", node)]
    for t in targets:
        if t not in e.conf.servers:
            return _reply(1, err=_msgs(e)["bad_server"] + "\n")
    if "--suspend" in o:
        if e.suspended:
            return _reply(1, err=_msgs(e)["already_suspended"] + "\n")
        if any(g.lock.locked() for g in e.groups.values()):
            return _reply(1, err=_msgs(e)["pending"] + "\n")
        e.suspended = True  # monitors and failovers wait (engine) until --resume
        return _reply(0, _msgs(e)["ok"] + "\n")
    if "--resume" in o:
        if not e.suspended:
            return _reply(1, err=_msgs(e)["not_suspended"] + "\n")
        await e.resume()
        return _reply(0, _msgs(e)["ok"] + "\n")
    if e.suspended and any(guesses.suspended_refuses("clpcl", k) for k in ("-s", "-t") if k in o):
        return _reply(1, err=_msgs(e)["suspended"] + "\n")
    if "-r" in o:
        return _restart(e, targets, [k for k, _ in opts if k in services.OPTIONS])
    if "-s" not in o and "-t" not in o:
        return _reply(1, err="Usage: clpcl -s|-t|-r|--suspend|--resume [-a] [-h <host>]\n")
    start = "-s" in o
    verb = "Start" if start else "Stop"
    lines, rc = [], 0
    for t in targets:
        st = e.servers[t]
        if not st.alive:
            lines.append((t, _msgs(e)["no_service"]))
            rc = 1
            continue
        if st.service == start:
            lines.append((t, _msgs(e)["cl_started" if start else "cl_stopped"]))
            rc = 1
            continue
        if start:
            st.service = True
        else:
            for g, gs in e.groups.items():
                if gs.current == t:
                    async with gs.lock:
                        others = [s for s in e.online_servers() if s not in targets]
                        if others:
                            await e.failover(g, f"cluster service stopped on {t}")
                        else:
                            await e._deactivate(g, "START")
            st.service = False
        lines.append((t, _msgs(e)["ok"]))
    if start:
        for g, gs in e.groups.items():
            if gs.status == "Offline":
                dest = e.next_server(g, set())
                if dest:
                    async with gs.lock:
                        await e.start_group(g, dest, "START")
    if "-a" in o:
        out = "".join(f"{verb} {t} : {msg}\n" for t, msg in lines)
    else:
        out = lines[0][1] + "\n"
    return _reply(rc, out if rc == 0 else "", out if rc else "")


def _files_in(raw: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
    return {k: (base64.b64decode(v["data"]), int(v["mode"])) for k, v in raw.items()}


def _files_out(files: dict[str, tuple[bytes, int]]) -> dict[str, Any]:
    return {k: {"data": base64.b64encode(d).decode(), "mode": m} for k, (d, m) in files.items()}


def _group_files(conf: clpconf.ClusterConf, files: dict[str, tuple[bytes, int]], group: str) -> dict[str, bytes]:
    mons = {m.name for m in conf.monitors_for_group(group)}
    out = {}
    for k, (d, _m) in files.items():
        parts = k.split("/")
        if (len(parts) > 2 and parts[0] == "scripts" and parts[1] == group) or (
                len(parts) > 3 and parts[:2] == ["scripts", "monitor.s"] and parts[2] in mons):
            out[k] = d
    return out


def _cf_fail(reason: str, code: int) -> Reply:
    return _reply(code, err=f"{reason}\n{guesses.CF_FAILED.format(code=code)}\n")


def _online(e: Engine, g: str) -> bool:
    gs = e.groups[g]
    return not (gs.status == "Offline" and gs.current is None)


def _monitor_changes(old: clpconf.ClusterConf, new: clpconf.ClusterConf,
                     old_files: dict[str, tuple[bytes, int]], new_files: dict[str, tuple[bytes, int]]) -> list[str]:
    """Monitors added, removed or changed (definition or monitor.s script)."""
    names = sorted(set(old.monitors) | set(new.monitors))

    def scripts(files: dict[str, tuple[bytes, int]], m: str) -> dict[str, bytes]:
        return {k: d for k, (d, _m) in files.items() if k.startswith(f"scripts/monitor.s/{m}/")}

    return [m for m in names if clpconf.canonical_monitor(old, m) != clpconf.canonical_monitor(new, m)
            or scripts(old_files, m) != scripts(new_files, m)]


def _group_changes(old: clpconf.ClusterConf, new: clpconf.ClusterConf, old_files: dict[str, tuple[bytes, int]],
                   new_files: dict[str, tuple[bytes, int]], g: str) -> str | None:
    """What changes for group ``g`` besides its monitors ('' = nothing): its definition, its resources,
    the exec scripts below scripts/<g>/."""
    if g not in new.groups:
        return "the group is removed"
    if clpconf.canonical_part(old, g, monitors=False) != clpconf.canonical_part(new, g, monitors=False):
        return "its resources change"

    def scripts(files: dict[str, tuple[bytes, int]]) -> dict[str, bytes]:
        return {k: d for k, (d, _m) in files.items() if k.startswith(f"scripts/{g}/")}

    if scripts(old_files) != scripts(new_files):
        return "its exec scripts change"
    return None


def _refusal(e: Engine, new: clpconf.ClusterConf, files: dict[str, tuple[bytes, int]]) -> Reply | None:
    """The product's apply rules (node-protocol 5.1, 9, 10). apply-lenient (an alternative): any
    change to a group that is not offline needs the cluster suspended. strict-apply: a monitor
    added or changed needs the cluster suspended, and a change to the resources or exec scripts of
    an online group needs that group stopped (suspending is not enough)."""
    msgs, codes = _msgs(e), guesses.cf_codes(e.bed.variant("clp-messages"))
    if e.bed.has("strict-apply"):
        for g in e.groups:
            if _online(e, g):
                what = _group_changes(e.conf, new, e.files, files, g)
                if what:
                    return _cf_fail(msgs["cf_group_online"].format(group=g, what=what), codes["group_online"])
        changed = _monitor_changes(e.conf, new, e.files, files)
        if changed and not e.suspended:
            return _cf_fail(msgs["cf_monitor_change"].format(monitor=changed[0]), codes["online_change"])
        return None
    if e.suspended:
        return None
    for g in e.groups:
        if not _online(e, g):
            continue
        same = g in new.groups and clpconf.canonical_part(e.conf, g) == clpconf.canonical_part(new, g) \
            and _group_files(e.conf, e.files, g) == _group_files(new, files, g)
        if not same:
            return _cf_fail(msgs["cf_online_change"].format(group=g), codes["online_change"])
    return None


async def clpcfctrl(e: Engine, node: str, req: dict[str, Any]) -> Reply:
    """--push / --pull / --compcheck. A push is all or nothing: refused or failed, every node keeps
    the configuration it had (delivery stages on every node first, then commits)."""
    mode = req["mode"]
    codes = guesses.cf_codes(e.bed.variant("clp-messages"))
    if mode == "pull":
        return {**_reply(0, guesses.CF_SUCCESS + "\n"), "files": _files_out(e.current_files())}
    files = _files_in(req["files"])
    if "clp.conf" not in files:
        return _cf_fail("clp.conf is not found in the configuration directory.", codes["invalid"])
    try:
        new = clpconf.parse(files["clp.conf"][0])
    except clpconf.ConfError as ex:
        return _cf_fail(f"The configuration is invalid: {ex}", codes["invalid"])
    unknown = [s for s in new.servers if s not in e.servers]
    if unknown:
        return _cf_fail(f"The configuration is invalid: unknown server {unknown[0]}", codes["invalid"])
    if mode == "compcheck":
        return _reply(0, guesses.CF_SUCCESS + "\n")
    refused = _refusal(e, new, files)
    if refused:
        return refused
    down = [s for s in e.conf.servers if s in e.servers and not e.servers[s].alive]
    if down and not req.get("force"):
        addr = e.bed.node(down[0]).address
        return _cf_fail(_msgs(e)["cf_delivery"].format(address=addr), codes["delivery"])
    alive = [n for n in e.bed.nodes if e.servers[n.name].alive]
    failed = e.deliver_all([n.name for n in alive], files)
    if failed:
        addr = e.bed.node(failed).address
        return _cf_fail(_msgs(e)["cf_delivery"].format(address=addr), codes["delivery"])
    if e.suspended:
        e.pending = (new, files)
    else:
        e.conf, e.files = new, files
        e._sync_state()
    out = [f"file delivery to server {n.address} success." if e.servers[n.name].alive
           else f"file delivery to server {n.address} failed." for n in e.bed.nodes]
    out += ["", guesses.CF_UPLOADED, "", guesses.CF_SUCCESS]
    return _reply(0, "\n".join(out) + "\n")


async def clpmonctrl(e: Engine, node: str, argv: list[str]) -> Reply:
    try:
        opts, _args = getopt.gnu_getopt(argv, "srcvm:h:")
    except getopt.GetoptError as ex:
        return _reply(1, err=f"clpmonctrl: {ex}\n")
    o = dict(opts)
    names = [o["-m"]] if "-m" in o else list(e.monitors)
    for n in names:
        if n not in e.monitors:
            return _reply(1, err="Invalid monitor resource name.\n")
    if "-v" in o:
        return _reply(0, "".join(f"  Resource {m} : {'Suspend' if e.monitors[m].suspended else 'Normal'}\n"
                                 for m in names))
    for n in names:
        ms = e.monitors[n]
        if "-s" in o:
            ms.suspended = True
        elif "-r" in o:
            ms.suspended, ms.next_due = False, 0.0
            e.poke()
        elif "-c" in o:
            ms.restarts, ms.fo_used, ms.fails = {}, 0, 0
        else:
            return _reply(1, err="Usage: clpmonctrl -s|-r|-c|-v [-m <monitor>]\n")
    return _reply(0, _msgs(e)["ok"] + "\n")
