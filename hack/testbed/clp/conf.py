"""clp.conf: build the initial file of a fresh cluster, parse it into a model, validate it.

Format: node-protocol 4.2 (``<root>``, ``<server name>``, ``<group name>`` with
``<resource name="TYPE@NAME"/>`` members, ``<resource><TYPE name>`` bodies, ``<monitor><TYPE name>``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .guesses import NAME_MAX

SUPPORTED_RESOURCES = ("fip", "disk", "exec")
SUPPORTED_MONITORS = ("userw", "pidw", "genw")


class ConfError(ValueError):
    """The configuration is not valid; the message says why."""


@dataclass
class Resource:
    type: str
    name: str
    params: dict[str, str]
    depends: list[str]

    def get(self, path: str, default: str = "") -> str:
        return self.params.get(path, default)


@dataclass
class Monitor:
    type: str
    name: str
    params: dict[str, str]

    def get(self, path: str, default: str = "") -> str:
        return self.params.get(path, default)

    @property
    def target(self) -> str:
        return self.get("target")

    @property
    def relation(self) -> tuple[str, str]:
        return self.get("relation/type"), self.get("relation/name")


@dataclass
class Group:
    name: str
    members: list[tuple[str, str]]  # (type, name) in file order
    policy: list[str]  # server names, startup order


@dataclass
class ClusterConf:
    name: str
    servers: list[str]  # by priority
    groups: dict[str, Group] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    monitors: dict[str, Monitor] = field(default_factory=dict)
    heartbeats: list[str] = field(default_factory=list)
    xml: str = ""

    def group_of(self, resource: str) -> str | None:
        for g in self.groups.values():
            if any(n == resource for _t, n in g.members):
                return g.name
        return None

    def start_order(self, group: str) -> list[Resource]:
        """Members in dependency order (a resource after everything it depends on)."""
        members = [self.resources[n] for _t, n in self.groups[group].members]
        names = {r.name for r in members}
        done: list[Resource] = []
        placed: set[str] = set()
        while len(done) < len(members):
            progress = False
            for r in members:
                if r.name in placed:
                    continue
                if all(d in placed or d not in names for d in r.depends):
                    done.append(r)
                    placed.add(r.name)
                    progress = True
            if not progress:
                raise ConfError(f"dependency loop among the resources of group {group}")
        return done

    def monitors_for_group(self, group: str) -> list[Monitor]:
        names = {n for _t, n in self.groups[group].members}
        out = []
        for m in self.monitors.values():
            rtype, rname = m.relation
            if m.target in names or (rtype == "rsc" and rname in names) or (rtype == "grp" and rname == group):
                out.append(m)
        return out


def _flatten(el: ET.Element, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for child in el:
        path = f"{prefix}{child.tag}"
        if len(child):
            out.update(_flatten(child, path + "/"))
        else:
            out[path] = (child.text or "").strip()
    return out


# clp.conf declares its charset in the XML declaration (node-protocol 4.2: ASCII on the English
# product, EUC-JP on the Japanese one). Python's expat cannot read multi-byte encodings, so the
# simulator decodes the bytes in the declared encoding itself and parses the text.
_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding=[\"']([A-Za-z0-9_.-]+)[\"'][^>]*\?>")
CODECS = {"ascii": "ascii", "us-ascii": "ascii", "euc-jp": "euc_jp", "eucjp": "euc_jp", "utf-8": "utf-8",
          "shift_jis": "shift_jis", "sjis": "shift_jis"}


def declared_encoding(data: bytes) -> str:
    """The charset the XML declaration names (``UTF-8`` when there is none, as XML says)."""
    m = _DECL.match(data)
    return m.group(1).decode() if m else "UTF-8"


def decode(data: bytes) -> str:
    """clp.conf bytes -> text without the XML declaration (ready for ElementTree)."""
    enc = declared_encoding(data)
    codec = CODECS.get(enc.lower())
    if codec is None:
        raise ConfError(f"clp.conf: unsupported encoding {enc}")
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as e:
        raise ConfError(f"clp.conf: not valid {enc}: {e}") from e
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)


def encode(text: str, charset: str) -> bytes:
    """Text (with or without a declaration) -> bytes in ``charset`` with that declaration."""
    body = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", text, count=1)
    return f'<?xml version="1.0" encoding="{charset}"?>\n{body}'.encode(CODECS[charset.lower()])


def parse(text: str | bytes) -> ClusterConf:
    if isinstance(text, bytes):
        text = decode(text)
    try:
        root = ET.fromstring(text)  # noqa: S314 - configs of a local test bed, not untrusted input
    except ET.ParseError as e:
        raise ConfError(f"clp.conf is not well-formed XML: {e}") from e
    if root.tag != "root":
        raise ConfError("clp.conf: the document element must be <root>")
    cname = (root.findtext("cluster/name") or "cluster").strip()
    servers = []
    for s in root.findall("server"):
        name = s.get("name")
        if not name:
            raise ConfError("clp.conf: <server> without a name")
        servers.append((int((s.findtext("priority") or "0").strip() or 0), name))
    conf = ClusterConf(name=cname, servers=[n for _p, n in sorted(servers)], xml=text)
    res_el = root.find("resource")
    if res_el is not None:
        for el in res_el:
            if el.tag == "types":
                continue
            name = el.get("name") or ""
            deps = [d.get("name") or "" for d in el.findall("depend")]
            params = _flatten(el)
            params = {k: v for k, v in params.items() if k != "depend"}
            if name in conf.resources:
                raise ConfError(f"clp.conf: duplicate resource name {name}")
            conf.resources[name] = Resource(el.tag, name, params, deps)
    mon_el = root.find("monitor")
    if mon_el is not None:
        for el in mon_el:
            if el.tag == "types":
                continue
            name = el.get("name") or ""
            if name in conf.monitors:
                raise ConfError(f"clp.conf: duplicate monitor name {name}")
            conf.monitors[name] = Monitor(el.tag, name, _flatten(el))
    hb = root.find("heartbeat")
    if hb is not None:
        conf.heartbeats = [el.get("name") or "" for el in hb if el.tag != "types"]
    for g in root.findall("group"):
        gname = g.get("name") or ""
        members = []
        for r in g.findall("resource"):
            ref = r.get("name") or ""
            if "@" not in ref:
                raise ConfError(f"clp.conf: group {gname}: bad resource reference {ref!r} (want TYPE@NAME)")
            rtype, rname = ref.split("@", 1)
            members.append((rtype, rname))
        policy = [p.get("name") or "" for p in
                  sorted(g.findall("policy"), key=lambda p: int((p.findtext("order") or "0").strip() or 0))]
        conf.groups[gname] = Group(gname, members, policy or list(conf.servers))
    validate(conf)
    return conf


def validate(conf: ClusterConf) -> None:
    """Reject what CLUSTERPRO's configuration check would reject (unknown references, ...)."""
    if not conf.servers:
        raise ConfError("clp.conf: no server is defined")
    for kind, names in (("group", conf.groups), ("resource", conf.resources), ("monitor", conf.monitors)):
        for n in names:
            if not n or len(n) > NAME_MAX:
                raise ConfError(f"{kind} name {n!r}: 1 to {NAME_MAX} characters")
    seen: dict[str, str] = {}
    for g in conf.groups.values():
        for p in g.policy:
            if p not in conf.servers:
                raise ConfError(f"group {g.name}: policy names unknown server {p}")
        for rtype, rname in g.members:
            r = conf.resources.get(rname)
            if r is None:
                raise ConfError(f"group {g.name}: resource {rtype}@{rname} is not defined")
            if r.type != rtype:
                raise ConfError(f"group {g.name}: resource {rname} is a {r.type}, not a {rtype}")
            if rname in seen:
                raise ConfError(f"resource {rname} is in two groups ({seen[rname]}, {g.name})")
            seen[rname] = g.name
        conf.start_order(g.name)
    for r in conf.resources.values():
        if r.name not in seen:
            raise ConfError(f"resource {r.type}@{r.name} does not belong to any group")
        if r.type not in SUPPORTED_RESOURCES:
            raise ConfError(f"resource {r.name}: type {r.type} is not supported by the test bed")
        for d in r.depends:
            if d not in conf.resources:
                raise ConfError(f"resource {r.name} depends on unknown resource {d}")
            if seen.get(d) != seen[r.name]:
                raise ConfError(f"resource {r.name} depends on {d} of another group")
        if r.type == "fip" and not r.get("parameters/ip"):
            raise ConfError(f"fip {r.name}: parameters/ip is not set")
        if r.type == "disk" and not r.get("parameters/mount/point").startswith("/"):
            raise ConfError(f"disk {r.name}: parameters/mount/point must be an absolute path")
    for m in conf.monitors.values():
        if m.type not in SUPPORTED_MONITORS:
            raise ConfError(f"monitor {m.name}: type {m.type} is not supported by the test bed")
        if m.target and m.target not in conf.resources:
            raise ConfError(f"monitor {m.name}: target {m.target} is not a defined resource")
        if m.get("polling/timing") == "1" and not m.target:
            raise ConfError(f"monitor {m.name}: active-time monitoring (polling/timing=1) needs a target")
        rtype, rname = m.relation
        if rtype == "rsc" and rname not in conf.resources:
            raise ConfError(f"monitor {m.name}: recovery target {rname} is not a defined resource")
        if rtype == "grp" and rname not in conf.groups:
            raise ConfError(f"monitor {m.name}: recovery target {rname} is not a defined group")
        if m.type == "pidw":
            t = conf.resources.get(m.target)
            if t is None or t.type != "exec":
                raise ConfError(f"monitor {m.name}: a PID monitor needs an exec resource as target")


def canonical_monitor(conf: ClusterConf, name: str) -> str:
    """Canonical text of monitor ``name`` ('' when it is not defined)."""
    mon_el = ET.fromstring(conf.xml).find("monitor")  # noqa: S314 - already parsed once by parse()
    for el in mon_el if mon_el is not None else []:
        if el.tag != "types" and el.get("name") == name:
            return ET.canonicalize(ET.tostring(el, encoding="unicode"), strip_text=True)
    return ""


def canonical_part(conf: ClusterConf, group: str, monitors: bool = True) -> str:
    """Canonical text of everything that defines ``group`` (to detect changes to an online group);
    ``monitors=False`` leaves the monitors that watch it out."""
    root = ET.fromstring(conf.xml)  # noqa: S314 - already parsed once by parse()
    parts = []
    for g in root.findall("group"):
        if g.get("name") == group:
            parts.append(ET.canonicalize(ET.tostring(g, encoding="unicode"), strip_text=True))
    members = {n for _t, n in conf.groups[group].members}
    res_el = root.find("resource")
    if res_el is not None:
        for el in res_el:
            if el.get("name") in members:
                parts.append(ET.canonicalize(ET.tostring(el, encoding="unicode"), strip_text=True))
    mon_el = root.find("monitor") if monitors else None
    related = {m.name for m in conf.monitors_for_group(group)}
    if mon_el is not None:
        for el in mon_el:
            if el.get("name") in related:
                parts.append(ET.canonicalize(ET.tostring(el, encoding="unicode"), strip_text=True))
    return "\n".join(parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def build_initial(*, servers: list[tuple[str, str]], group: str, fip: str | None, fip_name: str,
                  disk_name: str, mount_point: str, exec_name: str) -> str:
    """A freshly built cluster: one failover group (fip?) + disk + exec (default templates,
    sync start/stop), no monitor except userw. ``servers`` = [(name, address)] by priority."""
    return build_initial_groups(servers=servers, groups=[InitialGroup(
        name=group, fip=fip, fip_name=fip_name, disk_name=disk_name, mount_point=mount_point,
        exec_name=exec_name)])


@dataclass
class InitialGroup:
    """One failover group of a freshly built cluster: fip (optional) + disk + exec."""

    name: str
    fip: str | None
    fip_name: str
    disk_name: str
    mount_point: str
    exec_name: str


# Japanese text a cluster built with the Japanese product's WebUI carries (charset EUC-JP).
JAPANESE_COMMENTS = {"cluster": "JobCenter 用クラスタ（本番系）", "group": "JobCenter フェイルオーバグループ",
                     "userw": "ユーザ空間監視"}


def build_initial_groups(*, servers: list[tuple[str, str]], groups: list[InitialGroup],
                         charset: str = "ASCII") -> str:
    """A freshly built cluster with one or more failover groups (gid in list order), each with its
    own resources; every group's policy is the servers' priority order. ``charset`` EUC-JP: the
    Japanese product's declaration and Japanese comments (encode the result with ``encode``)."""
    japanese = charset.upper() == "EUC-JP"
    root = ET.Element("root")
    allel = _sub(root, "all")
    _sub(allel, "charset", charset)
    _sub(allel, "serveros", "linux")
    _sub(allel, "encode", charset)
    cl = _sub(root, "cluster")
    _sub(cl, "name", "cluster")
    _sub(cl, "comment", JAPANESE_COMMENTS["cluster"] if japanese else None)
    for prio, (name, addr) in enumerate(servers):
        s = _sub(root, "server", name=name)
        _sub(s, "priority", str(prio))
        dev = _sub(s, "device", id="0")
        _sub(dev, "type", "lan")
        _sub(dev, "info", addr)
    hb = _sub(root, "heartbeat")
    _sub(hb, "types", name="lankhb")
    lk = _sub(hb, "lankhb", name="lankhb1")
    _sub(lk, "priority", "0")
    _sub(lk, "device", "0")
    for gid, spec in enumerate(groups):
        g = _sub(root, "group", name=spec.name)
        _sub(g, "comment", JAPANESE_COMMENTS["group"] if japanese else None)
        _sub(g, "gid", str(gid))
        if spec.fip:
            _sub(g, "resource", name=f"fip@{spec.fip_name}")
        _sub(g, "resource", name=f"disk@{spec.disk_name}")
        _sub(g, "resource", name=f"exec@{spec.exec_name}")
        for prio, (name, _a) in enumerate(servers):
            p = _sub(g, "policy", name=name)
            _sub(p, "order", str(prio))
    res = _sub(root, "resource")
    if any(spec.fip for spec in groups):
        _sub(res, "types", name="fip")
    _sub(res, "types", name="disk")
    _sub(res, "types", name="exec")
    for spec in groups:
        if spec.fip:
            f = _sub(res, "fip", name=spec.fip_name)
            _sub(f, "comment")
            _sub(_sub(f, "parameters"), "ip", spec.fip)
    for spec in groups:
        d = _sub(res, "disk", name=spec.disk_name)
        _sub(d, "comment")
        dp = _sub(d, "parameters")
        _sub(dp, "disktype", "disk")
        _sub(dp, "device", "/dev/sdb2")
        _sub(dp, "fs", "ext4")
        _sub(_sub(dp, "mount"), "point", spec.mount_point)
    for spec in groups:
        e = _sub(res, "exec", name=spec.exec_name)
        _sub(e, "comment")
        ep = _sub(e, "parameters")
        act = _sub(ep, "act")
        _sub(act, "path", "start.sh")
        _sub(act, "sync", "1")
        deact = _sub(ep, "deact")
        _sub(deact, "path", "stop.sh")
        _sub(deact, "sync", "1")
        _sub(e, "depend", name=spec.disk_name)
        if spec.fip:
            _sub(e, "depend", name=spec.fip_name)
    mon = _sub(root, "monitor")
    _sub(mon, "types", name="userw")
    u = _sub(mon, "userw", name="userw")
    _sub(u, "comment", JAPANESE_COMMENTS["userw"] if japanese else None)
    rel = _sub(u, "relation")
    _sub(rel, "type", "cls")
    _sub(rel, "name", "LocalServer")
    ET.indent(root, space="  ")
    return f'<?xml version="1.0" encoding="{charset}"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
