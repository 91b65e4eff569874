"""The memos of a converged drift check: clp.conf read once per content, configure_site skipped for
a (clp.conf, spec) pair already found converged. Same answers as without them."""

from __future__ import annotations

import pytest
from plan_factory import CLASSIC, MANAGER, NODES, apply, cluster

from jobcenter_operator.facts.clusterpro import clp_conf_bytes
from jobcenter_operator.plan import plan_site
from jobcenter_operator.render import clp_conf


def converged_conf() -> str:
    facts = cluster()
    return apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)["clu1"].clp_conf.text


def test_a_converged_pair_is_answered_without_reading_the_xml_again(monkeypatch: pytest.MonkeyPatch) -> None:
    text = converged_conf()
    read = clp_conf_bytes(text.encode())
    assert clp_conf.configured(text, CLASSIC, read.sha256) == text == clp_conf.configure_site(text, CLASSIC)

    def never(*_: object) -> str:
        raise AssertionError("configure_site was called for a pair known to be converged")

    monkeypatch.setattr(clp_conf, "configure_site", never)
    assert clp_conf.configured(text, CLASSIC, read.sha256) == text


def test_a_spec_with_lists_is_remembered_too() -> None:
    """Maintenance windows are a list: the memo keys the spec by value, not by its hash."""
    windowed = CLASSIC.model_validate({**CLASSIC.model_dump(by_alias=True), "disruption": {
        "windows": [{"days": ["Sat"], "start": "01:00", "duration": "2h", "timeZone": "Asia/Tokyo"}]}})
    text = converged_conf()
    read = clp_conf_bytes(text.encode())
    assert clp_conf.configured(text, windowed, read.sha256) == text
    assert clp_conf.configured(text, windowed, read.sha256) == text


def test_a_pair_that_needs_changes_is_computed_each_time() -> None:
    fresh = cluster()["clu1"].clp_conf
    first = clp_conf.configured(fresh.text, CLASSIC, fresh.sha256)
    assert first != fresh.text and first == clp_conf.configure_site(fresh.text, CLASSIC)
    assert clp_conf.configured(fresh.text, CLASSIC, fresh.sha256) == first
    # another spec on the same text is its own pair
    assert clp_conf.configured(converged_conf(), MANAGER, None) == clp_conf.configure_site(converged_conf(), MANAGER)


def test_the_same_bytes_are_read_once() -> None:
    data = converged_conf().encode()
    assert clp_conf_bytes(data) is clp_conf_bytes(bytes(data))
    assert clp_conf_bytes(data + b"\n") is not clp_conf_bytes(data)


def test_a_first_plan_parses_each_clp_conf_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configuring a site edits clp.conf element by element and the plan classifies the change: every
    text in between is parsed once (xml_spans.parsed), not once per element looked at."""
    from jobcenter_operator import xml_spans

    facts = cluster(spec=MANAGER)
    sources: list[str] = []
    init = xml_spans.Document.__init__

    def counted(self: xml_spans.Document, source: str) -> None:
        sources.append(source)
        init(self, source)

    monkeypatch.setattr(xml_spans.Document, "__init__", counted)
    xml_spans.parsed.cache_clear()
    plan = plan_site(MANAGER, NODES, facts)
    assert any(a.kind == "ApplyClusterConfig" for a in plan.actions)
    assert sources and len(sources) == len(set(sources)), f"{len(sources) - len(set(sources))} texts parsed again"
