"""How a configuration change is applied to a running cluster: NEC's documented sequence, chosen
from what the change touches. Pure.

node-protocol 5.1, 7 and 10 (S4, S6, S12), and what the product refuses (node-protocol 9):

- a monitor added, changed or removed (its clp.conf element, or its genw.sh) needs the cluster
  suspended: ``clpcl --suspend`` -> ``clpcfctrl --push -l -x <dir>`` -> ``clpcl -r -a --web --alert``
  (X4.2+: also ``--ib --api``), so every server's manager services load what was pushed ->
  ``clpcl --resume``, all on the node that pushes;
- any other change of clp.conf is followed by that restart too, without a suspend;
- the exec resource or its start/stop scripts of an online group need that group stopped:
  ``clpgrp -t`` -> push -> ``clpgrp -s`` (what the Cluster WebUI's apply does);
- both: stop the group, then suspend (clpgrp refuses to work on a suspended cluster), push,
  resume, start the group.

Every disruptive step carries its undo as ``restore`` (reconcile.execute runs them when a later step
fails), so a refused push leaves the cluster resumed and the group started again where it was.
The suspend marker (plan/suspend_commands.py) is written on every node first; a run killed while
the cluster is suspended is finished by ``recover_suspend`` before anything else is planned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from ..xml_spans import Element, XmlError, parsed
from . import commands, suspend_commands
from .model import Action

SCRIPTS_PREFIX = "scripts/"


@dataclass(frozen=True)
class ConfigChange:
    """A configuration to push: the new clp.conf (text, and the charset to write it in), the
    scripts (config-dir relative path -> content), what differs, and what it touches."""

    conf: str
    encoding: str
    scripts: dict[str, str]
    differs: tuple[str, ...]
    monitor: bool  # a monitor is added, changed or removed: needs the cluster suspended
    group: bool  # the exec resource or its scripts change: needs the group stopped


def _element_text(xml: str, section: str, name: str, kind: str | None = None) -> str | None:
    """The source text of ``<section><kind name=name>`` (any kind but ``types`` when None)."""
    try:
        doc = parsed(xml)
    except XmlError:
        return None
    parent = doc.root.child(section)
    found: Element | None = None
    for child in parent.children if parent is not None else []:
        if child.tag != "types" and child.attrs.get("name") == name and kind in (None, child.tag):
            found = child
            break
    return doc.source[found.start:found.end] if found is not None else None


def stale_scripts(spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts],
                  scripts: Mapping[str, str]) -> dict[str, list[str]]:
    """Installed script path -> the nodes where it differs from ``scripts``."""
    stale: dict[str, list[str]] = {}
    for path, content in sorted(scripts.items()):
        installed = path.removeprefix(SCRIPTS_PREFIX)
        digest = hashlib.sha256(content.encode()).hexdigest()
        where = [n for n in nodes if facts[n].script_hashes.get(installed) != digest]
        if where:
            stale[installed] = where
    return stale


def monitor_changes(spec: JobCenterSiteSpec, current: str, desired: str) -> bool:
    """Whether the site's monitor element differs (added, changed or removed) between the two."""
    return _element_text(current, "monitor", spec.monitor_resource) != _element_text(
        desired, "monitor", spec.monitor_resource)


def classify(spec: JobCenterSiteSpec, current: str, desired: str, stale: Mapping[str, list[str]]) -> tuple[bool, bool]:
    """(monitor touched, group touched) by going from ``current`` to ``desired`` with ``stale`` scripts."""
    monitor = monitor_changes(spec, current, desired) or any(p.startswith("monitor.s/") for p in stale)
    group = _element_text(current, "resource", spec.exec_resource, "exec") != _element_text(
        desired, "resource", spec.exec_resource, "exec") or any(not p.startswith("monitor.s/") for p in stale)
    return monitor, group


def apply_actions(group: str, node: str, nodes: Sequence[str], facts: Mapping[str, NodeFacts], change: ConfigChange,
                  *, planned_from: str, group_online: bool, restart_group: bool, reason: str) -> list[Action]:
    """The documented sequence for ``change`` on ``node`` (where ``group`` is, or was, online).

    ``group_online``: the group runs now (it is stopped first when the change needs it, or when
    ``restart_group``, with the stop marker on every other node first and cleared after the start);
    otherwise an interrupted run left it stopped and it is started at the end. ``planned_from``: the
    clp.conf the plan was made from (the push refuses to overwrite an edit made since).
    """
    stop = group_online and (change.group or restart_group)
    suspend = suspend_actions(group, node, nodes, reason) if change.monitor else []
    # With the group stopped too, every other node's markers are written before the stop and removed
    # after the start: the stop, the suspend, the push, the resume and the start then follow each other
    # on ``node`` (one round trip: reconcile.round_trip), the markers on the others in one each.
    early = [a for a in suspend if a.kind == "MarkSuspended"] if stop else []
    actions: list[Action] = []
    if stop:
        actions += [*mark_stopped(nodes, group, node, reason), *early, stop_group(group, node, reason)]
    actions += [a for a in suspend if a not in early]
    actions.append(Action(kind="ApplyClusterConfig", node=node, reason="ClusterConfigDiffers",
                          message="push exec scripts and monitor settings; differs: " + "; ".join(change.differs),
                          command=commands.apply_config(group, change.conf, change.scripts, planned_from,
                                                        change.encoding)))
    # Same reason as the suspend: the gate holds or runs both (a recovery's are never held).
    resume = resume_actions(group, node, nodes, facts, reason) if change.monitor else []
    late = [a for a in resume if a.kind == "ClearSuspendMarker"] if stop else []
    actions += [a for a in resume if a not in late]
    if not change.monitor and change.conf != planned_from:
        # clp.conf changed without a monitor (the exec resource's element): nothing to suspend for,
        # but the manager services still load the new file (a WebUI save from a stale WebManager
        # would write the old one back). Alone, as the retry of a failed restart runs.
        actions.append(restart_manager(group, node, nodes, facts, reason))
    if stop or not group_online:
        actions.append(Action(kind="StartGroup", node=node, reason=reason if stop else "ResumeAfterInterruption",
                              message=f"start {group} on {node}, where it was online",
                              command=commands.start_group(group)))
    if stop:
        actions += [*late, *clear_markers([n for n in nodes if n != node], group, reason)]
    return actions


def mark_stopped(nodes: Sequence[str], group: str, stopping: str, reason: str) -> list[Action]:
    """The stop marker (naming ``stopping``) on every other node, before the stop: should the
    operator die and ``stopping`` be lost with it, any surviving node can finish the run."""
    return [Action(kind="MarkGroupStopped", node=n, reason=reason,
                   message=f"note on {n} that the operator stops {group} on {stopping}",
                   command=commands.mark_group_stopped(group, stopping)) for n in nodes if n != stopping]


def clear_markers(nodes: Sequence[str], group: str, reason: str) -> list[Action]:
    return [Action(kind="ClearStopMarker", node=n, reason=reason, message=f"remove the stop marker of {group}",
                   command=commands.clear_stop_marker(group)) for n in nodes]


def stop_group(group: str, node: str, reason: str) -> Action:
    """Stop ``group`` on ``node``; should a later action fail, it is started there again."""
    restore = Action(kind="StartGroup", node=node, reason="RestoreAfterFailure",
                     message=f"start {group} again after a failed step", command=commands.start_group(group))
    return Action(kind="StopGroup", node=node, reason=reason, message=f"stop {group} on {node}",
                  command=commands.stop_group(group, node), restore=restore)


def suspend_actions(group: str, node: str, nodes: Sequence[str], reason: str) -> list[Action]:
    """The marker on every other node, then suspend on ``node`` (which writes its own marker)."""
    actions = []
    for other in (n for n in nodes if n != node):
        clear = Action(kind="ClearSuspendMarker", node=other, reason="RestoreAfterFailure",
                       message="remove the suspend marker after a failed step",
                       command=suspend_commands.clear_suspend_marker(group))
        actions.append(Action(kind="MarkSuspended", node=other, reason=reason,
                              message=f"record that {node} suspends the cluster for {group}",
                              command=suspend_commands.mark_suspended(group, node), restore=clear))
    actions.append(Action(kind="SuspendCluster", node=node, reason=reason,
                          message="suspend the cluster: a monitor is added or changed",
                          command=suspend_commands.suspend_cluster(group, node), restore=_resume(group, node)))
    return actions


def restart_manager(group: str, node: str, nodes: Sequence[str], facts: Mapping[str, NodeFacts], reason: str,
                    resume_on: str | None = None) -> Action:
    """``clpcl -r -a`` on ``node``: the manager services of every server load the pushed configuration
    (NEC restarts them on every server after a push: node-protocol 5.3, 8, 10), with the options of the
    services every node has installed. ``resume_on``: the cluster is suspended from there; should the
    restart fail, it is resumed (the restore), and ``node``'s marker makes a later run restart again."""
    units = frozenset.intersection(*(facts[n].manager.units for n in nodes)) if nodes else frozenset()
    return Action(kind="RestartManagerServices", node=node, reason=reason,
                  message="restart the manager services on every server so they load the pushed configuration",
                  command=suspend_commands.restart_manager_services(group, units),
                  restore=_resume(group, resume_on) if resume_on is not None else None)


def _resume(group: str, node: str) -> Action:
    return Action(kind="ResumeCluster", node=node, reason="RestoreAfterFailure",
                  message="resume the cluster after a failed step", command=suspend_commands.resume_cluster(group))


def resume_actions(group: str, node: str, nodes: Sequence[str], facts: Mapping[str, NodeFacts], reason: str,
                   markers: Sequence[str] | None = None) -> list[Action]:
    """Restart the manager services (of every node, from ``node``), resume on ``node`` (which removes its marker),
    then remove the marker from ``markers`` (default: ``nodes``)."""
    actions = [restart_manager(group, node, nodes, facts, reason, resume_on=node)]
    actions.append(Action(kind="ResumeCluster", node=node, reason=reason, message="resume the cluster",
                          command=suspend_commands.resume_cluster(group)))
    actions += [Action(kind="ClearSuspendMarker", node=other, reason=reason,
                       message=f"remove the suspend marker of {group}",
                       command=suspend_commands.clear_suspend_marker(group))
                for other in (nodes if markers is None else markers) if other != node]
    return actions


def restart_pending(group: str, nodes: Sequence[str], facts: Mapping[str, NodeFacts],
                    planned: Sequence[Action]) -> list[Action]:
    """The manager services again, from a node whose earlier restart failed (its marker is there),
    unless the plan restarts them anyway. Not with the cluster suspended: the resume that follows
    does it."""
    if any(facts[n].cluster.suspended for n in nodes) or any(a.kind == "RestartManagerServices" for a in planned):
        return []
    return [restart_manager(group, n, nodes, facts, "ManagerRestartPending").model_copy(update={
        "message": "restart the manager services: an earlier restart after a push failed"})
        for n in nodes if facts[n].manager.restart_pending]


def recover_suspend(group: str, nodes: Sequence[str], facts: Mapping[str, NodeFacts],
                    active: str | None) -> list[Action]:
    """A run killed while it had the cluster suspended: restart the manager services (whether its push
    happened is not known; a restart costs nothing), resume it (never blocked by a preflight check
    nor by the disruption gate), then clear the markers. Markers of a cluster that is not suspended
    are left to ``clear_stale_markers``."""
    marked = [n for n in nodes if facts[n].suspended_by_operator is not None]
    suspended = [n for n in nodes if facts[n].cluster.suspended]
    if not marked or not suspended:
        return []
    where = active if active in suspended else suspended[0]
    return resume_actions(group, where, nodes, facts, "ResumeAfterInterruption", markers=marked)


def clear_stale_markers(group: str, nodes: Sequence[str], facts: Mapping[str, NodeFacts],
                        planned: Sequence[Action]) -> list[Action]:
    """Suspend markers of a cluster that is not suspended (a run killed between marking and
    suspending, or a suspend still waiting for a window), unless the plan marks that node again:
    left behind, they would make a later suspend by someone else look like ours."""
    if any(facts[n].cluster.suspended for n in nodes):
        return []
    marking = {a.node for a in planned if a.kind in ("MarkSuspended", "SuspendCluster")}
    return [Action(kind="ClearSuspendMarker", node=n, reason="ResumeAfterInterruption",
                   message=f"the cluster is not suspended: remove the suspend marker of {group}",
                   command=suspend_commands.clear_suspend_marker(group))
            for n in nodes if facts[n].suspended_by_operator is not None and n not in marking]
