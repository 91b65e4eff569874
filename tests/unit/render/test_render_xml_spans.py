"""The byte-preserving XML editor under clp_conf."""

from __future__ import annotations

import pytest

from jobcenter_operator.xml_spans import Document, NewElement, XmlError, build


def test_text_resolves_references_cdata_and_drops_comments() -> None:
    doc = Document("<r><a>x &amp; &lt;y&gt; &#65;&#x42;<!-- c --><![CDATA[<raw>]]></a></r>")
    leaf = doc.root.child("a")
    assert leaf is not None
    assert doc.text(leaf) == "x & <y> AB<raw>"
    assert doc.text(doc.root) is None  # has children


def test_set_text_on_empty_element_and_escaping() -> None:
    doc = Document('<r><sync /><path a="1">old</path></r>')
    sync, path = doc.root.children
    assert doc.set_text(sync, "1") == '<r><sync>1</sync><path a="1">old</path></r>'
    assert doc.set_text(path, "a<b&c") == '<r><sync /><path a="1">a&lt;b&amp;c</path></r>'


def test_set_text_refuses_a_branch() -> None:
    doc = Document("<r><a><b/></a></r>")
    with pytest.raises(XmlError, match="child elements"):
        doc.set_text(doc.root.children[0], "x")


def test_insert_before_after_and_into_empty_parent() -> None:
    source = "<r>\n\t<a/>\n\t<b></b>\n</r>\n"
    doc = Document(source)
    a, b = doc.root.children
    assert doc.insert(doc.root, NewElement("n"), before=a) == "<r>\n\t<n/>\n\t<a/>\n\t<b></b>\n</r>\n"
    assert doc.insert(doc.root, NewElement("n"), after=a) == "<r>\n\t<a/>\n\t<n/>\n\t<b></b>\n</r>\n"
    assert doc.insert(b, NewElement("n", text="1")) == "<r>\n\t<a/>\n\t<b>\n\t\t<n>1</n>\n\t</b>\n</r>\n"
    assert doc.insert(a, NewElement("n")) == "<r>\n\t<a>\n\t\t<n/>\n\t</a>\n\t<b></b>\n</r>\n"


def test_insert_into_text_element_is_refused() -> None:
    doc = Document("<r><a>text</a></r>")
    with pytest.raises(XmlError, match="holds text"):
        doc.insert(doc.root.children[0], NewElement("n"))


def test_remove_takes_the_line_with_it() -> None:
    source = "<r>\r\n  <a/>\r\n  <b x='1'>\r\n    <c/>\r\n  </b>\r\n</r>"
    doc = Document(source)
    assert doc.remove(doc.root.children[1]) == "<r>\r\n  <a/>\r\n</r>"
    assert Document("<r><a/><b/></r>").remove(Document("<r><a/><b/></r>").root.children[0]) == "<r><b/></r>"


def test_build_merges_common_prefixes_in_first_seen_order() -> None:
    tree = build("m", (("name", "x"),), [(("p", "i"), "1"), (("t",), "e"), (("p", "j"), "2")])
    assert tree == NewElement(
        "m",
        (("name", "x"),),
        None,
        (NewElement("p", children=(NewElement("i", text="1"), NewElement("j", text="2"))), NewElement("t", text="e")),
    )


def test_indent_unit_is_learnt_from_the_document() -> None:
    assert Document("<r>\n    <a>\n        <b/>\n    </a>\n</r>").indent_unit == "    "
    assert Document("<?xml version='1.0'?>\n<r>\n\t<a/>\n</r>").indent_unit == "\t"
    assert Document("<r><a/></r>").indent_unit == "  "


@pytest.mark.parametrize(
    "source",
    ["<r>", "<r></s>", "<a/><b/>", "text", '<!DOCTYPE r SYSTEM "x"><r/>', "<r a='1' a='2'/>"],
)
def test_malformed_or_refused_input(source: str) -> None:
    with pytest.raises(XmlError):
        Document(source)


def test_attributes_in_either_quote_style_are_read() -> None:
    doc = Document("<r><g name='a &amp; b' id=\"1\"/></r>")
    assert doc.root.children[0].attrs == {"name": "a & b", "id": "1"}
    assert doc.root.child("g", "a & b") is doc.root.children[0]


def test_documents_of_one_text_share_one_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The facts read a node's clp.conf with Document(text); the plan then edits that text: it is
    tokenised once. Another text is parsed anew, and a malformed one is refused every time."""
    from jobcenter_operator import xml_spans

    tokenised: list[str] = []
    tokenise = xml_spans._tokenise

    def counted(source: str) -> xml_spans.Element:
        tokenised.append(source)
        return tokenise(source)

    monkeypatch.setattr(xml_spans, "_tokenise", counted)
    xml_spans._structure.cache_clear()
    xml_spans.parsed.cache_clear()
    first = Document("<r>\n  <a x='1'>t</a>\n</r>")
    again = xml_spans.parsed("<r>\n  <a x='1'>t</a>\n</r>")
    assert again is not first and again.root is first.root and tokenised == [first.source]
    assert again.indent_unit == "  " and again.text(again.root.children[0]) == "t"
    edited = Document(first.set_text(first.root.children[0], "u"))
    assert edited.text(edited.root.children[0]) == "u" and len(tokenised) == 2
    for _ in range(2):
        with pytest.raises(XmlError):
            Document("<r><a></r>")
