"""clp.conf, read once into a typed model: servers, groups (members and where each may run),
resource bodies and monitors. Pure: the probe's ``clp_conf`` section is parsed here, and
preflight and the planner read this model; render/ only edits the file's bytes.

Formats (node-protocol 4.2): ``<group name="G">`` lists its members as ``<resource name="type@rsc"/>``
and where it may run as ``<policy name="server"><order>n</order></policy>`` (startup order; none:
every server); resource bodies live under ``<resource><type name="rsc">``; monitors under
``<monitor><type name="mon">`` next to ``<types name="type"/>`` declarations.
"""

from __future__ import annotations

from pydantic import Field

from ..frozen import Frozen
from ..xml_spans import Document, Element, XmlError


class ResourceConfig(Frozen):
    kind: str  # exec, fip, disk, md, ...
    name: str
    floating_ip: str | None = None  # fip: parameters/ip
    mount_point: str | None = None  # disk-like: parameters/mount/point
    depends: tuple[str, ...] = ()  # explicit <depend> names (empty: the product's default)


class GroupConfig(Frozen):
    name: str
    members: tuple[str, ...]  # "type@name", in file order
    servers: tuple[str, ...]  # where the group may run, in startup order


class ClusterConfig(Frozen):
    servers: tuple[str, ...] = ()
    groups: dict[str, GroupConfig] = Field(default_factory=dict)
    resources: dict[str, ResourceConfig] = Field(default_factory=dict)  # by "type@name"
    monitors: dict[str, str] = Field(default_factory=dict)  # monitor name -> type (pidw, genw, ...)

    def group_resources(self, group: str) -> tuple[ResourceConfig, ...]:
        """The members of ``group`` that have a body, in the group's order."""
        found = self.groups.get(group)
        return tuple(self.resources[m] for m in found.members if m in self.resources) if found else ()

    def floating_ips(self, group: str) -> tuple[str, ...]:
        fips = (r.floating_ip for r in self.group_resources(group) if r.kind == "fip")
        return tuple(ip for ip in fips if ip is not None)

    def mount_points(self, group: str) -> tuple[str, ...]:
        return tuple(r.mount_point for r in self.group_resources(group) if r.mount_point is not None)


class ClpConfInvalid(ValueError):
    """clp.conf is not well-formed, or not a CLUSTERPRO configuration."""


def parse_cluster_config(xml: str) -> ClusterConfig:
    try:
        doc = Document(xml)
    except XmlError as error:
        raise ClpConfInvalid(f"clp.conf: {error}") from error
    root = doc.root
    if root.tag != "root":
        raise ClpConfInvalid(f"clp.conf: the root element is <{root.tag}>, expected <root>")
    servers = tuple(s.attrs.get("name", "") for s in root.children_named("server"))
    groups: dict[str, GroupConfig] = {}
    for element in root.children_named("group"):
        group = _group(doc, element, servers)
        groups.setdefault(group.name, group)  # the first of a name counts, as for the product
    resources: dict[str, ResourceConfig] = {}
    for section in root.children_named("resource"):
        for body in section.children:
            if body.tag != "types":
                resource = _resource(doc, body)
                resources.setdefault(f"{resource.kind}@{resource.name}", resource)
    monitors = {m.attrs.get("name", ""): m.tag for section in root.children_named("monitor")
                for m in section.children if m.tag != "types"}
    return ClusterConfig(servers=servers, groups=groups, resources=resources, monitors=monitors)


def _group(doc: Document, element: Element, servers: tuple[str, ...]) -> GroupConfig:
    members = tuple(member.attrs.get("name", "") for member in element.children_named("resource"))

    def order(policy: Element) -> int:
        found = policy.child("order")
        text = (doc.text(found) or "").strip() if found is not None else ""
        return int(text) if text.isdigit() else 0

    policy = sorted(element.children_named("policy"), key=order)
    return GroupConfig(name=element.attrs.get("name", ""), members=members,
                       servers=tuple(p.attrs.get("name", "") for p in policy) or servers)


def _resource(doc: Document, body: Element) -> ResourceConfig:
    def text(*path: str) -> str | None:
        found = body.find(path)
        value = doc.text(found) if found is not None else None
        return value.strip() if value is not None else None

    return ResourceConfig(
        kind=body.tag, name=body.attrs.get("name", ""),
        floating_ip=text("parameters", "ip") if body.tag == "fip" else None,
        mount_point=text("parameters", "mount", "point"),
        depends=tuple(d.attrs.get("name", "") for d in body.children_named("depend")) if body.tag == "exec" else (),
    )
