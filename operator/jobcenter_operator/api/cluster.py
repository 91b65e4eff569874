"""``ClusterproCluster``: one CLUSTERPRO failover cluster and how to reach its nodes over SSH.

Pure module. Short name ``cpc``. The spec says where the nodes are and which Secret holds the
SSH credentials; the status says what the operator last saw there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic.config import JsonDict

from .common import ApiModel, Condition, LocalObjectReference, ObjectMeta, SpecModel, conditions_field
from .disruption import Disruption
from .fields import NodeAddress, Port, ServerName, UserName, lower_ascii

# Case never tells two nodes apart: CLUSTERPRO server names and DNS names are case-insensitive,
# so clu1/CLU1 or node1.example.com/NODE1.example.com are one node written twice. (Leading zeros,
# the other way to spell one address twice, are refused by the address pattern itself.) Not
# caught: one IPv6 address with `::` in two places (fd00::1 and fd00:0::1); CEL has no portable
# way to expand `::`, and the models refuse exactly what the CRD refuses.
_UNIQUE_NODE_NAMES: JsonDict = {
    "rule": "self.all(n, self.exists_one(m, m.name.lowerAscii() == n.name.lowerAscii()))",
    "message": "node names must be unique (ignoring case)",
}
_UNIQUE_NODE_ADDRESSES: JsonDict = {
    "rule": "self.all(n, self.exists_one(m, m.address.lowerAscii() == n.address.lowerAscii() && m.port == n.port))",
    "message": "node addresses must be unique (ignoring case)",
}


class ClusterNode(SpecModel):
    """One CLUSTERPRO server of the cluster."""

    name: ServerName = Field(
        description="The node's CLUSTERPRO server name (as in clp.conf and `clpgrp -n`), e.g. clu1.",
    )
    address: NodeAddress = Field(
        description="Address the operator connects to over SSH: a dotted-quad IPv4 address, an IPv6 "
        "address (hex groups without leading zeros), or a DNS name whose last label starts with a letter. "
        "Loopback addresses and names are refused. Use the node's own address, not the floating IP.",
    )
    port: Port = Field(default=22, description="SSH port of the node.")


class SSHTimeouts(SpecModel):
    """Bounds on every SSH step, so a lost node surfaces as an error instead of a hang."""

    connect_seconds: int = Field(default=10, ge=1, le=300, description="TCP connect and SSH handshake timeout.")
    command_seconds: int = Field(
        default=300,
        ge=5,
        le=3600,
        description="Longest time one remote command may take (cjcpw -stop takes 1-2 minutes on real nodes).",
    )
    keepalive_seconds: int = Field(
        default=5,
        ge=1,
        le=300,
        description="SSH keepalive interval; three missed keepalives close the connection.",
    )


class SSHAccess(SpecModel):
    """How the operator logs in to the nodes."""

    user: UserName = Field(default="root", description="Login user on every node.")
    credentials_secret_ref: LocalObjectReference = Field(
        description="Secret in the same namespace with keys `ssh-privatekey` (OpenSSH or PEM private key), "
        "`known_hosts` (OpenSSH known_hosts lines for every node; required with hostKeyPolicy Strict) "
        "and optionally `passphrase` or `password`.",
    )
    host_key_policy: Literal["Strict", "AcceptNew"] = Field(
        default="Strict",
        description="Strict: host keys must match the Secret's known_hosts. AcceptNew: a node missing from "
        "known_hosts is trusted on first contact, its key is recorded in status and enforced afterwards.",
    )
    become: Literal["None", "Sudo"] = Field(
        default="None",
        description="None: the login user is root. Sudo: run every command with `sudo -n` (passwordless sudo "
        "for the JobCenter and CLUSTERPRO commands is required).",
    )
    timeouts: SSHTimeouts = Field(default=SSHTimeouts(), description="SSH timeouts.")


class ClusterproClusterSpec(SpecModel):
    """Desired state of a ClusterproCluster: its nodes and how to reach them."""

    nodes: list[ClusterNode] = Field(
        min_length=2,
        max_length=16,
        description="The cluster's servers (at least two). Names, and addresses with their ports, must be "
        "unique ignoring case.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "x-kubernetes-validations": [_UNIQUE_NODE_NAMES, _UNIQUE_NODE_ADDRESSES],
        },
    )
    ssh: SSHAccess = Field(description="SSH access to the nodes.")
    disruption: Disruption | None = Field(
        default=None,
        description="Default maintenance windows and approval for the sites of this cluster (a site's own "
        "spec.disruption overrides each field it sets).",
    )

    @field_validator("nodes")
    @classmethod
    def _unique_nodes(cls, nodes: list[ClusterNode]) -> list[ClusterNode]:
        # Mirrors the CEL rules _UNIQUE_NODE_NAMES and _UNIQUE_NODE_ADDRESSES.
        names = [lower_ascii(n.name) for n in nodes]
        if len(set(names)) != len(names):
            raise ValueError("node names must be unique (ignoring case)")
        endpoints = [(lower_ascii(n.address), n.port) for n in nodes]
        if len(set(endpoints)) != len(endpoints):
            raise ValueError("node addresses must be unique (ignoring case)")
        return nodes


class NodeStatus(ApiModel):
    """What the operator last saw on one node."""

    name: ServerName = Field(description="CLUSTERPRO server name of the node.")
    reachable: bool = Field(default=False, description="Whether the last SSH login and probe succeeded.")
    host_key_fingerprint: str | None = Field(
        default=None, max_length=128, description="SHA256 fingerprint of the host key the node presented."
    )
    clusterpro_running: bool | None = Field(
        default=None, description="Whether the CLUSTERPRO cluster service answered on this node."
    )
    jobcenter_version: str | None = Field(
        default=None, max_length=64, description="JobCenter version installed on the node, if any."
    )
    error: str | None = Field(default=None, max_length=1024, description="Last error seen on this node.")


class GroupStatus(ApiModel):
    """One failover group and where it is online."""

    name: str = Field(max_length=31, description="Failover group name.")
    state: str = Field(max_length=32, description="Group state as clpstat reports it, e.g. Online or Offline.")
    active_node: str | None = Field(default=None, max_length=63, description="Node where the group is online.")


class ClusterproClusterStatus(ApiModel):
    """Observed state of a ClusterproCluster."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the status was computed from."
    )
    conditions: list[Condition] | None = conditions_field(
        "Conditions: Ready, Reconciling, Stalled and NodesReachable."
    )
    nodes_reachable: str | None = Field(
        default=None, max_length=16, description="Reachable nodes over all nodes, e.g. 2/2 (printer column)."
    )
    nodes: list[NodeStatus] | None = Field(
        default=None,
        max_length=16,
        description="Per-node observations.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    groups: list[GroupStatus] | None = Field(
        default=None,
        max_length=64,
        description="Failover groups and where each is online.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class ClusterproCluster(ApiModel):
    """A CLUSTERPRO X failover cluster the operator manages JobCenter sites in."""

    api_version: Literal["jobcenter.clusterpro.io/v1alpha1"] = Field(
        default="jobcenter.clusterpro.io/v1alpha1", description="API version."
    )
    kind: Literal["ClusterproCluster"] = Field(default="ClusterproCluster", description="Kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: ClusterproClusterSpec = Field(description="Desired state.")
    status: ClusterproClusterStatus | None = Field(default=None, description="Observed state.")
