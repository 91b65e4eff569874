"""daemon.conf: exactly one active local_daemon line, every other byte kept."""

from __future__ import annotations

import difflib

import pytest
from render_golden import assert_golden, fixture

from jobcenter_operator.facts.jobcenter import parse_daemon_conf
from jobcenter_operator.facts.sections import SectionOutput
from jobcenter_operator.render.daemon_conf import local_daemon_value, set_local_daemon

DEFAULT = fixture("daemon.conf")  # the vendor default: local_daemon only as a commented sample


def read_local_daemon(text: str) -> str | None:
    """The value the operator's facts read from the file: what the plan compares with the spec."""
    return parse_daemon_conf(SectionOutput(stdout=text, exit_status=0)).local_daemon


def added_and_removed(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)))
    return [line[2:] for line in diff if line.startswith("+ ")], [line[2:] for line in diff if line.startswith("- ")]


@pytest.mark.parametrize("value", ["SITE", "OFF"])
def test_default_file_gets_one_line_after_the_commented_sample(value: str) -> None:
    after = set_local_daemon(DEFAULT, value)  # type: ignore[arg-type]
    assert_golden(f"daemon-{value.lower()}.conf", after)
    assert added_and_removed(DEFAULT, after) == ([f"local_daemon={value}\n"], [])
    assert f"# sample\n# local_daemon=SITE\nlocal_daemon={value}\n\n# jcwebserver" in after
    assert read_local_daemon(DEFAULT) is None
    assert read_local_daemon(after) == value


def test_crlf_file_stays_crlf() -> None:
    crlf = DEFAULT.replace("\n", "\r\n")
    after = set_local_daemon(crlf, "SITE")
    assert after == set_local_daemon(DEFAULT, "SITE").replace("\n", "\r\n")
    assert "\n" not in after.replace("\r\n", "")


def test_file_without_final_newline_keeps_it_that_way() -> None:
    text = "# header\nipcheck=OFF"
    assert set_local_daemon(text, "OFF") == "# header\nipcheck=OFF\nlocal_daemon=OFF"
    assert set_local_daemon("ipcheck=OFF\nlocal_daemon=SITE", "OFF") == "ipcheck=OFF\nlocal_daemon=OFF"


def test_sample_as_last_line_without_newline() -> None:
    # The sample is the last line and the file has no final newline: neither has the result.
    after = set_local_daemon("# sample\n# local_daemon=SITE", "SITE")
    assert after == "# sample\n# local_daemon=SITE\nlocal_daemon=SITE"


def test_no_sample_appends_at_the_end() -> None:
    assert set_local_daemon("ipcheck=OFF\n\n", "SITE") == "ipcheck=OFF\n\nlocal_daemon=SITE\n"
    assert set_local_daemon("", "OFF") == "local_daemon=OFF\n"


def test_existing_active_line_is_replaced_in_place() -> None:
    text = DEFAULT.replace("# local_daemon=SITE\n", "# local_daemon=SITE\nlocal_daemon=OFF\n")
    after = set_local_daemon(text, "SITE")
    assert added_and_removed(text, after) == (["local_daemon=SITE\n"], ["local_daemon=OFF\n"])
    assert after == set_local_daemon(DEFAULT, "SITE")


def test_active_line_elsewhere_stays_where_it_is() -> None:
    text = "local_daemon=OFF\n# sample\n# local_daemon=SITE\nipcheck=OFF\n"
    assert set_local_daemon(text, "SITE") == "local_daemon=SITE\n# sample\n# local_daemon=SITE\nipcheck=OFF\n"


def test_duplicates_keep_the_first_and_drop_the_rest() -> None:
    text = "a=1\r\nlocal_daemon=OFF\r\nb=2\r\n local_daemon = SITE\r\nc=3\r\nlocal_daemon=OFF"
    assert read_local_daemon(text) == "OFF"  # last wins (GUESS) when ambiguous
    assert set_local_daemon(text, "SITE") == "a=1\r\nlocal_daemon=SITE\r\nb=2\r\nc=3"


def test_lowercase_or_spaced_values_are_read_and_rewritten_canonically() -> None:
    assert read_local_daemon("local_daemon=site\n") == "SITE"
    assert read_local_daemon("  local_daemon = off  \n") == "OFF"
    assert set_local_daemon("local_daemon=site\n", "SITE") == "local_daemon=SITE\n"
    assert set_local_daemon("\tlocal_daemon = OFF\n", "OFF") == "local_daemon=OFF\n"


def test_commented_and_lookalike_lines_are_not_active() -> None:
    text = "#local_daemon=OFF\n  # local_daemon=OFF\nlocal_daemon_x=OFF\nxlocal_daemon=OFF\n"
    assert read_local_daemon(text) is None
    after = set_local_daemon(text, "SITE")
    assert after == text.replace("OFF\nlocal_daemon_x", "OFF\nlocal_daemon=SITE\nlocal_daemon_x")


def test_other_separators_are_not_line_breaks() -> None:
    text = "a=1\x0cb\nlocal_daemon=OFF\x0b\n"  # form feed and vertical tab are bytes, not line breaks
    assert set_local_daemon("a=1\x0cb\n", "SITE") == "a=1\x0cb\nlocal_daemon=SITE\n"
    assert read_local_daemon(text) == "OFF"


CASES = [
    DEFAULT,
    DEFAULT.replace("\n", "\r\n"),
    DEFAULT.rstrip("\n"),
    "",
    "local_daemon=off",
    "x=1\nlocal_daemon=SITE\nlocal_daemon=OFF\n",
    "# local_daemon=SITE\r\n",
]


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("value", ["SITE", "OFF"])
def test_idempotent(text: str, value: str) -> None:
    once = set_local_daemon(text, value)  # type: ignore[arg-type]
    assert set_local_daemon(once, value) == once  # type: ignore[arg-type]
    assert read_local_daemon(once) == value
    # Once a file has its single canonical line, writing back what it reads changes nothing.
    assert set_local_daemon(once, read_local_daemon(once)) == once  # type: ignore[arg-type]
    # And switching value only touches that one line.
    other = "OFF" if value == "SITE" else "SITE"
    switched = set_local_daemon(once, other)  # type: ignore[arg-type]
    removed = added_and_removed(once, switched)[1]
    assert [line.rstrip("\r\n") for line in removed] == [f"local_daemon={value}"]


def test_invalid_value_is_refused() -> None:
    with pytest.raises(ValueError, match="SITE or OFF"):
        set_local_daemon(DEFAULT, "ON")  # type: ignore[arg-type]


def test_spec_values_map_to_keywords() -> None:
    assert local_daemon_value("Site") == "SITE"
    assert local_daemon_value("Off") == "OFF"
