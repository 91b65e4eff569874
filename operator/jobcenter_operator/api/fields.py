"""Constrained field types shared by the API models.

Pure module. Every pattern here must mean the same thing in three regex engines: pydantic-core
(Rust ``regex``), Python ``re`` (jsonschema in tests) and Go RE2 (the API server). So: ASCII
character classes only (no ``\\d``/``\\w``/``\\s``, which are Unicode-aware in some engines), no
flags, no look-around, no back-references, ``^`` first and ``$`` last and nowhere else. Python's
``$`` also matches before a trailing newline, RE2's and Rust's do not: no class here admits a
newline, so the difference never decides a match (tests/unit/api/test_patterns.py checks all this
on the generated CRDs). Every string has a ``maxLength`` so the API server can bound the cost of
the CEL rules that read it.

Why so strict: every one of these values ends up as an argument of a command on a cluster
node. Argv lists are quoted once by the node layer, but admission is the first wall: a value
with a shell metacharacter, a newline, a leading ``-`` (option injection) or a ``..`` path
segment never gets into the cluster.

Rules a pattern cannot say are CEL rules (``x-kubernetes-validations``) next to the pattern,
mirrored by an ``AfterValidator`` so the models refuse exactly what the CRD refuses.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic.config import JsonDict

# RFC 1123 label / subdomain, as Kubernetes uses for object names.
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
# The last label starts with a letter. RFC 1123 2.1 guarantees a top-level label is alphabetic,
# and it is what keeps numbers out: the resolver (inet_aton) reads `0`, `127.1`, `2130706433`,
# `0x7f000001` and `127.0x1` as IPv4 addresses (all of them 127.0.0.1 or 0.0.0.0).
_LAST_LABEL = r"[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
_DNS_NAME = rf"({_LABEL}\.)*{_LAST_LABEL}"
HOSTNAME_PATTERN = rf"^{_DNS_NAME}$"

# Dotted-quad IPv4 without leading zeros (`010` is octal to inet_aton, decimal to others).
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# The first octet is neither 0 (0.0.0.0/8, "this host") nor 127 (loopback): both reach the
# operator's own pod, not a cluster node.
_FIRST_OCTET = r"(25[0-5]|2[0-4][0-9]|1[013-9][0-9]|12[0-689]|[1-9][0-9]?)"
_IPV4 = rf"{_FIRST_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
IPV4_PATTERN = rf"^{_IPV4}$"

# IPv6 in hex groups only (no embedded dotted quad, no zone), groups without leading zeros, and
# a non-zero first group: 0::/8 holds only special addresses (`::`, `::1`, IPv4-mapped
# `::ffff:7f00:1`), none of them a cluster node's. With no leading zeros the zero group is
# spelled `0`, so "first group non-zero" is a plain character rule.
_GROUP = r"(0|[1-9a-fA-F][0-9a-fA-F]{0,3})"
_FIRST_GROUP = r"[1-9a-fA-F][0-9a-fA-F]{0,3}"
_IPV6_FORMS = [
    rf"{_FIRST_GROUP}(:{_GROUP}){{7}}",  # all eight groups
    rf"{_FIRST_GROUP}(:{_GROUP}){{0,6}}::",  # `::` at the end
    *(rf"{_FIRST_GROUP}(:{_GROUP}){{0,{6 - after}}}:(:{_GROUP}){{{after}}}" for after in range(1, 6)),
    rf"{_FIRST_GROUP}:(:{_GROUP}){{6}}",  # one group, `::`, six groups
]
_IPV6 = "(" + "|".join(f"({form})" for form in _IPV6_FORMS) + ")"
IPV6_PATTERN = rf"^{_IPV6}$"

NODE_ADDRESS_PATTERN = rf"^({_IPV4}|{_IPV6}|{_DNS_NAME})$"

# CLUSTERPRO object names (server, group, resource, monitor): letters, digits, '-' and '_',
# starting with a letter or digit, at most 31 characters (the product's limit for group,
# resource and monitor names).
CLP_NAME_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9_]{0,30}$"

# CLUSTERPRO server names are host names (one label).
SERVER_NAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_]{0,61}[A-Za-z0-9])?$"

# An absolute path made of safe segments. Each segment starts with a letter, digit or '_',
# which rules out '.', '..', hidden names and option-like '-x' segments; no trailing slash.
ABSOLUTE_PATH_PATTERN = r"^(/[A-Za-z0-9_][-A-Za-z0-9._]*)+$"

# POSIX portable user name, as useradd accepts it.
USER_NAME_PATTERN = r"^[a-z_][-a-z0-9_]{0,31}$"

# A JobCenter agent instance id / name: the id becomes part of a systemd unit name.
AGENT_ID_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9_]{0,62}$"

# Names every distribution's /etc/hosts gives to the loopback addresses (RFC 6761 reserves
# `localhost` and `*.localhost`; RHEL adds localhost4/6[.localdomain4/6], Debian ip6-localhost
# and ip6-loopback). A node or virtual host by such a name is this machine, not a cluster node.
LOOPBACK_FIRST_LABELS = ("localhost", "localhost4", "localhost6", "ip6-localhost", "ip6-loopback")
_LOOPBACK_NAME_RULE: JsonDict = {
    "rule": "!(self.lowerAscii().split('.')[0] in ["
    + ", ".join(f"'{label}'" for label in LOOPBACK_FIRST_LABELS)
    + "] || self.lowerAscii().endsWith('.localhost'))",
    "message": "must not be a loopback name such as localhost",
}


def lower_ascii(text: str) -> str:
    """CEL's ``lowerAscii()``: only A-Z change (``str.lower`` also folds e.g. the Kelvin sign)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _not_loopback_name(value: str) -> str:
    # Mirrors _LOOPBACK_NAME_RULE.
    lowered = lower_ascii(value)
    if lowered.split(".")[0] in LOOPBACK_FIRST_LABELS or lowered.endswith(".localhost"):
        raise ValueError("must not be a loopback name such as localhost")
    return value


_NOT_LOOPBACK: JsonDict = {"x-kubernetes-validations": [_LOOPBACK_NAME_RULE]}

K8sName = Annotated[str, Field(min_length=1, max_length=253, pattern=K8S_NAME_PATTERN)]
HostName = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=HOSTNAME_PATTERN, json_schema_extra=_NOT_LOOPBACK),
    AfterValidator(_not_loopback_name),
]
NodeAddress = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=NODE_ADDRESS_PATTERN, json_schema_extra=_NOT_LOOPBACK),
    AfterValidator(_not_loopback_name),
]
IPv4Address = Annotated[str, Field(min_length=7, max_length=15, pattern=IPV4_PATTERN)]
ClpName = Annotated[str, Field(min_length=1, max_length=31, pattern=CLP_NAME_PATTERN)]
ServerName = Annotated[str, Field(min_length=1, max_length=63, pattern=SERVER_NAME_PATTERN)]
AbsolutePath = Annotated[str, Field(min_length=2, max_length=255, pattern=ABSOLUTE_PATH_PATTERN)]
UserName = Annotated[str, Field(min_length=1, max_length=32, pattern=USER_NAME_PATTERN)]
AgentId = Annotated[str, Field(min_length=1, max_length=63, pattern=AGENT_ID_PATTERN)]
Port = Annotated[int, Field(ge=1, le=65535)]
# NQS machine IDs are positive 31-bit integers (the guide's examples: 114, 100).
MachineId = Annotated[int, Field(ge=1, le=2147483647)]
