"""The vendor guide's steps as pure checks: each looks at the facts and yields its findings and
the actions needed.

Pure module. Each step is a named function of the ``Context`` and the actions planned before it
(a later step sees, say, that the local site is already being stopped). Order (guide chapters
2.3-2.6 and 3): local_daemon in daemon.conf and nqsstop on every node (standby nodes first),
cjcmksite on the active node only and only when ``<databasePath>/nqs`` is absent, then the exec
scripts and monitor, applied as plan/apply_sequence.py chooses (suspend/resume for a monitor,
stop/start of the group for its exec resource and scripts); finally start the local site again
when ``localDaemon: Site``. For the agent: disable the unit at boot, then the same configuration
steps. Without an active node a step reports its findings and plans nothing. No action means the
nodes already match the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from ..paths import LOCAL_DAEMON_CONF, agent_unit
from ..render import clp_conf, daemon_conf, scripts
from . import apply_sequence, commands
from .apply_sequence import ConfigChange, clear_markers, mark_stopped, stop_group
from .model import Action, Context, Finding


@dataclass(frozen=True)
class Outcome:
    """What one step found and the actions it needs."""

    findings: tuple[Finding, ...] = ()
    actions: tuple[Action, ...] = ()


Step = Callable[[Context, tuple[Action, ...]], Outcome]


def _ordered(nodes: Sequence[str], active: str) -> list[str]:
    """Standby nodes first, the active node last: a mistake shows on a node not serving jobs."""
    return [n for n in nodes if n != active] + [active]


def _local_site_running(f: NodeFacts) -> bool:
    return bool(f.processes.outside_sites())


def _stopped_local(planned: tuple[Action, ...]) -> set[str]:
    return {a.node for a in planned if a.kind == "StopLocalSite"}


def config_changes(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], active: str
) -> ConfigChange | None:
    """The configuration to push (and what it touches) when the cluster's differs from the spec, else None.

    Only what the operator owns is compared (clp_conf.configure_site leaves every other byte as it
    is): ``<trekking>`` and the object counter a Cluster WebUI save rewrites are never drift.
    """
    current = facts[active].clp_conf
    desired_conf = clp_conf.configured(current.text, spec, current.sha256 if current.config is not None else None)
    desired_scripts = scripts.scripts_for(spec)
    stale = apply_sequence.stale_scripts(spec, nodes, facts, desired_scripts)
    differs = (["clp.conf"] if desired_conf != current.text else []) + [
        f"{path} on {', '.join(where)}" for path, where in stale.items()]
    if not differs:
        return None
    monitor, group = apply_sequence.classify(spec, current.text, desired_conf, stale)
    return ConfigChange(conf=desired_conf, encoding=current.encoding, scripts=desired_scripts, differs=tuple(differs),
                        monitor=monitor, group=group)


def local_daemon(ctx: Context, planned: tuple[Action, ...]) -> Outcome:
    """local_daemon in daemon.conf on every node; a running local site is stopped to take it."""
    wanted = daemon_conf.local_daemon_value(ctx.spec.local_daemon)
    wrong = [n for n in ctx.nodes if ctx.facts[n].daemon_conf.local_daemon != wanted]
    finding = (
        Finding(condition="DaemonConfigured", status="False", reason="LocalDaemonNotSet",
                message=f"local_daemon is not {wanted} on {', '.join(sorted(wrong))}") if wrong
        else Finding(condition="DaemonConfigured", status="True", reason="Configured",
                     message=f"local_daemon={wanted} on every node")
    )
    if ctx.active is None:
        return Outcome((finding,))
    actions: list[Action] = []
    for name in _ordered(ctx.nodes, ctx.active):
        conf = ctx.facts[name].daemon_conf
        if name not in wrong:
            continue
        actions.append(Action(
            kind="SetLocalDaemon", node=name, reason="LocalDaemonNotSet",
            message=f"set local_daemon={wanted} in {LOCAL_DAEMON_CONF} (now {conf.local_daemon or 'unset'})",
            command=commands.set_local_daemon(daemon_conf.set_local_daemon(conf.text, wanted)),
        ))
        if _local_site_running(ctx.facts[name]):
            # The running local daemon still has the old setting; the guide stops it here.
            actions.append(Action(kind="StopLocalSite", node=name, reason="LocalDaemonChanged",
                                  message="stop the local site so the new local_daemon takes effect",
                                  command=commands.stop_local_site()))
    return Outcome((finding,), tuple(actions))


def cluster_site(ctx: Context, planned: tuple[Action, ...]) -> Outcome:
    """cjcmksite on the active node, only where ``<databasePath>/nqs`` is absent (never re-created)."""
    spec, active = ctx.spec, ctx.active
    assert spec.virtual_host is not None and spec.machine_id is not None
    if active is not None and ctx.facts[active].site.present:
        return Outcome((Finding(condition="SiteCreated", status="True", reason="Present",
                                message=f"{spec.database_path}/nqs exists"),))
    finding = Finding(condition="SiteCreated", status="False", reason="SiteMissing",
                      message=f"no site at {spec.database_path}/nqs")
    if active is None:
        return Outcome((finding,))
    actions = []
    if _local_site_running(ctx.facts[active]) and active not in _stopped_local(planned):
        actions.append(Action(kind="StopLocalSite", node=active, reason="LocalSiteBlocksCreate",
                              message="cjcmksite needs the local daemon stopped", command=commands.stop_local_site()))
    actions.append(Action(
        kind="CreateSite", node=active, reason="SiteMissing",
        message=f"create the site of {spec.virtual_host} (machine ID {spec.machine_id}) at {spec.database_path}/nqs",
        command=commands.create_site(spec.virtual_host, spec.machine_id, spec.database_path, spec.failover_group,
                                     active),
    ))
    return Outcome((finding,), tuple(actions))


def cluster_resources(ctx: Context, planned: tuple[Action, ...]) -> Outcome:
    """The exec scripts and monitor in clp.conf and on every node, pushed in the sequence the change
    needs (apply_sequence). A site just created also needs the group restarted (its exec starts it)."""
    spec, active = ctx.spec, ctx.active
    if active is None:
        return Outcome()
    change = config_changes(spec, ctx.nodes, ctx.facts, active)
    finding = (
        Finding(condition="ClusterResourcesConfigured", status="False", reason="ConfigPushRequired",
                message="differs: " + "; ".join(change.differs)) if change
        else Finding(condition="ClusterResourcesConfigured", status="True", reason="Applied",
                     message="exec scripts and monitor match the spec")
    )
    created = any(a.kind == "CreateSite" for a in planned)
    if change is None and not created:
        return Outcome((finding,))
    group = spec.failover_group
    if change is None:
        # A site just created: its exec starts the site, so the group is restarted.
        reason = "SiteCreated"
        return Outcome((finding,), (
            *mark_stopped(ctx.nodes, group, active, reason), stop_group(group, active, reason),
            Action(kind="StartGroup", node=active, reason=reason,
                   message=f"start {group} on {active}, where it was online", command=commands.start_group(group)),
            *clear_markers([n for n in ctx.nodes if n != active], group, reason)))
    return Outcome((finding,), tuple(apply_sequence.apply_actions(
        group, active, ctx.nodes, ctx.facts, change, planned_from=ctx.facts[active].clp_conf.text, group_online=True,
        restart_group=created, reason="ClusterConfigChange")))


def local_site(ctx: Context, planned: tuple[Action, ...]) -> Outcome:
    """The local site runs on every node with local_daemon=SITE, on none with OFF."""
    if ctx.active is None:
        return Outcome()
    wanted = daemon_conf.local_daemon_value(ctx.spec.local_daemon)
    stopped = _stopped_local(planned)
    actions = []
    for name in _ordered(ctx.nodes, ctx.active):
        running = _local_site_running(ctx.facts[name]) and name not in stopped
        if wanted == "SITE" and not running:
            actions.append(Action(kind="StartLocalSite", node=name, reason="LocalSiteNotRunning",
                                  message="start the local site (local_daemon=SITE)",
                                  command=commands.start_local_site()))
        elif wanted == "OFF" and running:
            actions.append(Action(kind="StopLocalSite", node=name, reason="LocalSiteRunningWhileOff",
                                  message="stop the local site (local_daemon=OFF)", command=commands.stop_local_site()))
    return Outcome(actions=tuple(actions))


def agent_unit_at_boot(ctx: Context, planned: tuple[Action, ...]) -> Outcome:
    """StandardAgent: CLUSTERPRO alone starts the unit, so systemd must not start it at boot."""
    agent = ctx.spec.agent
    assert agent is not None
    findings = (
        Finding(condition="DaemonConfigured", status="True", reason="NotApplicable",
                message="the agent has no daemon.conf step"),
        Finding(condition="SiteCreated", status="True", reason="NotApplicable",
                message="the agent instance is created outside the operator"),
    )
    if ctx.active is None:
        return Outcome(findings)
    unit = agent_unit(agent.instance_id)
    return Outcome(findings, tuple(
        Action(kind="DisableAgentUnit", node=name, reason="AgentUnitEnabledAtBoot",
               message=f"keep {unit} from starting at boot (CLUSTERPRO starts it)",
               command=commands.disable_agent_unit(agent.instance_id))
        for name in _ordered(ctx.nodes, ctx.active)
        if ctx.facts[name].agent.unit_enabled not in ("disabled", None)
    ))


def stale_stop_markers(ctx: Context, planned: tuple[Action, ...]) -> Outcome:
    """The group is online and this plan does not stop it: a stop marker left anywhere (a run
    interrupted before its stop, a restart on another node, a node back from a crash) is removed,
    so a later stop by an administrator is never mistaken for ours."""
    if ctx.active is None or any(a.kind == "StopGroup" for a in planned):
        return Outcome()
    marked = [n for n in ctx.nodes if ctx.facts[n].stopped_by_operator is not None]
    return Outcome(actions=tuple(clear_markers(marked, ctx.spec.failover_group, "StaleStopMarker")))


SITE_STEPS: tuple[Step, ...] = (local_daemon, cluster_site, cluster_resources, local_site, stale_stop_markers)
AGENT_STEPS: tuple[Step, ...] = (agent_unit_at_boot, cluster_resources, stale_stop_markers)


def resume_steps(ctx: Context) -> list[Action]:
    """A run that stopped the group was interrupted (the operator died): finish it on the node
    its stop marker names, if any.

    Only what was left: push the configuration if it is not there yet, then start the group where
    it was, so the site gets exactly one restart however the interruption fell.
    """
    node = next((f.stopped_by_operator for f in ctx.facts.values() if f.stopped_by_operator in ctx.nodes), None)
    if node is None:
        return []
    group = ctx.spec.failover_group
    change = config_changes(ctx.spec, ctx.nodes, ctx.facts, node)
    if change is not None:
        actions = apply_sequence.apply_actions(
            group, node, ctx.nodes, ctx.facts, change, planned_from=ctx.facts[node].clp_conf.text, group_online=False,
            restart_group=False, reason="ResumeAfterInterruption")
    else:
        actions = [resume_start(group, node)]
    marked = [n for n in ctx.nodes if n != node and ctx.facts[n].stopped_by_operator is not None]
    return actions + clear_markers(marked, group, "ResumeAfterInterruption")


def resume_start(group: str, node: str) -> Action:
    return Action(kind="StartGroup", node=node, reason="ResumeAfterInterruption",
                  message=f"start {group} on {node}: an interrupted run stopped it",
                  command=commands.start_group(group))
