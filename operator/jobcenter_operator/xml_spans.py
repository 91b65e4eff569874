"""Byte-preserving reading and editing of a small XML document (CLUSTERPRO's clp.conf).

Pure module, shared by the facts (reading clp.conf) and render/ (editing it). ``xml.etree``
would re-serialise the whole file: quote style, ``<a/>`` versus ``<a />``, attribute escaping,
the declaration and the indentation would all change, and a configuration the operator did not
mean to touch would show up as different. Here the text is
never re-serialised: the document is checked with expat, then tokenised into elements that
remember where they start and end in the source, and every edit is a splice of the source
text. Untouched regions stay byte for byte.

Edits return new text; callers re-parse before the next edit (files are small, and it keeps
offsets trivially right).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.parsers import expat


class XmlError(ValueError):
    """The text is not well-formed XML, or uses a construct this module does not edit."""


_NAME = r"[A-Za-z_:][-A-Za-z0-9_.:]*"
_START_TAG = re.compile(rf"<({_NAME})((?:\s+{_NAME}\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>")
_END_TAG = re.compile(rf"</({_NAME})\s*>")
_ATTRIBUTE = re.compile(rf"({_NAME})\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_REFERENCE = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_MARKUP_IN_TEXT = re.compile(r"<!--.*?-->|<\?.*?\?>|<!\[CDATA\[(.*?)\]\]>", re.DOTALL)


@dataclass(eq=False)
class Element:
    """An element and its span in the source: ``source[start:end]`` is the whole element,
    ``source[open_end:close_start]`` its content (empty for ``<a/>``)."""

    tag: str
    attrs: dict[str, str]
    start: int
    open_end: int
    close_start: int = -1
    end: int = -1
    children: list[Element] = field(default_factory=list)

    @property
    def self_closing(self) -> bool:
        return self.open_end == self.end

    def child(self, tag: str, name: str | None = None) -> Element | None:
        """The first child element ``<tag>`` (with ``name="..."`` when given)."""
        for child in self.children:
            if child.tag == tag and (name is None or child.attrs.get("name") == name):
                return child
        return None

    def children_named(self, tag: str) -> list[Element]:
        return [child for child in self.children if child.tag == tag]

    def find(self, path: Sequence[str]) -> Element | None:
        node: Element | None = self
        for tag in path:
            node = node.child(tag) if node is not None else None
        return node


@dataclass(frozen=True)
class NewElement:
    """An element to insert: a leaf with text, an empty element (text None), or a branch."""

    tag: str
    attrs: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    children: tuple[NewElement, ...] = ()


Leaf = tuple[tuple[str, ...], str]


def build(tag: str, attrs: tuple[tuple[str, str], ...], leaves: Sequence[Leaf]) -> NewElement:
    """An element holding ``leaves`` (path below the element, text), sharing common prefixes
    in first-seen order: (("a","b"),"1"), (("a","c"),"2") give <a><b>1</b><c>2</c></a>."""
    children: list[NewElement] = []
    groups: dict[str, list[Leaf]] = {}
    for path, text in leaves:
        head, rest = path[0], path[1:]
        if not rest:
            children.append(NewElement(head, text=text))
            continue
        if head not in groups:
            groups[head] = []
            children.append(NewElement(head))  # placeholder, replaced below
        groups[head].append((rest, text))
    resolved = tuple(
        build(child.tag, (), groups[child.tag]) if child.text is None and child.tag in groups else child
        for child in children
    )
    return NewElement(tag, attrs, None, resolved)


class Document:
    """A parsed document: the root element plus the source's layout conventions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.root, self.newline, self.indent_unit = _structure(source)

    def indent_of(self, element: Element) -> str | None:
        """The whitespace before ``element`` on its line, or None when it does not start a line."""
        return _line_indent(self.source, element)

    def text(self, element: Element) -> str | None:
        """The character data of a leaf element (comments dropped, references resolved); None for
        an element with child elements."""
        if element.children:
            return None
        content = self.source[element.open_end : element.close_start]
        return _unescape_text(content)

    # --- edits: each returns the new source text -------------------------------------------

    def set_text(self, element: Element, text: str) -> str:
        if element.children:
            raise XmlError(f"<{element.tag}> has child elements, expected a value")
        if element.self_closing:
            replacement = _open_tag(self.source, element) + _escape(text) + f"</{element.tag}>"
            return self._splice(element.start, element.end, replacement)
        return self._splice(element.open_end, element.close_start, _escape(text))

    def insert(
        self, parent: Element, new: NewElement, *, after: Element | None = None, before: Element | None = None
    ) -> str:
        """Insert ``new`` into ``parent``: before ``before``, else after ``after``, else after the
        last child. A new element starts its own line, indented like its siblings, when they do."""
        if before is not None:
            indent = self.indent_of(before)
            if indent is None:
                return self._splice(before.start, before.start, self._render(new, None))
            return self._splice(before.start, before.start, self._render(new, indent) + self.newline + indent)
        anchor = after if after is not None else (parent.children[-1] if parent.children else None)
        if anchor is not None:
            indent = self.indent_of(anchor)
            if indent is None:
                return self._splice(anchor.end, anchor.end, self._render(new, None))
            return self._splice(anchor.end, anchor.end, self.newline + indent + self._render(new, indent))
        return self._insert_first_child(parent, new)

    def remove(self, element: Element) -> str:
        """Remove ``element``, with its line's leading whitespace and line break when it starts a line."""
        start = element.start
        if self.indent_of(element) is not None:
            start = self.source.rfind("\n", 0, element.start)
            if start > 0 and self.source[start - 1] == "\r":
                start -= 1
        return self._splice(start, element.end, "")

    # --- helpers -----------------------------------------------------------------------------

    def _insert_first_child(self, parent: Element, new: NewElement) -> str:
        parent_indent = self.indent_of(parent)
        if parent.self_closing:
            content = ""
        else:
            content = self.source[parent.open_end : parent.close_start]
            if _MARKUP_IN_TEXT.sub("", content).strip():
                raise XmlError(f"<{parent.tag}> holds text, cannot add <{new.tag}> to it")
            # Keep comments already inside; drop only the trailing whitespace before the end tag.
            content = content.rstrip()
        if parent_indent is None:
            inner = content + self._render(new, None)
        else:
            child_indent = parent_indent + self.indent_unit
            rendered = self._render(new, child_indent)
            inner = f"{content}{self.newline}{child_indent}{rendered}{self.newline}{parent_indent}"
        return self._splice(parent.start, parent.end, _open_tag(self.source, parent) + inner + f"</{parent.tag}>")

    def _render(self, new: NewElement, indent: str | None) -> str:
        attrs = "".join(f' {name}="{_escape(value, attribute=True)}"' for name, value in new.attrs)
        if new.children:
            if indent is None:
                inner = "".join(self._render(child, None) for child in new.children)
            else:
                child_indent = indent + self.indent_unit
                inner = "".join(
                    self.newline + child_indent + self._render(child, child_indent) for child in new.children
                )
                inner += self.newline + indent
            return f"<{new.tag}{attrs}>{inner}</{new.tag}>"
        if new.text is None:
            return f"<{new.tag}{attrs}/>"
        return f"<{new.tag}{attrs}>{_escape(new.text)}</{new.tag}>"

    def _splice(self, start: int, end: int, replacement: str) -> str:
        return self.source[:start] + replacement + self.source[end:]


# Sources whose parse is kept (``parsed``): a plan reads the same clp.conf for each element it edits,
# for the classification of the change and again for the verification's plan.
PARSED_CACHE_SIZE = 16


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)
def parsed(source: str) -> Document:
    """``Document(source)``, kept for the last few sources (a Document is never changed once parsed:
    its edits return new source text). A source that is not well-formed raises XmlError each time."""
    return Document(source)


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)
def _structure(source: str) -> tuple[Element, str, str]:
    """The checked and tokenised source (root, newline, indent unit), kept for the last few sources:
    every Document of one text shares it, so the facts' read of a node's clp.conf and the plan that
    edits that text parse it once. Elements are never changed once tokenised (edits splice the text)."""
    _check_well_formed(source)
    root = _tokenise(source)
    return root, "\r\n" if "\r\n" in source else "\n", _indent_unit(source, root)


def _check_well_formed(source: str) -> None:
    parser = expat.ParserCreate()

    def refuse_doctype(*_: object) -> None:
        # clp.conf has no DTD. Refusing one rules out entity expansion and keeps the tokeniser
        # below simple.
        raise XmlError("a DOCTYPE is not expected in clp.conf")

    parser.StartDoctypeDeclHandler = refuse_doctype
    try:
        parser.Parse(source, True)
    except expat.ExpatError as error:
        raise XmlError(f"not well-formed XML: {error}") from error


def _tokenise(source: str) -> Element:
    stack: list[Element] = []
    root: Element | None = None
    position = 0
    while (index := source.find("<", position)) >= 0:
        if source.startswith("<!--", index):
            position = source.index("-->", index + 4) + 3
        elif source.startswith("<?", index):
            position = source.index("?>", index + 2) + 2
        elif source.startswith("<![CDATA[", index):
            position = source.index("]]>", index + 9) + 3
        elif source.startswith("</", index):
            match = _END_TAG.match(source, index)
            if match is None or not stack or stack[-1].tag != match.group(1):
                raise XmlError(f"unexpected end tag at offset {index}")
            element = stack.pop()
            element.close_start, element.end = index, match.end()
            position = match.end()
        else:
            match = _START_TAG.match(source, index)
            if match is None:
                raise XmlError(f"unsupported markup at offset {index}")
            attributes = match.group(2)
            attrs = {  # most of clp.conf's elements have none: no scan then
                attribute.group(1): _unescape(
                    attribute.group(2) if attribute.group(2) is not None else attribute.group(3)
                )
                for attribute in _ATTRIBUTE.finditer(attributes)
            } if attributes else {}
            element = Element(match.group(1), attrs, index, match.end())
            if stack:
                stack[-1].children.append(element)
            elif root is None:
                root = element
            if match.group(3):
                element.close_start = element.end = match.end()
            else:
                stack.append(element)
            position = match.end()
    if root is None or stack:
        raise XmlError("no complete root element")
    return root


def _indent_unit(source: str, root: Element) -> str:
    """One level of indentation as the document uses it (two spaces if it never indents)."""
    pending = [root]
    while pending:
        parent = pending.pop(0)
        parent_indent = _line_indent(source, parent) if parent is not root else ""
        for child in parent.children:
            child_indent = _line_indent(source, child)
            if parent_indent is not None and child_indent is not None and child_indent.startswith(parent_indent):
                unit = child_indent[len(parent_indent) :]
                if unit:
                    return unit
            pending.append(child)
    return "  "


def _line_indent(source: str, element: Element) -> str | None:
    line_start = source.rfind("\n", 0, element.start) + 1
    prefix = source[line_start : element.start]
    return prefix if line_start > 0 and not prefix.strip() else None


def _open_tag(source: str, element: Element) -> str:
    tag = source[element.start : element.open_end]
    return re.sub(r"\s*/>\Z", ">", tag)


def _unescape_text(content: str) -> str:
    parts = []
    position = 0
    for match in _MARKUP_IN_TEXT.finditer(content):
        parts.append(_unescape(content[position : match.start()]))
        if match.group(1) is not None:
            parts.append(match.group(1))  # CDATA is literal
        position = match.end()
    parts.append(_unescape(content[position:]))
    return "".join(parts)


def _unescape(text: str) -> str:
    if "&" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("#x"):
            return chr(int(name[2:], 16))
        if name.startswith("#"):
            return chr(int(name[1:]))
        return _NAMED_REFERENCES[name]

    return _REFERENCE.sub(replace, text)


def _escape(text: str, *, attribute: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if attribute else text


# --- the document's charset --------------------------------------------------------------------
# clp.conf declares its charset in the XML declaration (node-protocol 4.2: ASCII on the English
# product, EUC-JP on the Japanese one, UTF-8 from ``clpcfctrl --pull``). It travels as bytes and is
# edited as text decoded in that charset, then encoded back in it: every byte outside an edit comes
# back as it was, a Japanese <comment> included.
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")
_CODECS = {"ascii": "ascii", "us-ascii": "ascii", "utf-8": "utf-8", "utf8": "utf-8", "euc-jp": "euc_jp",
           "eucjp": "euc_jp", "x-euc-jp": "euc_jp", "shift_jis": "shift_jis", "sjis": "shift_jis",
           "iso-8859-1": "latin-1"}


def declared_encoding(data: bytes) -> str:
    """The charset the XML declaration names (``UTF-8`` without one, as XML says)."""
    found = _DECLARED.match(data)
    return found.group(1).decode("ascii") if found else "UTF-8"


def _codec(encoding: str) -> str:
    codec = _CODECS.get(encoding.lower())
    if codec is None:
        raise XmlError(f"unsupported encoding {encoding}")
    return codec


def decode_document(data: bytes) -> tuple[str, str]:
    """(text, declared encoding) of a document's bytes; refused when they are not that encoding."""
    encoding = declared_encoding(data)
    try:
        return data.decode(_codec(encoding)), encoding
    except UnicodeDecodeError as error:
        raise XmlError(f"not valid {encoding}: {error}") from error


def encode_document(text: str, encoding: str) -> bytes:
    """Text back into the bytes of ``encoding`` (what ``decode_document`` read it from)."""
    try:
        return text.encode(_codec(encoding))
    except UnicodeEncodeError as error:
        raise XmlError(f"cannot be written as {encoding}: {error}") from error
