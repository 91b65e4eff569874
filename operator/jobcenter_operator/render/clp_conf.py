"""The JobCenter settings of a site in CLUSTERPRO's clp.conf: edit the bytes to apply them.

Pure module. Reading clp.conf is the facts' (facts/cluster_config.py); this module only writes.
Edits go through :mod:`jobcenter_operator.xml_spans`, so everything the operator does not own (other
groups, resources, monitors, comments, the declaration, attribute order, indentation) comes back
byte for byte, and a file that already matches comes back identical: whether a push is needed
is a plain comparison.

What the operator owns, per mode (node-protocol 4.2, vendor guide 2.2 and 3.2):

- Classic / StandardManager with process monitoring: the exec resource's start script is
  asynchronous (``act/sync`` 0: cjcpw stays resident) and its stop script synchronous
  (``deact/sync`` 1: ``cjcpw -stop`` takes minutes). A PID monitor (pidw) watches the start
  script, active while the exec is online (``polling/timing`` 1, ``target`` the exec). Recovery
  (the product's documented defaults for pidw): reactivate the exec resource up to 3 times on
  the same node, then fail the group over once, then final action 1 (none): a site that keeps
  dying on both nodes stays down for a human rather than bouncing forever.
- Classic / StandardManager without process monitoring: ``cjcpw -c`` returns, so both scripts
  are synchronous, and the operator's PID monitor is removed.
- StandardAgent: both scripts synchronous (systemctl returns). A synchronous custom monitor
  (genw) runs genw.sh, active while the exec is online; recovery target the failover group with
  maximum reactivation 0 (the vendor's setting: the first failure fails over), failover once,
  final action none.

Elements the operator creates are written in this order: ``parameters`` (genw), ``polling``,
``target``, ``relation``, ``emergency``. Existing elements are edited in place wherever they are.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from jobcenter_operator.api.site import JobCenterSiteSpec

from ..xml_spans import Document, Element, Leaf, NewElement, XmlError, build, parsed

PID_MONITOR = "pidw"
CUSTOM_MONITOR = "genw"

# Recovery values, see the module docstring.
PIDW_MAX_RESTART = 3
GENW_MAX_RESTART = 0
MAX_FAILOVER = 1
FINAL_ACTION_NONE = 1


class ClpConfError(ValueError):
    """clp.conf cannot hold this site: invalid XML, or a missing or conflicting object."""


# The (sha256 of clp.conf, spec) pairs configure_site left as they were, most recent last: a converged
# site's drift check then reads no XML (two thirds of its CPU otherwise). Bounded; a pure function's
# memo, so the answer is the same with or without it. The spec is keyed by its JSON: a spec holds
# lists (maintenance windows, for one), which a frozen model cannot hash.
_UNCHANGED: OrderedDict[tuple[str, str], None] = OrderedDict()
UNCHANGED_CACHE_SIZE = 4096


def configured(xml: str, spec: JobCenterSiteSpec, digest: str | None) -> str:
    """``configure_site(xml, spec)``; ``digest`` is the sha256 of ``xml`` (None: always computed)."""
    key = (digest, spec.model_dump_json()) if digest is not None else None
    if key is not None and key in _UNCHANGED:
        _UNCHANGED.move_to_end(key)
        return xml
    desired = configure_site(xml, spec)
    if key is not None and desired == xml:
        _UNCHANGED[key] = None
        if len(_UNCHANGED) > UNCHANGED_CACHE_SIZE:
            _UNCHANGED.popitem(last=False)
    return desired


def configure_site(xml: str, spec: JobCenterSiteSpec) -> str:
    """clp.conf with the site's exec resource and monitor configured for ``spec``."""
    doc = _parse(xml)
    _check_site(doc, spec)
    kind = _monitor_kind(spec)
    if kind is not None:
        _check_monitor_name(doc, spec.monitor_resource, kind)
    act_sync = 0 if kind == PID_MONITOR else 1
    xml = _ensure_leaves(xml, _exec_locator(spec.exec_resource), _exec_leaves(act_sync))
    if kind is None:
        return _remove_monitor(xml, PID_MONITOR, spec.monitor_resource)
    return _ensure_monitor(xml, kind, spec.monitor_resource, _monitor_leaves(spec))


# --- what the operator wants ------------------------------------------------------------------


def _monitor_kind(spec: JobCenterSiteSpec) -> str | None:
    if spec.mode == "StandardAgent":
        return CUSTOM_MONITOR
    return PID_MONITOR if spec.process_monitoring else None


def _exec_leaves(act_sync: int) -> list[Leaf]:
    return [
        (("parameters", "act", "path"), "start.sh"),
        (("parameters", "act", "sync"), str(act_sync)),
        (("parameters", "deact", "path"), "stop.sh"),
        (("parameters", "deact", "sync"), "1"),
    ]


def _monitor_leaves(spec: JobCenterSiteSpec) -> list[Leaf]:
    polling: list[Leaf] = [
        (("polling", "interval"), str(spec.monitor_interval_seconds)),
        (("polling", "timing"), "1"),  # active-time monitoring: only while the exec is online
        (("target",), spec.exec_resource),
    ]
    if spec.mode == "StandardAgent":
        return [
            (("parameters", "path"), "genw.sh"),
            (("parameters", "sync"), "1"),
            (("parameters", "normalval"), "0"),
            *polling,
            (("relation", "type"), "grp"),
            (("relation", "name"), spec.failover_group),
            (("emergency", "threshold", "restart"), str(GENW_MAX_RESTART)),
            (("emergency", "threshold", "fo"), str(MAX_FAILOVER)),
            (("emergency", "action"), str(FINAL_ACTION_NONE)),
        ]
    return [
        *polling,
        (("relation", "type"), "rsc"),
        (("relation", "name"), spec.exec_resource),
        (("emergency", "threshold", "restart"), str(PIDW_MAX_RESTART)),
        (("emergency", "threshold", "fo"), str(MAX_FAILOVER)),
        (("emergency", "action"), str(FINAL_ACTION_NONE)),
    ]


# --- reading ------------------------------------------------------------------------------------


def _parse(xml: str) -> Document:
    try:
        doc = parsed(xml)
    except XmlError as error:
        raise ClpConfError(f"clp.conf: {error}") from error
    if doc.root.tag != "root":
        raise ClpConfError(f"clp.conf: the root element is <{doc.root.tag}>, expected <root>")
    return doc


def _check_site(doc: Document, spec: JobCenterSiteSpec) -> None:
    group = _group(doc, spec.failover_group)
    if _resource(doc, "exec", spec.exec_resource) is None:
        raise ClpConfError(f"clp.conf: exec resource {spec.exec_resource!r} does not exist")
    member = f"exec@{spec.exec_resource}"
    if not any(resource.attrs.get("name") == member for resource in group.children_named("resource")):
        raise ClpConfError(
            f"clp.conf: exec resource {spec.exec_resource!r} is not a member of group {spec.failover_group!r}"
        )


def _check_monitor_name(doc: Document, name: str, kind: str) -> None:
    # Monitor names are unique across monitor types in CLUSTERPRO: another type holding the name
    # is someone else's monitor, never ours to convert.
    monitor = _monitor_named(doc, name)
    if monitor is not None and monitor.tag != kind:
        raise ClpConfError(f"clp.conf: monitor {name!r} already exists as a {monitor.tag} monitor, expected {kind}")


def _group(doc: Document, name: str) -> Element:
    group = doc.root.child("group", name)
    if group is None:
        raise ClpConfError(f"clp.conf: group {name!r} does not exist")
    return group


def _resource(doc: Document, kind: str, name: str) -> Element | None:
    resources = doc.root.child("resource")
    return resources.child(kind, name) if resources is not None else None


def _monitor_named(doc: Document, name: str) -> Element | None:
    monitors = doc.root.child("monitor")
    if monitors is None:
        return None
    for monitor in monitors.children:
        if monitor.tag != "types" and monitor.attrs.get("name") == name:
            return monitor
    return None


# --- editing -----------------------------------------------------------------------------------

Locator = Callable[[Element], Element | None]


def _exec_locator(name: str) -> Locator:
    def locate(root: Element) -> Element | None:
        resources = root.child("resource")
        return resources.child("exec", name) if resources is not None else None

    return locate


def _monitor_locator(kind: str, name: str) -> Locator:
    def locate(root: Element) -> Element | None:
        monitors = root.child("monitor")
        return monitors.child(kind, name) if monitors is not None else None

    return locate


def _ensure_leaves(xml: str, locate: Locator, leaves: list[Leaf]) -> str:
    for path, value in leaves:
        xml = _ensure_leaf(xml, locate, path, value)
    return xml


def _ensure_leaf(xml: str, locate: Locator, path: tuple[str, ...], value: str) -> str:
    """Make ``path`` below the located element hold ``value``, creating what is missing."""
    doc = parsed(xml)
    node = locate(doc.root)
    assert node is not None, "located element vanished"
    for depth, tag in enumerate(path):
        child = node.child(tag)
        if child is None:
            new = build(tag, (), [(path[depth + 1 :], value)]) if depth + 1 < len(path) else NewElement(tag, text=value)
            return _edit(doc.insert, node, new)
        node = child
    current = doc.text(node)
    if current is not None and current.strip() == value:
        return xml
    return _edit(doc.set_text, node, value)


def _ensure_monitor(xml: str, kind: str, name: str, leaves: list[Leaf]) -> str:
    doc = parsed(xml)
    types = NewElement("types", (("name", kind),))
    monitor = build(kind, (("name", name),), leaves)
    monitors = doc.root.child("monitor")
    if monitors is None:
        # No monitor section at all: add one after the resources, as the product lays it out.
        section = NewElement("monitor", children=(types, monitor))
        xml = _edit(doc.insert, doc.root, section, after=doc.root.child("resource"))
        return _adjust_object_number(xml, +1)
    declared = monitors.children_named("types")
    if not any(declaration.attrs.get("name") == kind for declaration in declared):
        if declared:
            xml = _edit(doc.insert, monitors, types, after=declared[-1])
        elif monitors.children:
            xml = _edit(doc.insert, monitors, types, before=monitors.children[0])
        else:
            xml = _edit(doc.insert, monitors, types)
        doc = parsed(xml)
        monitors = doc.root.child("monitor")
        assert monitors is not None
    if monitors.child(kind, name) is None:
        same_kind = monitors.children_named(kind)
        xml = _edit(doc.insert, monitors, monitor, after=same_kind[-1] if same_kind else None)
        return _adjust_object_number(xml, +1)
    return _ensure_leaves(xml, _monitor_locator(kind, name), leaves)


def _remove_monitor(xml: str, kind: str, name: str) -> str:
    doc = parsed(xml)
    monitors = doc.root.child("monitor")
    monitor = monitors.child(kind, name) if monitors is not None else None
    if monitor is None:
        return xml
    xml = _adjust_object_number(doc.remove(monitor), -1)
    doc = parsed(xml)
    monitors = doc.root.child("monitor")
    assert monitors is not None
    if not monitors.children_named(kind):
        # The type declaration goes with the last monitor of that type, not before.
        for declaration in monitors.children_named("types"):
            if declaration.attrs.get("name") == kind:
                return doc.remove(declaration)
    return xml


def _adjust_object_number(xml: str, delta: int) -> str:
    """Keep webmgr/client/objectnumber (the WebUI's object count, which includes one per
    monitor) in step with a monitor added or removed, when the file has one."""
    doc = parsed(xml)
    counter = doc.root.find(("webmgr", "client", "objectnumber"))
    text = doc.text(counter) if counter is not None else None
    if counter is None or text is None or not text.strip().isdigit():
        return xml
    return doc.set_text(counter, str(int(text) + delta))


def _edit(operation: Callable[..., str], *args: object, **kwargs: object) -> str:
    try:
        return operation(*args, **kwargs)
    except XmlError as error:
        raise ClpConfError(f"clp.conf: {error}") from error
