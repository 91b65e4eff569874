"""The JobCenter standard-mode agent (AG) on one node: ``jcagctrl list`` and the systemd unit.

Pure module. GUESS (node-protocol 2.7): ``jcagctrl list`` prints a fixed-width table with a header
line; it is parsed by its header names, case-insensitively, so column order and widths may vary.
"""

from __future__ import annotations

import re

from ..frozen import Frozen
from ..paths import JCAGCTRL, agent_unit
from .sections import Section, SectionOutput

AGENT_LIST = Section(
    "jcagctrl",
    f"""\
    [ -n "$agent_id" ] || return 3
    {JCAGCTRL} list""",
)
# "<is-active>\n<is-enabled>" of the instance's unit; systemctl prints a word even on non-zero exit.
AGENT_UNIT = Section(
    "agent_unit",
    f"""\
    [ -n "$agent_id" ] || return 3
    systemctl is-active "{agent_unit("$agent_id")}"
    systemctl is-enabled "{agent_unit("$agent_id")}"
    return 0""",
)

_COLUMNS = {"instance id": "instance_id", "name": "name", "agent name": "agent_name", "active": "active",
            "enable": "enable", "enabled": "enable"}


class AgentInstanceRow(Frozen):
    instance_id: str
    name: str
    agent_name: str | None = None
    active: bool = False
    enable: bool = False


class AgentFacts(Frozen):
    installed: bool
    instances: tuple[AgentInstanceRow, ...] = ()
    listed: bool = True  # jcagctrl's table could be read (its layout is a GUESS)
    unit_active: str | None = None  # systemctl is-active word: active, inactive, failed, ...
    unit_enabled: str | None = None  # systemctl is-enabled word: enabled, disabled, ...

    @property
    def unit_exists(self) -> bool:
        """systemd knows the instance's unit (is-enabled answers a state, not not-found)."""
        return self.unit_enabled not in (None, "", "not-found")


def _header(lines: list[str]) -> tuple[int, list[str | None]] | None:
    """(index, column keys) of the table's header: a line naming at least the instance ID, ACTIVE
    and ENABLE columns (another layout, e.g. "Instance ID : 1" blocks, has no such line)."""
    for i, line in enumerate(lines):
        keys = [_COLUMNS.get(label.lower()) for label in re.split(r"\s{2,}", line.strip())]
        if {"instance_id", "active", "enable"} <= set(keys):
            return i, keys
    return None


def jcagctrl_readable(out: SectionOutput) -> bool:
    """Whether the output has the header the parser reads rows by."""
    return out.exit_status == 0 and _header([line for line in out.stdout.splitlines() if line.strip()]) is not None


def parse_jcagctrl(out: SectionOutput) -> tuple[bool, tuple[AgentInstanceRow, ...]]:
    """(agent installed, instance rows). Header and rows are split at runs of 2+ blanks."""
    if out.exit_status != 0:
        return False, ()
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    header = _header(lines)
    if header is None:
        return True, ()
    header_at, keys = header
    rows = []
    for line in lines[header_at + 1:]:
        if set(line.strip()) <= {"-", " ", "="}:
            continue
        values = re.split(r"\s{2,}", line.strip())
        if len(values) != len(keys):
            raise ValueError(f"jcagctrl list: row has {len(values)} cells for {len(keys)} columns")
        cells = {key: value for key, value in zip(keys, values, strict=True) if key}
        rows.append(
            AgentInstanceRow(
                instance_id=cells.get("instance_id", ""),
                name=cells.get("name", ""),
                agent_name=cells.get("agent_name") or None,
                active=cells.get("active", "").lower() == "true",
                enable=cells.get("enable", "").lower() == "true",
            )
        )
    return True, tuple(rows)


def parse_agent_unit(out: SectionOutput) -> tuple[str | None, str | None]:
    if out.exit_status != 0:
        return None, None
    words = out.stdout.split()
    return (words[0] if words else None, words[1] if len(words) > 1 else None)
