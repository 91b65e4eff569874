"""The CRD patterns mean the same in every engine that evaluates them: Go RE2 (the API server),
Rust ``regex`` (pydantic-core, the models) and Python ``re`` (the stand-in's jsonschema).

RE2 and Rust anchor ``$`` at the very end of the text; Python's ``$`` also matches before a final
newline. For patterns in the subset checked below (``^`` first, ``$`` last, nowhere else), Python
``re`` with that one ``$`` replaced by ``\\Z`` has RE2's meaning: that is the reference here.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
import yaml
from pydantic import Field, TypeAdapter, ValidationError

from jobcenter_operator.api.crdgen import render_crds
from jobcenter_operator.api.fields import IPV6_PATTERN, NODE_ADDRESS_PATTERN

CRDS = [yaml.safe_load(text) for text in render_crds().values()]


def _patterns(schema: dict[str, Any], path: str) -> Iterator[tuple[str, str]]:
    if "pattern" in schema:
        yield path, schema["pattern"]
    for name, sub in (schema.get("properties") or {}).items():
        yield from _patterns(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _patterns(schema["items"], f"{path}[]")


PATTERNS = sorted(
    {
        (f"{crd['spec']['names']['kind']}{path}", pattern)
        for crd in CRDS
        for path, pattern in _patterns(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "")
    }
)

# Escapes and constructs whose meaning differs between the engines (Unicode-aware classes,
# anchors RE2 lacks or reads otherwise, flags, look-around) or that RE2 does not have.
_UNPORTABLE = re.compile(r"\\[dDwWsSbBAZzpPuUxX0-9]|\(\?|\[\^|[^\x20-\x7e]")


def re2_semantics(pattern: str) -> re.Pattern[str]:
    """Python ``re`` with RE2's meaning of ``$`` (exact for the subset test_pattern_is_portable allows)."""
    assert pattern.endswith("$")
    return re.compile(pattern[:-1] + r"\Z")


def test_the_crds_have_patterns() -> None:
    assert len(PATTERNS) >= 10


@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[w for w, _ in PATTERNS])
def test_pattern_is_portable(where: str, pattern: str) -> None:
    assert pattern.startswith("^") and pattern.endswith("$"), "anchor both ends"
    body = pattern[1:-1]
    assert "^" not in body.replace(r"\^", "") and "$" not in body.replace(r"\$", ""), "anchors only at the ends"
    assert not _UNPORTABLE.search(pattern), _UNPORTABLE.search(pattern)
    re.compile(pattern)


# Strings an attacker or a careless edit would try; each engine must answer alike.
_CORPUS = [
    "clu1", "CLU1", "failover-jc", "failover-jc\n", "\nfailover-jc", "failover-jc\r", "exec_jc",
    "/mnt/sdb2", "/mnt/sdb2\n", "/mnt/../etc", "-rf", "root", "root\n", "jc-cluster", "jc-cluster\n",
    "10.0.0.114", "10.0.0.114\n", "１０.0.0.114", "10.0.0.١١٤", "127.0.0.1", "0177.0.0.1", "0x7f000001",
    "fd00::10", "fd00::10\n", "FD00::10", "::1", "2001:db8::1", "node1.example.com", "node1.example.com\n",
    "сlu1",  # Cyrillic es
    "clu\u200b1", "clu1\u2028", "clu1\x00", "K", "\u212a", "ｃｌｕ１", "clu١", "", "1", "a" * 64,
    "Classic", "Classic\n",
]


@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[w for w, _ in PATTERNS])
def test_models_and_re2_agree(where: str, pattern: str) -> None:
    # pydantic-core compiles the pattern with Rust's regex crate, the models' engine.
    rust = TypeAdapter(Annotated[str, Field(pattern=pattern)])
    reference = re2_semantics(pattern)
    for text in _CORPUS:
        try:
            rust.validate_python(text)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == bool(reference.search(text)), (where, text)
        if accepted:
            assert not reference.search(text + "\n"), (where, text)


def _ipv6_spellings(rng: random.Random) -> Iterator[tuple[str, ipaddress.IPv6Address]]:
    for _ in range(400):
        groups = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.randrange(0x10000)]) for _ in range(8)]
        address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
        yield address.compressed, address
        yield address.compressed.upper(), address
        yield ":".join(f"{g:x}" for g in groups), address
        yield address.exploded, address  # leading zeros: refused unless no group has one


def test_ipv6_pattern_matches_the_documented_rule() -> None:
    """Accepted iff a valid IPv6 address in hex groups, no group with a leading zero, first group non-zero."""
    rng = random.Random(20261130)  # noqa: S311 (a seeded test corpus)
    ipv6, node = re2_semantics(IPV6_PATTERN), re2_semantics(NODE_ADDRESS_PATTERN)
    seen_accepted = seen_refused = 0
    for text, address in _ipv6_spellings(rng):
        groups = text.split(":")
        no_leading_zero = all(g == "" or g == "0" or not g.startswith("0") for g in groups)
        expected = no_leading_zero and int(address) >> 112 != 0
        assert bool(ipv6.search(text)) == expected, text
        assert bool(node.search(text)) == expected, text
        seen_accepted += expected
        seen_refused += not expected
    assert seen_accepted > 100 and seen_refused > 100
    for bad in ["1:2:3:4:5:6:7:8:9", "1:::2", "1::2::3", "fd00::1%eth0", "[fd00::1]", "fd00::10.0.0.1",
                "::ffff:10.0.0.1", "12345::1", "g::1", ":1::2", "1::2:"]:
        assert not ipv6.search(bad) and not node.search(bad), bad
