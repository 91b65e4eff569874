"""README.md keeps up with the code: its troubleshooting table lists every condition reason the operator
writes, its environment-variable table every JCOP_ variable the code reads, and it links to nothing
outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import jobcenter_operator
from tests.unit.manifests.reasons import condition_reasons

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start: end if end != -1 else None]


def first_column_names(text: str) -> set[str]:
    rows = [line for line in text.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return {name for row in rows for name in re.findall(r"`([A-Za-z][A-Za-z0-9_]*)`", row.split("|")[1])}


def test_troubleshooting_table_has_every_condition_reason_in_the_code() -> None:
    in_code = condition_reasons()
    assert len(in_code) >= 20, f"the reason collector found too few reasons: {sorted(in_code)}"
    documented = first_column_names(section("Troubleshooting"))
    missing = sorted(in_code - documented)
    assert missing == [], f"add these reasons to README.md's troubleshooting table: {missing}"


def test_troubleshooting_has_the_unwatched_namespace_trap_with_a_one_line_check() -> None:
    trouble = section("Troubleshooting")
    assert "no operator watches its" in trouble
    assert "kubectl get jcs -A -o custom-columns=" in trouble


def test_every_jcop_variable_the_code_reads_is_documented() -> None:
    package = Path(jobcenter_operator.__file__).parent
    in_code = {v for p in package.rglob("*.py") for v in re.findall(r"\bJCOP_[A-Z0-9_]+\b", p.read_text())}
    assert in_code, "no JCOP_ variables found in the package"
    documented = first_column_names(section("Environment variables"))
    assert sorted(in_code - documented) == []


def test_two_commands_for_a_newcomer_come_first() -> None:
    first = README.index("\n## ")
    assert README[first:].startswith("\n## Two commands on a fresh machine")
    block = section("Two commands on a fresh machine (as root)")
    assert "make demo" in block and "bash .ci/run" in block


def test_no_link_leaves_the_repository() -> None:
    assert not re.search(r"\.\./shared|\]\(\.\./", README)
