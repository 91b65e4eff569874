"""Constrained field types shared by the API models.

Pure module. Every pattern here must mean the same thing in three regex engines: pydantic-core
(Rust ``regex``), Python ``re`` (jsonschema in tests) and Go RE2 (the API server). So: no
look-around, no back-references, anchors on both ends. Every string has a ``maxLength`` so the
API server can bound the cost of the CEL rules that read it.

Why so strict: every one of these values ends up as an argument of a command on a cluster
node. Argv lists are quoted once by the node layer, but admission is the first wall: a value
with a shell metacharacter, a newline, a leading ``-`` (option injection) or a ``..`` path
segment never gets into the cluster.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# RFC 1123 label / subdomain, as Kubernetes uses for object names.
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

# A host name or FQDN: dot-separated labels of letters, digits and inner hyphens.
# (An IPv4 address also matches; node addresses may be either.)
HOSTNAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"

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

K8sName = Annotated[str, Field(min_length=1, max_length=253, pattern=K8S_NAME_PATTERN)]
HostName = Annotated[str, Field(min_length=1, max_length=253, pattern=HOSTNAME_PATTERN)]
IPv4Address = Annotated[str, Field(min_length=7, max_length=15, pattern=IPV4_PATTERN)]
ClpName = Annotated[str, Field(min_length=1, max_length=31, pattern=CLP_NAME_PATTERN)]
ServerName = Annotated[str, Field(min_length=1, max_length=63, pattern=SERVER_NAME_PATTERN)]
AbsolutePath = Annotated[str, Field(min_length=2, max_length=255, pattern=ABSOLUTE_PATH_PATTERN)]
UserName = Annotated[str, Field(min_length=1, max_length=32, pattern=USER_NAME_PATTERN)]
AgentId = Annotated[str, Field(min_length=1, max_length=63, pattern=AGENT_ID_PATTERN)]
Port = Annotated[int, Field(ge=1, le=65535)]
# NQS machine IDs are positive 31-bit integers (the guide's examples: 114, 100).
MachineId = Annotated[int, Field(ge=1, le=2147483647)]
