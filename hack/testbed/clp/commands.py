"""The clp* commands as the cluster daemon answers them (messages and exit codes: node-protocol 5, 9).

Texts marked GUESS in node-protocol.md are kept in MESSAGES so they can be corrected in one place.
"""

from __future__ import annotations

import base64
import getopt
from typing import Any

from . import conf as clpconf
from . import formats
from .engine import Engine

MESSAGES = {  # GUESS texts (node-protocol 5.1, 5.3, 5.4)
    "ok": "Command succeeded.",
    "already_started_local": "The group has already been started on the local server.",
    "already_started_other": "The group has already been started on the other server.",
    "already_stopped": "The group has already been stopped.",
    "bad_group": "Invalid group name. Specify a valid group name in the cluster.",
    "bad_server": "Invalid server name. Specify a valid server name in the cluster.",
    "no_service": "Could not connect to the server. Check if the cluster service is active.",
    "start_failed": "Failed to start one or more group resources. Check the status of group",
    "stop_failed": "Failed to stop one or more group resources. Check the status of group",
    "suspended": "The cluster is suspended. Resume the cluster (clpcl --resume) first.",
    "not_online": "The group is not online.",
    "no_dest": "There is no server the group can move to.",
    "cl_started": "The cluster service has already been started.",
    "cl_stopped": "The cluster service has already been stopped.",
    "pending": "A group is being started or stopped. Retry later.",
}
CF_CODES = {"invalid": 11, "online_change": 12, "delivery": 13, "nodir": 14, "usage": 2}

Reply = dict[str, Any]


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
    if not argv or argv[0] in ("-s", "--long"):
        return _reply(0, formats.status(v))
    if argv[0] == "-g":
        return _reply(0, formats.groupmap(v))
    if argv[0] == "-m":
        return _reply(0, formats.monitors(v, {m: s.per_server for m, s in e.monitors.items()}))
    if argv[0] == "-n":
        return _reply(0, formats.heartbeats(v))
    return _reply(1, err=f"clpstat: invalid option -- '{argv[0]}'\nUsage: clpstat [-s|-g|-m|-n] [--long]\n")


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
            return _reply(1, err=MESSAGES["bad_group"] + "\n")
    if op == "-n":
        gs = e.groups[groups[0]]
        return _reply(0, f"{gs.current}\n" if gs.current and gs.status != "Offline" else "")
    target = o.get("-h", node)
    if target not in e.conf.servers:
        return _reply(1, err=MESSAGES["bad_server"] + "\n")
    if not _service_ok(e, target):
        return _reply(1, err=MESSAGES["no_service"] + "\n")
    if e.suspended:
        return _reply(1, err=MESSAGES["suspended"] + "\n")
    rc, errs = 0, list[str]()
    for g in groups:
        gs = e.groups[g]
        if gs.lock.locked():
            rc, errs = 1, [*errs, MESSAGES["pending"]]
            continue
        async with gs.lock:
            if op == "-s":
                if gs.status != "Offline":
                    if len(args) == 1:
                        rc = 1
                        errs.append(MESSAGES["already_started_local" if gs.current == target
                                             else "already_started_other"])
                    continue
                if not await e.start_group(g, target, "START"):
                    rc, errs = 1, [*errs, f"{MESSAGES['start_failed']} ({g})."]
            elif op == "-t":
                if gs.status == "Offline":
                    if len(args) == 1:
                        rc, errs = 1, [*errs, MESSAGES["already_stopped"]]
                    continue
                if not await e._deactivate(g, "START"):
                    rc, errs = 1, [*errs, f"{MESSAGES['stop_failed']} ({g})."]
            else:  # -m
                if gs.current is None or gs.status == "Offline":
                    if len(args) == 1:
                        rc, errs = 1, [*errs, MESSAGES["not_online"]]
                    continue
                dest = o.get("-a") or e.next_server(g, {gs.current})
                if dest is None or dest == gs.current or dest not in e.online_servers():
                    rc, errs = 1, [*errs, MESSAGES["bad_server" if o.get("-a") else "no_dest"]]
                    continue
                if not await e._deactivate(g, "START") or not await e.start_group(g, dest, "START"):
                    rc, errs = 1, [*errs, f"{MESSAGES['start_failed']} ({g})."]
    if rc:
        return _reply(rc, err="\n".join(errs) + "\n")
    return _reply(0, MESSAGES["ok"] + "\n")


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
            return _reply(1, err=MESSAGES["bad_server"] + "\n")
    if "--suspend" in o:
        if any(g.lock.locked() for g in e.groups.values()):
            return _reply(1, err=MESSAGES["pending"] + "\n")
        e.suspended = True
        return _reply(0, MESSAGES["ok"] + "\n")
    if "--resume" in o:
        if not e.suspended:
            return _reply(1, err="The cluster is not suspended.\n")
        if e.pending:
            e.conf, e.files = e.pending
            e.pending = None
            e._sync_state()
        for ms in e.monitors.values():
            ms.fails, ms.next_due = 0, 0.0
        e.suspended = False
        return _reply(0, MESSAGES["ok"] + "\n")
    if "-r" in o:
        return _reply(0, MESSAGES["ok"] + "\n")
    if "-s" not in o and "-t" not in o:
        return _reply(1, err="Usage: clpcl -s|-t|-r|--suspend|--resume [-a] [-h <host>]\n")
    start = "-s" in o
    verb = "Start" if start else "Stop"
    lines, rc = [], 0
    for t in targets:
        st = e.servers[t]
        if not st.alive:
            lines.append((t, MESSAGES["no_service"]))
            rc = 1
            continue
        if st.service == start:
            lines.append((t, MESSAGES["cl_started" if start else "cl_stopped"]))
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
        lines.append((t, MESSAGES["ok"]))
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
    return _reply(code, err=f"{reason}\nCommand failed.(code:{code})\n")


async def clpcfctrl(e: Engine, node: str, req: dict[str, Any]) -> Reply:
    mode = req["mode"]
    if mode == "pull":
        return {**_reply(0, "Command succeeded.(code:0)\n"), "files": _files_out(e.files)}
    files = _files_in(req["files"])
    if "clp.conf" not in files:
        return _cf_fail("clp.conf is not found in the configuration directory.", CF_CODES["invalid"])
    try:
        new = clpconf.parse(files["clp.conf"][0])
    except clpconf.ConfError as ex:
        return _cf_fail(f"The configuration is invalid: {ex}", CF_CODES["invalid"])
    unknown = [s for s in new.servers if s not in e.servers]
    if unknown:
        return _cf_fail(f"The configuration is invalid: unknown server {unknown[0]}", CF_CODES["invalid"])
    if mode == "compcheck":
        return _reply(0, "Command succeeded.(code:0)\n")
    if not e.suspended:
        for g, gs in e.groups.items():
            if gs.status == "Offline" and gs.current is None:
                continue
            same = g in new.groups and clpconf.canonical_part(e.conf, g) == clpconf.canonical_part(new, g) \
                and _group_files(e.conf, e.files, g) == _group_files(new, files, g)
            if not same:
                return _cf_fail(f"The configuration of group {g} cannot be changed while the group is "
                                f"online. Stop the group or suspend the cluster (clpcl --suspend) first.",
                                CF_CODES["online_change"])
    down = [s for s in e.conf.servers if s in e.servers and not e.servers[s].alive]
    if down and not req.get("force"):
        addr = e.bed.node(down[0]).address
        return _cf_fail(f"file delivery to server {addr} failed.", CF_CODES["delivery"])
    if e.suspended:
        e.pending = (new, files)
    else:
        e.conf, e.files = new, files
        e._sync_state()
    out = []
    for n in e.bed.nodes:
        if e.servers[n.name].alive:
            e.deliver_to(n.name, files)
            out.append(f"file delivery to server {n.address} success.")
        else:
            out.append(f"file delivery to server {n.address} failed.")
    out += ["", "The upload is completed successfully.(cfmgr:0)", "", "Command succeeded.(code:0)"]
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
        elif "-c" in o:
            ms.restarts, ms.fo_used, ms.fails = {}, 0, 0
        else:
            return _reply(1, err="Usage: clpmonctrl -s|-r|-c|-v [-m <monitor>]\n")
    return _reply(0, MESSAGES["ok"] + "\n")
