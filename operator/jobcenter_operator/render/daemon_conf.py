"""Edit ``local_daemon=`` in JobCenter's /usr/lib/nqs/rc/daemon.conf, keeping every other byte.

Pure module. The file is plain ``name=value`` lines with ``#`` comments (node-protocol 2.1). The
vendor ships the parameter only as a commented sample (``# local_daemon=SITE``); the guide tells
the administrator to set exactly one active ``local_daemon=SITE`` or ``local_daemon=OFF`` line on
both nodes. Everything else in the file (other parameters, comments, blank lines, the line
ending style, a missing final newline) belongs to the administrator and is kept byte for byte.
"""

from __future__ import annotations

import re
from typing import Literal

LocalDaemon = Literal["SITE", "OFF"]

KEY = "local_daemon"

# A line is everything up to and including "\n", or a final fragment without one.
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


def local_daemon_value(spec_value: Literal["Site", "Off"]) -> LocalDaemon:
    """The daemon.conf keyword for ``JobCenterSiteSpec.local_daemon`` (Site -> SITE, Off -> OFF)."""
    return "SITE" if spec_value == "Site" else "OFF"


def set_local_daemon(text: str, value: LocalDaemon) -> str:
    """``text`` with exactly one active ``local_daemon=<value>`` line and every other byte kept.

    - One or more active lines: the first is rewritten in place (keeping its line ending) and the
      others are removed. Two active lines would leave the effective value up to the parser's
      first-wins or last-wins rule, which the guide does not state.
    - An active line already reading exactly ``local_daemon=<value>`` is left untouched. Any
      other spelling (lower case, spaces around ``=``) is rewritten: the guide only documents the
      upper-case form and we do not know that JobCenter's parser accepts another.
    - No active line: the line is inserted after the vendor's commented sample
      (``# local_daemon=...``) if there is one, else appended at the end of the file.
    """
    if value not in ("SITE", "OFF"):
        raise ValueError(f"local_daemon must be SITE or OFF, not {value!r}")
    wanted = f"{KEY}={value}"
    lines = _split_lines(text)
    newline = "\r\n" if any(line.endswith("\r\n") for line in lines) else "\n"
    active = [index for index, _ in _active_lines(lines)]
    if active:
        first, *duplicates = active
        body, ending = _split_ending(lines[first])
        if body != wanted:
            lines[first] = wanted + ending
        for index in reversed(duplicates):
            del lines[index]
        # Removing a duplicate that was the last line must not leave the new last line with a
        # newline the file did not end with: keep the file's "ends with a newline" property.
        return _join_keeping_final_newline(lines, ends_with_newline=text.endswith("\n") or not text)
    samples = [index for index, line in enumerate(lines) if _is_commented_sample(line)]
    position = samples[-1] + 1 if samples else len(lines)
    return _insert_line(lines, position, wanted, newline)


def _split_lines(text: str) -> list[str]:
    # Only \n ends a line here (a \r before it stays part of the ending): str.splitlines would
    # also split on form feeds and other separators a config file may legitimately contain.
    return _LINE.findall(text)


def _split_ending(line: str) -> tuple[str, str]:
    for ending in ("\r\n", "\n"):
        if line.endswith(ending):
            return line[: -len(ending)], ending
    return line, ""


def _active_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(index, value) of every active (uncommented) ``local_daemon`` assignment."""
    found = []
    for index, line in enumerate(lines):
        body, _ = _split_ending(line)
        stripped = body.strip()
        if stripped.startswith("#") or "=" not in stripped:
            continue
        name, _, value = stripped.partition("=")
        if name.strip() == KEY:
            found.append((index, value.strip()))
    return found


def _is_commented_sample(line: str) -> bool:
    body, _ = _split_ending(line)
    stripped = body.strip()
    if not stripped.startswith("#"):
        return False
    name, equals, _ = stripped.lstrip("#").partition("=")
    return bool(equals) and name.strip() == KEY


def _insert_line(lines: list[str], position: int, wanted: str, newline: str) -> str:
    if position == len(lines):
        if lines and not _split_ending(lines[-1])[1]:
            # The file does not end with a newline: separate the new line from the old last one
            # and keep the file ending without a newline.
            lines[-1] += newline
            lines.append(wanted)
        else:
            lines.append(wanted + newline)
        return "".join(lines)
    before = lines[position - 1]
    if not _split_ending(before)[1]:
        lines[position - 1] = before + newline
    lines.insert(position, wanted + newline)
    return "".join(lines)


def _join_keeping_final_newline(lines: list[str], *, ends_with_newline: bool) -> str:
    if lines and not ends_with_newline:
        lines[-1] = _split_ending(lines[-1])[0]
    return "".join(lines)
