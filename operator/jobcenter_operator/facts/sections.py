"""One SSH round trip for all facts of a node: a fixed POSIX sh script made of named sections.

Pure module. Each probe contributes a *section*: a piece of sh that reads one thing. The
sections are joined into ONE script sent as ``sh -c SCRIPT jcop-facts NONCE ARG...``. User
values (database path, virtual host, group names...) are never part of the script text: they
arrive as positional parameters and are referred to as ``"$dbpath"`` etc., so the node layer's
single quoting of the argv is the only quoting there is.

Every section's output is framed by marker lines carrying a per-call nonce, plus the section's
exit status, so a file that happens to contain marker-like text cannot confuse the splitter:

    @@JCOP <nonce> BEGIN <name>@@
    <stdout of the section, byte for byte>
    @@JCOP <nonce> END <name> <exit status>@@
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# After the nonce ($1), the script's parameters in the order build_script is given their names.
_PREAMBLE = """\
nonce=$1; shift
{assignments}
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL
section() {
    printf '@@JCOP %s BEGIN %s@@\\n' "$nonce" "$1"
    "s_$1" </dev/null 2>/dev/null
    rc=$?
    printf '\\n@@JCOP %s END %s %d@@\\n' "$nonce" "$1" "$rc"
}
"""


@dataclass(frozen=True)
class Section:
    """A named piece of sh. ``body`` is the body of a shell function called ``s_<name>``."""

    name: str
    body: str


@dataclass(frozen=True)
class SectionOutput:
    stdout: str
    exit_status: int


class ProbeOutputError(ValueError):
    """The node's answer does not have the shape the facts script produces."""


def build_script(sections: tuple[Section, ...], parameters: tuple[str, ...] = ("dbpath",)) -> str:
    """The whole facts script: preamble (``parameters`` bound to $1, $2... in that order), one
    function per section, then the calls."""
    for name in parameters:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"bad parameter name {name!r}")
    assignments = " ".join(f"{name}=${i}" if i < 10 else f"{name}=${{{i}}}" for i, name in enumerate(parameters, 1))
    parts = [_PREAMBLE.replace("{assignments}", assignments)]
    for s in sections:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", s.name):
            raise ValueError(f"bad section name {s.name!r}")
        # s_ prefix: a function named like the command it runs (ps, clpstat) would call itself.
        parts.append(f"s_{s.name}() {{\n{s.body.rstrip()}\n}}\n")
    # All sections' output in one write: the node's sshd then sends it in a few large packets, where
    # a write per section line costs the operator a packet (decrypted, dispatched) each. Command
    # substitution drops the trailing newline only, which the splitter does not need.
    parts.append("out=$(\n")
    parts.extend(f"section {s.name}\n" for s in sections)
    parts.append(")\nprintf '%s\\n' \"$out\"\n")
    return "".join(parts)


def split_output(stdout: str, nonce: str, names: tuple[str, ...]) -> dict[str, SectionOutput]:
    """Cut the script's stdout into sections; every expected section must be there exactly once.

    Plain string search for the exact marker lines (a regex built per nonce would be compiled
    anew for every probe: most of the parse's time)."""
    out: dict[str, SectionOutput] = {}
    begin = f"@@JCOP {nonce} BEGIN "
    pos = 0
    while (start := stdout.find(begin, pos)) >= 0:
        pos = start + len(begin)
        close = stdout.find("@@\n", pos)
        name = stdout[pos:close] if close >= 0 else ""
        if not _SECTION_NAME.fullmatch(name):
            continue
        body = close + 3
        end_marker = f"\n@@JCOP {nonce} END {name} "
        found = _find_end(stdout, end_marker, body)
        if found is None:
            continue
        end, status, pos = found
        if name in out:
            raise ProbeOutputError(f"section {name} appears twice")
        out[name] = SectionOutput(stdout=stdout[body:end], exit_status=status)
    missing = [n for n in names if n not in out]
    if missing:
        raise ProbeOutputError(f"facts output is missing sections: {', '.join(missing)}")
    return out


_SECTION_NAME = re.compile(r"[a-z0-9_]+")


def _find_end(stdout: str, marker: str, body: int) -> tuple[int, int, int] | None:
    """The first ``marker`` after ``body`` followed by an exit status and ``@@``: where the body
    ends, the status, and where the search goes on (past an optional newline)."""
    at = body
    while (end := stdout.find(marker, at)) >= 0:
        digits = end + len(marker)
        close = stdout.find("@@", digits)
        if close > digits and stdout[digits:close].isdigit() and stdout[digits:close].isascii():
            after = close + 2
            return end, int(stdout[digits:close]), after + 1 if stdout.startswith("\n", after) else after
        at = end + 1
    return None
