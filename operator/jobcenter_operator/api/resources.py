"""What the API server needs to know about each kind besides its schema.

Pure module: names, scope, printer columns, categories. ``crdgen`` turns these plus the models
into CustomResourceDefinitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cluster import ClusterproCluster
from .common import ApiModel
from .site import JobCenterSite

_READY = '.status.conditions[?(@.type=="Ready")]'


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0


@dataclass(frozen=True)
class Kind:
    model: type[ApiModel]
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    columns: tuple[PrinterColumn, ...]


def _ready_columns() -> tuple[PrinterColumn, ...]:
    return (
        PrinterColumn("Ready", "string", f"{_READY}.status", "Whether the resource is Ready."),
        PrinterColumn("Reason", "string", f"{_READY}.reason", "Why it is (not) Ready."),
        PrinterColumn("Message", "string", f"{_READY}.message", "Detail of the Ready condition.", priority=1),
    )


_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since creation.")

CLUSTERPRO_CLUSTER = Kind(
    model=ClusterproCluster,
    kind="ClusterproCluster",
    plural="clusterproclusters",
    singular="clusterprocluster",
    short_names=("cpc",),
    categories=("jobcenter",),
    columns=(
        PrinterColumn("Nodes", "string", ".status.nodesReachable", "Reachable nodes / all nodes."),
        *_ready_columns(),
        _AGE,
    ),
)

JOBCENTER_SITE = Kind(
    model=JobCenterSite,
    kind="JobCenterSite",
    plural="jobcentersites",
    singular="jobcentersite",
    short_names=("jcs",),
    categories=("jobcenter",),
    columns=(
        PrinterColumn("Mode", "string", ".spec.mode", "Classic, StandardManager or StandardAgent."),
        PrinterColumn("Group", "string", ".spec.failoverGroup", "CLUSTERPRO failover group."),
        PrinterColumn("Active", "string", ".status.activeNode", "Node where the group is online."),
        PrinterColumn("Processes", "string", ".status.processes.summary", "Site processes found/expected."),
        *_ready_columns(),
        PrinterColumn("Disruption", "string", '.status.conditions[?(@.type=="DisruptionAllowed")].reason',
                      "Whether disruptive steps may run: OutsideWindow / AwaitingApproval while a change waits."),
        PrinterColumn("Plan", "string", ".status.disruption.planHash",
                      "Hash of the pending disruptive steps (approve-plan annotation).", priority=1),
        PrinterColumn("Next-Window", "string", ".status.disruption.nextWindowStart",
                      "When the next maintenance window opens (UTC).", priority=1),
        PrinterColumn("Step", "string", ".status.progress", "The step running now (k/n kind node)."),
        PrinterColumn("Suspended", "boolean", ".spec.suspend", "Reconciliation suspended.", priority=1),
        _AGE,
    ),
)

KINDS: tuple[Kind, ...] = (CLUSTERPRO_CLUSTER, JOBCENTER_SITE)
