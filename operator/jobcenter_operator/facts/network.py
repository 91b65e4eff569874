"""Addresses, mounts and name resolution on one node.

Pure module. The floating IP must be configured where the group is online; the database path must
be a mount point there; the virtual host must resolve forward AND reverse to the floating IP on
every node (vendor guide 2.3: cjcmksite and cjcpw need the canonical name, not an alias).
"""

from __future__ import annotations

from ..frozen import Frozen
from .sections import Section, SectionOutput

IP_ADDR = Section("ip_addr", "    ip -o -4 addr show")
# Only the mount point (field 5; mountinfo separates fields with one space and escapes those in paths):
# the rest of each line is not read, and a node with many mounts would send it on every probe.
MOUNTS = Section("mounts", "    cut -d ' ' -f 5 /proc/self/mountinfo")
RESOLVE_FORWARD = Section(
    "resolve_forward",
    """\
    [ -n "$vhost" ] || return 3
    getent ahostsv4 "$vhost\"""",
)
RESOLVE_REVERSE = Section(
    "resolve_reverse",
    """\
    [ -n "$fip" ] || return 3
    getent hosts "$fip\"""",
)


def parse_ip_addr(out: SectionOutput) -> frozenset[str]:
    """IPv4 addresses configured on the node (without prefix length)."""
    addresses = set()
    for line in out.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            i = words.index("inet")
            if i + 1 < len(words):
                addresses.add(words[i + 1].split("/", 1)[0])
    return frozenset(addresses)


def parse_mounts(out: SectionOutput) -> frozenset[str]:
    """Mount points: field 5 of /proc/self/mountinfo, or lines of that field alone (what MOUNTS sends);
    octal escapes (``\\040`` for a space) decoded."""
    points = set()
    for line in out.stdout.splitlines():
        fields = line.split()
        point = fields[4] if len(fields) > 4 else fields[0] if len(fields) == 1 else None
        if point is not None:
            points.add(point.encode().decode("unicode_escape") if "\\" in point else point)
    return frozenset(points)


class Resolution(Frozen):
    forward: tuple[str, ...] = ()  # IPv4 addresses the virtual host resolves to
    canonical: str | None = None  # the canonical name getent reports for the virtual host
    reverse: str | None = None  # the first (canonical) name of the floating IP


def parse_resolution(forward: SectionOutput, reverse: SectionOutput) -> Resolution:
    addresses: list[str] = []
    canonical = None
    if forward.exit_status == 0:
        for line in forward.stdout.splitlines():
            words = line.split()
            if not words:
                continue
            if words[0] not in addresses:
                addresses.append(words[0])
            if canonical is None and len(words) >= 3:
                canonical = words[2]
    reverse_name = None
    if reverse.exit_status == 0:
        words = reverse.stdout.split()
        reverse_name = words[1] if len(words) > 1 else None
    return Resolution(forward=tuple(addresses), canonical=canonical, reverse=reverse_name)
