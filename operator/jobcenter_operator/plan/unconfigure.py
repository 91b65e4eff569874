"""Deletion as a plan: what deletionPolicy Unconfigure does to the nodes. Pure.

The configuration as it was before the operator's first push is kept on the node that pushed
(``commands.backup_dir``, written by ApplyClusterConfig) and read by the facts probe when asked.
The plan stops the group where it is online (stop.sh stops the cluster site), pushes the current
configuration with the site's exec settings, monitor and scripts taken from that backup, and
starts the group again on the node that held it, with the original scripts (so the cluster site
stays stopped). A failed push starts the group again all the same (the stop's restore). It never
touches ``<databasePath>/nqs``: the job data is not the operator's to remove. A deletion retried
after an unconfigure that ran to its end (the configuration restored, none of the operator's scripts
left on any node) has nothing to do: it never restarts the group a second time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from ..render.clp_conf import ClpConfError
from ..render.clp_restore import restore_site
from . import commands
from .apply_sequence import (
    clear_markers,
    mark_stopped,
    monitor_changes,
    recover_suspend,
    resume_actions,
    stop_group,
    suspend_actions,
)
from .model import Action, Finding, Plan, failure
from .preflight import active_node, claimed_by
from .steps import resume_start

RESUME_FIRST = "ResumeAfterInterruption"


def plan_unconfigure(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts]) -> Plan:
    """The deletion's actions; or, when an interrupted run left the cluster suspended by the
    operator, only its resume (finding ``RESUME_FIRST``): the deletion is planned from the nodes as
    they are after it (unconfigure_site plans again)."""
    group = spec.failover_group
    recovery = recover_suspend(group, nodes, facts, active_node(spec, nodes, facts))
    if recovery:
        return Plan(findings=(Finding(condition="ClusterResourcesConfigured", status="False", reason=RESUME_FIRST,
                                      message="an interrupted run left the operator's suspend marker"),),
                    actions=tuple(recovery), active_node=active_node(spec, nodes, facts))
    backup_node = next((n for n in nodes if facts[n].backup_clp_conf), None)
    if backup_node is None:
        return Plan(findings=(failure("NoBackup", f"no node has a backup of the configuration of {group}; "
                                      "nothing was changed"),))
    backup = facts[backup_node].backup_clp_conf
    assert backup is not None
    try:
        restored = restore_site(facts[backup_node].clp_conf.text, backup, spec)
    except ClpConfError as exc:
        return Plan(findings=(failure("ClusterproConfigInvalid", f"{exc}; nothing was changed", permanent=False),))
    if len(claimed_by(spec, nodes, facts)) > 1:
        return Plan(findings=(failure("SplitBrain", f"failover group {group} is reported online on more than one "
                                      "node; nothing was changed", permanent=False),))
    active = active_node(spec, nodes, facts)
    current = facts[backup_node].clp_conf.text
    # Offline with the operator's stop marker: a run (or an earlier delete) stopped it and died.
    # The group is started again after the restore, on the node the marker names.
    resume = next((f.stopped_by_operator for f in facts.values() if f.stopped_by_operator in nodes), None) \
        if active is None else None
    actions: list[Action] = []
    # A deletion retried after its unconfigure ran (the operator exited before the finalizer went, or
    # that patch failed) finds the configuration restored and none of the operator's scripts (of any
    # version) on any node: a second stop of the group would interrupt production for nothing.
    if current != restored or any(facts[n].managed_scripts for n in nodes):
        actions += _restore(spec, nodes, facts, backup_node, active, current, restored)
    if active is None and resume is not None:
        actions.append(resume_start(group, resume))
        actions += clear_markers([n for n in nodes if n != resume and facts[n].stopped_by_operator], group,
                                 "ResumeAfterInterruption")
    return Plan(actions=tuple(actions), active_node=active)


def _restore(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], backup_node: str,
             active: str | None, current: str, restored: str) -> list[Action]:
    """Stop the group where it is online, push ``restored`` (suspended when the monitor changes) and
    start the group again where it was, with the original scripts: the site itself stays stopped."""
    group = spec.failover_group
    # Removing or changing the monitor needs the cluster suspended (apply_sequence), on the node
    # that pushes.
    suspend = monitor_changes(spec, current, restored)
    actions: list[Action] = []
    if active is not None:
        actions += [*mark_stopped(nodes, group, active, "Unconfigure"), stop_group(group, active, "Unconfigure")]
    if suspend:
        actions += suspend_actions(group, backup_node, nodes, "Unconfigure")
    actions.append(Action(
        kind="RestoreClusterConfig", node=backup_node, reason="Unconfigure",
        message=f"put the exec scripts of {spec.exec_resource} and monitor {spec.monitor_resource} back as they "
        "were before the operator",
        command=commands.restore_config(group, spec.exec_resource, spec.monitor_resource, restored,
                                        planned_from=current, encoding=facts[backup_node].clp_conf.encoding)))
    if suspend:
        actions += resume_actions(group, backup_node, nodes, facts, "Unconfigure")
    if active is not None:
        actions.append(Action(kind="StartGroup", node=active, reason="Unconfigure",
                              message=f"start {group} on {active} with the original scripts",
                              command=commands.start_group(group)))
        actions += clear_markers([n for n in nodes if n != active], group, "Unconfigure")
    return actions
