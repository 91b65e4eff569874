"""Undo :func:`.clp_conf.configure_site`: put a site's exec scripts and monitor back as a backup had them.

Pure module. Used when a JobCenterSite is deleted with ``deletionPolicy: Unconfigure``.
``backup`` is clp.conf as it was before the operator first pushed; ``current`` is the live file,
which may hold changes made since (other groups, other monitors): only what the operator owns
is taken from the backup, every other byte comes from ``current``.

What is restored (everything else is ``current`` byte for byte):

- The exec resource ``spec.exec_resource``: ``parameters/act/path``, ``parameters/act/sync``,
  ``parameters/deact/path`` and ``parameters/deact/sync``. A leaf the backup has gets the
  backup's exact element text; a leaf the backup lacks is removed, and so are ``act``, ``deact``
  and ``parameters`` when the backup lacks them and nothing else is left in them (one the backup
  has empty, such as ``<parameters/>``, gets the backup's text back). Other children
  of the exec (comment, timeouts, log settings, dependencies) are not touched. When the backup
  has no such exec at all (it was created after the backup), the exec is left as it is: removing
  its scripts would leave a resource the product refuses.
- The monitor ``spec.monitor_resource`` of the type the mode uses (pidw for Classic and
  StandardManager, whether or not process monitoring is on; genw for StandardAgent). A monitor
  of another type holding the name is never the operator's and is not touched.

  - backup has it: ``current``'s is replaced by the backup's element text exactly; when
    ``current`` has none (process monitoring was switched off), the backup's text is put back
    after the same-type monitors, with its ``<types>`` declaration when missing and
    ``webmgr/client/objectnumber`` +1.
  - backup lacks it: it is removed from ``current``, its ``<types>`` declaration only with the
    last monitor of that type, ``objectnumber`` -1; a ``<monitor>`` section left empty goes too
    when the backup had none (and becomes the backup's text when the backup's was empty).

``restore_site(configure_site(b, spec), b, spec) == b`` for a file ``configure_site`` accepts,
and ``restore_site`` is idempotent.
"""

from __future__ import annotations

from jobcenter_operator.api.site import JobCenterSiteSpec

from ..xml_spans import Document, Element, NewElement
from .clp_conf import (
    CUSTOM_MONITOR,
    PID_MONITOR,
    ClpConfError,
    Locator,
    _adjust_object_number,
    _edit,
    _ensure_leaf,
    _exec_locator,
    _parse,
    _remove_monitor,
)

# The exec leaves configure_site writes, and the branches holding them (deepest first).
EXEC_LEAVES: tuple[tuple[str, ...], ...] = (
    ("parameters", "act", "path"),
    ("parameters", "act", "sync"),
    ("parameters", "deact", "path"),
    ("parameters", "deact", "sync"),
)
EXEC_BRANCHES: tuple[tuple[str, ...], ...] = (("parameters", "act"), ("parameters", "deact"), ("parameters",))


def restore_site(current: str, backup: str, spec: JobCenterSiteSpec) -> str:
    """``current`` with the site's exec scripts and monitor as ``backup`` has them."""
    current_doc = _parse(current)
    backup_doc = _parse(backup)
    locate = _exec_locator(spec.exec_resource)
    if locate(current_doc.root) is None:
        raise ClpConfError(f"clp.conf: exec resource {spec.exec_resource!r} does not exist")
    backup_exec = locate(backup_doc.root)
    xml = current
    if backup_exec is not None:
        xml = _restore_exec(xml, locate, backup_doc, backup_exec)
    kind = CUSTOM_MONITOR if spec.mode == "StandardAgent" else PID_MONITOR
    return _restore_monitor(xml, backup_doc, kind, spec.monitor_resource)


# --- exec --------------------------------------------------------------------------------------


def _restore_exec(xml: str, locate: Locator, backup_doc: Document, backup_exec: Element) -> str:
    for path in EXEC_LEAVES:
        wanted = backup_exec.find(path)
        if wanted is None:
            xml = _remove_path(xml, locate, path)
        else:
            xml = _restore_leaf(xml, locate, path, backup_doc, wanted)
    for path in (*EXEC_BRANCHES, ()):
        xml = _settle_empty(xml, locate, path, backup_doc, backup_exec.find(path))
    return xml


def _restore_leaf(xml: str, locate: Locator, path: tuple[str, ...], backup_doc: Document, wanted: Element) -> str:
    """Make the element at ``path`` below the located element the backup's ``wanted``, byte for byte."""
    wanted_text = backup_doc.source[wanted.start : wanted.end]
    doc = Document(xml)
    found = _locate(doc, locate).find(path)
    if found is None:
        # Removed since the backup: recreate it (with any missing branch), then copy the exact text.
        xml = _ensure_leaf(xml, locate, path, backup_doc.text(wanted) or "")
        doc = Document(xml)
        found = _locate(doc, locate).find(path)
        assert found is not None, "leaf just created"
    if doc.source[found.start : found.end] == wanted_text:
        return xml
    return doc.source[: found.start] + wanted_text + doc.source[found.end :]


def _remove_path(xml: str, locate: Locator, path: tuple[str, ...]) -> str:
    doc = Document(xml)
    found = _locate(doc, locate).find(path)
    return doc.remove(found) if found is not None else xml


def _settle_empty(
    xml: str, locate: Locator, path: tuple[str, ...], backup_doc: Document, backup: Element | None
) -> str:
    """An element at ``path`` left empty by the removals: gone when the backup lacks it, the
    backup's text when the backup's is empty too (``<parameters/>`` stays ``<parameters/>``)."""
    doc = Document(xml)
    found = _locate(doc, locate).find(path)
    if found is None or not _is_empty(doc, found):
        return xml
    if backup is None:
        return doc.remove(found)
    if _is_empty(backup_doc, backup):
        return doc.source[: found.start] + backup_doc.source[backup.start : backup.end] + doc.source[found.end :]
    return xml


def _locate(doc: Document, locate: Locator) -> Element:
    element = locate(doc.root)
    assert element is not None, "located element vanished"
    return element


def _is_empty(doc: Document, element: Element) -> bool:
    """No child elements and nothing but whitespace inside (a comment counts as content)."""
    return not element.children and not doc.source[element.open_end : element.close_start].strip()


# --- monitor -----------------------------------------------------------------------------------


def _restore_monitor(xml: str, backup_doc: Document, kind: str, name: str) -> str:
    backup_monitors = backup_doc.root.child("monitor")
    wanted = backup_monitors.child(kind, name) if backup_monitors is not None else None
    if wanted is None:
        xml = _remove_monitor(xml, kind, name)
        return _settle_empty(xml, lambda root: root, ("monitor",), backup_doc, backup_monitors)
    assert backup_monitors is not None  # it holds wanted
    wanted_text = backup_doc.source[wanted.start : wanted.end]
    doc = Document(xml)
    monitors = doc.root.child("monitor")
    found = monitors.child(kind, name) if monitors is not None else None
    if found is not None:
        if doc.source[found.start : found.end] == wanted_text:
            return xml
        return doc.source[: found.start] + wanted_text + doc.source[found.end :]
    return _put_back_monitor(xml, backup_doc, backup_monitors, wanted)


def _put_back_monitor(xml: str, backup_doc: Document, backup_monitors: Element, wanted: Element) -> str:
    """Insert the backup's monitor text where the backup had it: after the element that preceded
    it there (and what lay between, such as a comment), else after the last monitor of its type,
    else after the type declarations."""
    kind = wanted.tag
    wanted_text = backup_doc.source[wanted.start : wanted.end]
    backup_indent = backup_doc.indent_of(wanted)
    xml = _ensure_type_declared(xml, kind)
    doc = Document(xml)
    monitors = doc.root.child("monitor")
    assert monitors is not None, "declared just now"
    position = _position_as_in_backup(doc, monitors, backup_doc, backup_monitors, wanted)
    if position is not None:
        text = wanted_text if backup_indent is None else doc.newline + backup_indent + wanted_text
    else:
        same_kind = monitors.children_named(kind)
        anchor = same_kind[-1] if same_kind else monitors.children_named("types")[-1]
        position = anchor.end
        indent = doc.indent_of(anchor)
        text = wanted_text if indent is None else doc.newline + indent + wanted_text
    xml = doc.source[:position] + text + doc.source[position:]
    return _adjust_object_number(xml, +1)


def _position_as_in_backup(
    doc: Document, monitors: Element, backup_doc: Document, backup_monitors: Element, wanted: Element
) -> int | None:
    index = backup_monitors.children.index(wanted)
    if index == 0:
        return None
    before = backup_monitors.children[index - 1]
    same = [
        child
        for child in monitors.children
        if child.tag == before.tag and child.attrs.get("name") == before.attrs.get("name")
    ]
    if len(same) != 1:
        return None
    gap = backup_doc.source[before.end : wanted.start]
    if backup_doc.indent_of(wanted) is not None:
        gap = gap[: gap.rfind("\n")].removesuffix("\r")  # up to the line break before the monitor
    if not doc.source.startswith(gap, same[0].end):
        return None
    return same[0].end + len(gap)


def _ensure_type_declared(xml: str, kind: str) -> str:
    doc = Document(xml)
    types = NewElement("types", (("name", kind),))
    monitors = doc.root.child("monitor")
    if monitors is None:
        section = NewElement("monitor", children=(types,))
        return _edit(doc.insert, doc.root, section, after=doc.root.child("resource"))
    declared = monitors.children_named("types")
    if any(declaration.attrs.get("name") == kind for declaration in declared):
        return xml
    if declared:
        return _edit(doc.insert, monitors, types, after=declared[-1])
    if monitors.children:
        return _edit(doc.insert, monitors, types, before=monitors.children[0])
    return _edit(doc.insert, monitors, types)
