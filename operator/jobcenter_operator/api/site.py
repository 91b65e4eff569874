"""``JobCenterSite``: one JobCenter cluster site in one failover group of a ClusterproCluster.

Pure module. Short name ``jcs``, category ``jobcenter``. Three modes, as in the vendor guide:
``Classic`` (MG/SV classic mode, chapter 2), ``StandardManager`` (standard-mode MG, chapter 3)
and ``StandardAgent`` (standard-mode AG run by a systemd unit, chapter 3).

Cross-field rules (mode-specific fields, immutability) are CEL rules in ``x-kubernetes-validations``
so the API server enforces them at admission; the same rules are mirrored as pydantic validators
so the CLI dry run and the reconciler reject the same manifests without an API server.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict, JsonValue

from .common import ApiModel, Condition, LocalObjectReference, ObjectMeta, SpecModel, conditions_field
from .disruption import Disruption
from .fields import AbsolutePath, AgentId, ClpName, HostName, IPv4Address, MachineId

Mode = Literal["Classic", "StandardManager", "StandardAgent"]

def _not_on_agent(field: str) -> JsonDict:
    # An agent site has no virtual host, machine ID or floating IP of its own (the manager has).
    return {
        "rule": f"self.mode != 'StandardAgent' || !has(self.{field})",
        "message": f"{field} may only be set when mode is Classic or StandardManager",
        "fieldPath": f".{field}",
        "reason": "FieldValueForbidden",
    }


def _immutable(field: str) -> JsonDict:
    return {
        "rule": f"self.{field} == oldSelf.{field}",
        "message": f"{field} is immutable: delete the site and create it again",
        "fieldPath": f".{field}",
    }


# CEL rules on the spec. Each names the field it is about (fieldPath) so the API server's
# error points at it. Transition rules (oldSelf) only run on update.
SITE_SPEC_RULES: list[JsonValue] = [
    {
        "rule": "self.mode == 'StandardAgent' || has(self.virtualHost)",
        "message": "virtualHost is required when mode is Classic or StandardManager",
        "fieldPath": ".virtualHost",
        "reason": "FieldValueRequired",
    },
    {
        "rule": "self.mode == 'StandardAgent' || has(self.machineId)",
        "message": "machineId is required when mode is Classic or StandardManager",
        "fieldPath": ".machineId",
        "reason": "FieldValueRequired",
    },
    {
        "rule": "self.mode == 'StandardAgent' || has(self.floatingIP)",
        "message": "floatingIP is required when mode is Classic or StandardManager",
        "fieldPath": ".floatingIP",
        "reason": "FieldValueRequired",
    },
    {
        "rule": "self.mode != 'StandardAgent' || has(self.agent)",
        "message": "agent is required when mode is StandardAgent",
        "fieldPath": ".agent",
        "reason": "FieldValueRequired",
    },
    {
        "rule": "self.mode == 'StandardAgent' || !has(self.agent)",
        "message": "agent may only be set when mode is StandardAgent",
        "fieldPath": ".agent",
        "reason": "FieldValueForbidden",
    },
    *(_not_on_agent(field) for field in ("virtualHost", "machineId", "floatingIP")),
    {
        "rule": "self.mode == oldSelf.mode",
        "message": "mode is immutable",
        "fieldPath": ".mode",
    },
    {
        "rule": "self.databasePath == oldSelf.databasePath",
        "message": "databasePath is immutable: the site's job data lives there",
        "fieldPath": ".databasePath",
    },
    {
        "rule": "has(self.machineId) == has(oldSelf.machineId)"
        " && (!has(self.machineId) || self.machineId == oldSelf.machineId)",
        "message": "machineId is immutable once set",
        "fieldPath": ".machineId",
    },
    {
        "rule": "has(self.virtualHost) == has(oldSelf.virtualHost)"
        " && (!has(self.virtualHost) || self.virtualHost == oldSelf.virtualHost)",
        "message": "virtualHost is immutable once set",
        "fieldPath": ".virtualHost",
    },
    # Fields that move the site to another cluster or group: changing one would leave the old
    # group's scripts and monitor behind. Delete the site and create a new one instead.
    {
        "rule": "self.clusterRef.name == oldSelf.clusterRef.name",
        "message": "clusterRef is immutable: delete the site and create it in the other cluster",
        "fieldPath": ".clusterRef",
    },
    *(_immutable(field) for field in ("failoverGroup", "execResource", "monitorResource")),
    {
        "rule": "!has(self.agent) || !has(oldSelf.agent) || self.agent.instanceId == oldSelf.agent.instanceId",
        "message": "agent.instanceId is immutable: delete the site and create it again",
        "fieldPath": ".agent.instanceId",
    },
]


class AgentInstance(SpecModel):
    """The JobCenter standard-mode agent instance CLUSTERPRO starts and stops."""

    instance_id: AgentId = Field(
        description="Instance ID: the systemd unit is jcexecutor_agent_<instanceId>.service.",
    )
    instance_name: AgentId = Field(
        description="Instance name as `jcagctrl list` shows it, e.g. clusterinstance.",
    )
    agent_name: AgentId | None = Field(
        default=None,
        description="Agent name as registered on the manager, e.g. jcagcluster (reported, not changed).",
    )


class JobCenterSiteSpec(SpecModel):
    """Desired state of a JobCenter cluster site."""

    model_config = ConfigDict(**SpecModel.model_config, json_schema_extra={"x-kubernetes-validations": SITE_SPEC_RULES})

    cluster_ref: LocalObjectReference = Field(
        description="The ClusterproCluster (same namespace) whose nodes run this site.",
    )
    mode: Mode = Field(
        description="Classic: MG/SV classic mode (cjcpw + PID monitor, 8 processes). StandardManager: "
        "standard-mode MG (cjcpw + PID monitor, 11 processes). StandardAgent: standard-mode AG "
        "(systemd unit + custom monitor). Immutable.",
    )
    failover_group: ClpName = Field(
        description="CLUSTERPRO failover group holding the site's disk (and floating IP), e.g. failover-jc.",
    )
    exec_resource: ClpName = Field(
        description="Exec resource of the group whose start.sh/stop.sh run the site, e.g. exec-jc.",
    )
    monitor_resource: ClpName = Field(
        description="Monitor resource the operator keeps: a PID monitor (pidw) for Classic and "
        "StandardManager, a custom monitor (genw) for StandardAgent.",
    )
    database_path: AbsolutePath = Field(
        description="Mount point of the switched disk holding <databasePath>/nqs (the site's job data, "
        "never deleted by the operator), e.g. /mnt/sdb2. Immutable.",
    )
    virtual_host: HostName | None = Field(
        default=None,
        description="Virtual host name of the site (its canonical name or FQDN, not an alias), resolving "
        "forward and reverse to floatingIP on every node, e.g. cluv. Required for Classic and "
        "StandardManager. Immutable.",
    )
    machine_id: MachineId | None = Field(
        default=None,
        description="NQS machine ID of the cluster site, distinct from every node's own ID, e.g. 114. "
        "Required for Classic and StandardManager. Immutable.",
    )
    floating_ip: IPv4Address | None = Field(
        default=None,
        alias="floatingIP",
        description="Floating IP of the failover group that virtualHost resolves to, e.g. 10.0.0.114. "
        "Required for Classic and StandardManager.",
    )
    local_daemon: Literal["Site", "Off"] = Field(
        default="Site",
        description="local_daemon in /usr/lib/nqs/rc/daemon.conf on every node. Site: the local site runs "
        "beside the cluster site (local_daemon=SITE). Off: the local site is not started (local_daemon=OFF).",
    )
    process_monitoring: bool = Field(
        default=True,
        description="Run cjcpw resident (without -c) with a PID monitor, so a dead JobCenter daemon makes "
        "CLUSTERPRO restart the site or fail the group over. False runs `cjcpw -c` with no monitoring.",
    )
    monitor_interval_seconds: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="Polling interval of the monitor resource (polling/interval in clp.conf).",
    )
    agent: AgentInstance | None = Field(default=None, description="The agent instance. Required for StandardAgent.")
    suspend: bool = Field(
        default=False,
        description="Stop reconciling: nothing is read from or written to the nodes; conditions are frozen.",
    )
    management_policy: Literal["Enforce", "Observe"] = Field(
        default="Enforce",
        description="Enforce: make the nodes match the spec. Observe: only report in status.plan what "
        "would change; never write to a node.",
    )
    deletion_policy: Literal["Retain", "Unconfigure"] = Field(
        default="Retain",
        description="On delete: Retain leaves the nodes as they are. Unconfigure restores the exec "
        "scripts and monitor to what they were and stops the cluster site; <databasePath>/nqs is "
        "never removed.",
    )
    drift_policy: Literal["Correct", "Report"] = Field(
        default="Correct",
        description="When the periodic check finds the nodes drifted: Correct them, or only Report "
        "(InSync=False).",
    )
    disruption: Disruption | None = Field(
        default=None,
        description="Maintenance windows and approval for the steps that interrupt the site; each unset "
        "field comes from the ClusterproCluster's spec.disruption.",
    )

    @model_validator(mode="after")
    def _mode_specific_fields(self) -> JobCenterSiteSpec:
        # Mirrors SITE_SPEC_RULES (the non-transition ones) for callers without an API server.
        if self.mode == "StandardAgent":
            if self.agent is None:
                raise ValueError("agent is required when mode is StandardAgent")
            # An agent site has no virtual host of its own; a stray one would be taken for the
            # manager's identity by whoever reads the manifest.
            present = [
                wire
                for wire, value in (
                    ("virtualHost", self.virtual_host),
                    ("machineId", self.machine_id),
                    ("floatingIP", self.floating_ip),
                )
                if value is not None
            ]
            if present:
                raise ValueError(f"{', '.join(present)} may only be set when mode is Classic or StandardManager")
        else:
            missing = [
                wire
                for wire, value in (
                    ("virtualHost", self.virtual_host),
                    ("machineId", self.machine_id),
                    ("floatingIP", self.floating_ip),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"{', '.join(missing)} required when mode is {self.mode}")
            if self.agent is not None:
                raise ValueError("agent may only be set when mode is StandardAgent")
        return self


class ProcessSummary(ApiModel):
    """JobCenter cluster-site processes on the active node."""

    expected: int = Field(ge=0, description="Number of processes the mode requires (8 Classic, 11 StandardManager).")
    found: int = Field(ge=0, description="Number of required processes found under the site's cjcpw.")
    missing: list[str] | None = Field(
        default=None, max_length=32, description="Required process names not found."
    )
    summary: str = Field(max_length=16, description="found/expected, e.g. 8/8 (printer column).")


class PlannedAction(ApiModel):
    """One change the operator would make (reported in Observe mode)."""

    node: str | None = Field(default=None, max_length=63, description="Node the action runs on, if any.")
    action: str = Field(max_length=64, description="What would be done, e.g. SetLocalDaemon, CreateSite.")
    reason: str = Field(max_length=64, description="Why, as a stable CamelCase word.")
    message: str = Field(max_length=1024, description="Human-readable detail.")
    disruptive: bool | None = Field(
        default=None, description="True: the step interrupts the site (runs only when spec.disruption allows)."
    )


class DisruptionStatus(ApiModel):
    """Whether the steps that interrupt the site may run now, and what a person approves."""

    verdict: str = Field(
        max_length=32,
        description="NothingHeld, Allowed, Approved, Override (running), OutsideWindow or AwaitingApproval (waiting).",
    )
    message: str = Field(max_length=1024, description="Human-readable detail.")
    plan_hash: str | None = Field(
        default=None, max_length=16,
        description="Hash of the pending disruptive steps: approve with the annotation "
        "jobcenter.clusterpro.io/approve-plan=<planHash>.",
    )
    next_window_start: str | None = Field(default=None, max_length=32, description="When the next window opens (UTC).")
    window_closes: str | None = Field(default=None, max_length=32, description="When the open window closes (UTC).")


class JobCenterSiteStatus(ApiModel):
    """Observed state of a JobCenter cluster site."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the status was computed from."
    )
    conditions: list[Condition] | None = conditions_field(
        "Conditions: Ready, Reconciling, Stalled and the domain conditions NodesReachable, "
        "PreflightPassed, DaemonConfigured, SiteCreated, ClusterResourcesConfigured, GroupOnline, "
        "ProcessesHealthy, InSync, DisruptionAllowed."
    )
    active_node: str | None = Field(
        default=None, max_length=63, description="Node where the failover group is online now."
    )
    processes: ProcessSummary | None = Field(default=None, description="Cluster-site processes on the active node.")
    plan: list[PlannedAction] | None = Field(
        default=None,
        max_length=64,
        description="Changes pending (managementPolicy Observe, drift with driftPolicy Report, or a change "
        "waiting for a maintenance window or an approval).",
    )
    disruption: DisruptionStatus | None = Field(
        default=None, description="The maintenance window and approval gate on the steps that interrupt the site."
    )
    last_handled_reconcile_at: str | None = Field(
        default=None,
        max_length=64,
        description="Value of the jobcenter.clusterpro.io/requested-at annotation last handled.",
    )
    progress: str | None = Field(
        default=None,
        max_length=128,
        description="The step running now, e.g. '2/7 StopGroup clu1' (printer column); absent when idle.",
    )


class JobCenterSite(ApiModel):
    """A WebSAM JobCenter cluster site kept by the operator inside a CLUSTERPRO failover group."""

    api_version: Literal["jobcenter.clusterpro.io/v1alpha1"] = Field(
        default="jobcenter.clusterpro.io/v1alpha1", description="API version."
    )
    kind: Literal["JobCenterSite"] = Field(default="JobCenterSite", description="Kind.")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: JobCenterSiteSpec = Field(description="Desired state.")
    status: JobCenterSiteStatus | None = Field(default=None, description="Observed state.")


# Fields whose change would point the site at other job data or another identity. The CRD's
# transition rules (SITE_SPEC_RULES) refuse such updates at admission; this mirror lets the
# reconciler and the CLI refuse them too when no API server stands in between.
IMMUTABLE_FIELDS: tuple[tuple[str, str], ...] = (
    ("mode", "mode"),
    ("database_path", "databasePath"),
    ("machine_id", "machineId"),
    ("virtual_host", "virtualHost"),
    ("cluster_ref.name", "clusterRef"),
    ("failover_group", "failoverGroup"),
    ("exec_resource", "execResource"),
    ("monitor_resource", "monitorResource"),
    ("agent.instance_id", "agent.instanceId"),
)


def _lookup(spec: JobCenterSiteSpec, dotted: str) -> object:
    value: object = spec
    for attr in dotted.split("."):
        value = getattr(value, attr, None)
    return value


def immutable_field_changes(old: JobCenterSiteSpec, new: JobCenterSiteSpec) -> list[str]:
    """Wire names of the immutable fields that differ between ``old`` and ``new``.

    Same semantics as the transition rules: agent.instanceId only counts when both have an agent
    (mode, which decides whether there is one, is immutable on its own)."""
    changes = []
    for attr, wire in IMMUTABLE_FIELDS:
        if attr.startswith("agent.") and (old.agent is None or new.agent is None):
            continue
        if _lookup(old, attr) != _lookup(new, attr):
            changes.append(wire)
    return changes
