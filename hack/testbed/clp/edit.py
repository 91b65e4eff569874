"""Edit clp.conf with clpcfadm-style paths (``resource/exec@exec-jc/parameters/act/sync``).

For tests and demos that build a configuration the way an operator would (node-protocol 4.2, 5.2).
Text in, text out; bytes in, bytes out in the file's declared charset (an EUC-JP clp.conf stays
EUC-JP, its Japanese text intact; the layout is re-indented).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import overload

from . import conf as clpconf

_ID_ATTR = {"device", "list", "hba", "grp", "servers", "netdev", "smtpsrv", "snmpsrv"}
_DECL = re.compile(r"""^\s*<\?xml[^>]*?encoding=["']([A-Za-z0-9_.-]+)["']""")


def _load(xml: str | bytes) -> tuple[ET.Element, str]:
    if isinstance(xml, bytes):
        charset = clpconf.declared_encoding(xml)
        text = clpconf.decode(xml)
    else:
        m = _DECL.match(xml)
        charset = m.group(1) if m else "ASCII"
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml, count=1)
    return ET.fromstring(text), charset  # noqa: S314 - test-local configuration


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


@overload
def set_path(xml: str, path: str, value: str) -> str: ...
@overload
def set_path(xml: bytes, path: str, value: str) -> bytes: ...
def set_path(xml: str | bytes, path: str, value: str) -> str | bytes:
    root, charset = _load(xml)
    el = root
    for step in path.split("/"):
        el = _child(el, step)
    el.text = value
    return _dump(root, charset, isinstance(xml, bytes))


@overload
def add_group_member(xml: str, group: str, rtype: str, rname: str) -> str: ...
@overload
def add_group_member(xml: bytes, group: str, rtype: str, rname: str) -> bytes: ...
def add_group_member(xml: str | bytes, group: str, rtype: str, rname: str) -> str | bytes:
    root, charset = _load(xml)
    g = _child(root, f"group@{group}")
    ET.SubElement(g, "resource", {"name": f"{rtype}@{rname}"})
    return _dump(root, charset, isinstance(xml, bytes))


@overload
def add_depend(xml: str, rtype: str, rname: str, on: str) -> str: ...
@overload
def add_depend(xml: bytes, rtype: str, rname: str, on: str) -> bytes: ...
def add_depend(xml: str | bytes, rtype: str, rname: str, on: str) -> str | bytes:
    root, charset = _load(xml)
    r = _child(_child(root, "resource"), f"{rtype}@{rname}")
    ET.SubElement(r, "depend", {"name": on})
    return _dump(root, charset, isinstance(xml, bytes))


def _dump(root: ET.Element, charset: str, as_bytes: bool) -> str | bytes:
    ET.indent(root, space="  ")
    text = f'<?xml version="1.0" encoding="{charset}"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return clpconf.encode(text, charset) if as_bytes else text
