"""Output formats of clpstat (node-protocol 5.5). -s/-g/--long are VERIFIED layouts; -m/-n are GUESS
(with an alternative each, variant clpstat-guessed-alt). Name widths: clp/guesses.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from .guesses import WIDTH_DEFAULT, WIDTH_LONG

RULE = " " + "=" * 69
DASH = "  " + "-" * 68


@dataclass
class StatView:
    """What clpstat shows: filled by the cluster daemon."""

    cluster: str
    local: str
    servers: list[tuple[str, str]]  # (name, status)
    heartbeats: list[str]
    groups: list[tuple[str, str, str | None, list[tuple[str, str]]]]  # name, status, current, resources
    monitors: list[tuple[str, str, str]]  # name, status, comment
    server_online: dict[str, bool] = field(default_factory=dict)
    group_online: dict[str, str | None] = field(default_factory=dict)


def _dotted(name: str, width: int = 17) -> str:
    """Server/group name field: name, a space, dots up to ``width``; cut so a space always remains."""
    if len(name) >= width - 1:
        return name[:width - 1] + " "
    return name + " " + "." * (width - 1 - len(name))


def _padded(name: str, width: int) -> str:
    """Monitor/resource/heartbeat name field: name cut to ``width``-1 and padded with spaces."""
    return f"{name[:width - 1]:<{width}}"


# Title rules copied from the transcripts (S5/S7); the -m/-n ones are GUESS.
_TITLES = {
    "CLUSTER STATUS": " " + "=" * 24 + "  CLUSTER STATUS  " + "=" * 27,
    "GROUPMAP INFORMATION": " " + "=" * 22 + "  GROUPMAP INFORMATION  " + "=" * 23,
    "MONITOR RESOURCE STATUS": " " + "=" * 21 + "  MONITOR RESOURCE STATUS  " + "=" * 21,
    "HEARTBEAT RESOURCE STATUS": " " + "=" * 20 + "  HEARTBEAT RESOURCE STATUS  " + "=" * 20,
}


def _title(text: str) -> str:
    return _TITLES[text]


def status(v: StatView, long: bool = False) -> str:
    w = WIDTH_LONG if long else WIDTH_DEFAULT
    top, sub = w["top"], w["sub"]
    lines = [_title("CLUSTER STATUS"), f"  Cluster : {v.cluster}", "  <server>"]
    for name, st in v.servers:
        mark = "*" if name == v.local else " "
        lines.append(f"   {mark}{_dotted(name, top)}: {st:<17}".rstrip())
        for hb in v.heartbeats:
            hb_st = "Normal" if st == "Online" else st if st in ("Offline", "Suspend") else "Caution"
            lines.append(f"      {_padded(hb, sub)}: {hb_st:<17}Kernel Mode LAN Heartbeat")
    lines.append("  <group>")
    for name, st, current, resources in v.groups:
        lines.append(f"    {_dotted(name, top)}: {st:<17}".rstrip())
        lines.append(f"      {_padded('current', sub)}: {current or 'None'}")
        for rname, rst in resources:
            lines.append(f"      {_padded(rname, sub)}: {rst}")
    lines.append("  <monitor>")
    for name, st, comment in v.monitors:
        lines.append(f"    {_padded(name, top)}: {st:<17}{comment}".rstrip())
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def groupmap(v: StatView) -> str:
    lines = [_title("GROUPMAP INFORMATION"), f"  Cluster : {v.cluster}"]
    for i, (name, _st) in enumerate(v.servers):
        mark = "*" if name == v.local else " "
        lines.append(f"   {mark}server{i} : {name}")
    lines += ["", DASH]
    for i, (name, _st) in enumerate(v.servers):
        flag = "o" if v.server_online.get(name) else "-"
        groups = [f"{g}[o]" for g, _s, cur, _r in v.groups if cur == name and _s.startswith("Online")]
        groups = [g if not any(n == g[:-3] and s == "Online Failure" for n, s, _c, _r in v.groups)
                  else g[:-3] + "[e]" for g in groups]
        lines.append(f"    server{i} [{flag}] : {', '.join(groups)}".rstrip())
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def monitors(v: StatView, per_server: dict[str, dict[str, str]], alt: bool = False) -> str:
    """GUESS layout (node-protocol 5.5 -m); ``alt``: one line per monitor and server instead."""
    if alt:
        out = [_title("MONITOR RESOURCE STATUS"), f"  Cluster : {v.cluster}", ""]
        for mname, mst, _c in v.monitors:
            out.append(f"  {mname} ({mst})")
            out += [f"    {sname:<16} {per_server.get(mname, {}).get(sname, 'Offline')}" for sname, _st in v.servers]
        out.append(RULE)
        return "\n".join(out) + "\n"
    lines = [_title("MONITOR RESOURCE STATUS"), f"  Cluster : {v.cluster}"]
    for i, (name, _st) in enumerate(v.servers):
        mark = "*" if name == v.local else " "
        lines.append(f"   {mark}server{i} : {name}")
    for j, (mname, mst, _c) in enumerate(v.monitors):
        lines += ["", f"  Monitor{j} [{mname} : {mst}]", DASH]
        for i, (sname, _st) in enumerate(v.servers):
            flag = "o" if v.server_online.get(sname) else "-"
            lines.append(f"    server{i} [{flag}] : {per_server.get(mname, {}).get(sname, 'Offline')}")
    lines.append(RULE)
    return "\n".join(lines) + "\n"


def heartbeats(v: StatView, alt: bool = False) -> str:
    """GUESS layout (node-protocol 5.5 -n); ``alt``: a server x heartbeat matrix of words."""
    if alt:
        out = [_title("HEARTBEAT RESOURCE STATUS"), f"  Cluster : {v.cluster}", ""]
        for name, st in v.servers:
            ok = v.server_online.get(name)
            out += [f"  {name} : {st}"] + [f"    {hb:<16} {'Normal' if ok else 'Error'}" for hb in v.heartbeats]
        out.append(RULE)
        return "\n".join(out) + "\n"
    lines = [_title("HEARTBEAT RESOURCE STATUS"), f"  Cluster : {v.cluster}"]
    for i, (name, _st) in enumerate(v.servers):
        mark = "*" if name == v.local else " "
        lines.append(f"   {mark}server{i} : {name}")
    lines.append("")
    for k, hb in enumerate(v.heartbeats):
        lines.append(f"  HB{k} : {hb}")
    for i, (name, st) in enumerate(v.servers):
        lines += ["", f"  [on server{i} : {st}]", "      HB    " + "  ".join(str(k) for k in range(len(v.heartbeats))),
                  DASH]
        for i2, (name2, _st2) in enumerate(v.servers):
            ok = v.server_online.get(name) and v.server_online.get(name2)
            lines.append(f"    server{i2} : " + "  ".join("o" if ok else "x" for _ in v.heartbeats))
    lines.append(RULE)
    return "\n".join(lines) + "\n"
