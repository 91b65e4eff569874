"""Edit clp.conf text with clpcfadm-style paths (``resource/exec@exec-jc/parameters/act/sync``).

For tests and demos that build a configuration the way an operator would (node-protocol 4.2, 5.2).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

_ID_ATTR = {"device", "list", "hba", "grp", "servers", "netdev", "smtpsrv", "snmpsrv"}


def _child(parent: ET.Element, step: str) -> ET.Element:
    tag, _, key = step.partition("@")
    attr = "id" if tag in _ID_ATTR else "name"
    for el in parent.findall(tag):
        if not key or el.get(attr) == key:
            return el
    el = ET.SubElement(parent, tag, {attr: key} if key else {})
    if key and parent.tag in ("resource", "monitor", "heartbeat") and parent.find(f"types[@name='{tag}']") is None:
        parent.insert(0, ET.Element("types", {"name": tag}))
    return el


def set_path(xml: str, path: str, value: str) -> str:
    root = ET.fromstring(xml)  # noqa: S314 - test-local configuration
    el = root
    for step in path.split("/"):
        el = _child(el, step)
    el.text = value
    return _dump(root)


def add_group_member(xml: str, group: str, rtype: str, rname: str) -> str:
    root = ET.fromstring(xml)  # noqa: S314 - test-local configuration
    g = _child(root, f"group@{group}")
    ET.SubElement(g, "resource", {"name": f"{rtype}@{rname}"})
    return _dump(root)


def add_depend(xml: str, rtype: str, rname: str, on: str) -> str:
    root = ET.fromstring(xml)  # noqa: S314 - test-local configuration
    r = _child(_child(root, "resource"), f"{rtype}@{rname}")
    ET.SubElement(r, "depend", {"name": on})
    return _dump(root)


def _dump(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="ASCII"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
