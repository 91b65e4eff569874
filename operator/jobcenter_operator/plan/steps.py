"""The vendor guide's steps as pure checks: each looks at the facts and yields the actions needed.

Pure module. Order (guide chapters 2.3-2.6 and 3): local_daemon in daemon.conf and nqsstop on
every node (standby nodes first), cjcmksite on the active node only and only when
``<databasePath>/nqs`` is absent, then the exec scripts and monitor: stop the group, push the
configuration, start the group on the node that held it; finally start the local site again when
``localDaemon: Site``. For the agent: disable the unit at boot, then the same configuration steps.
An empty list means the nodes already match the spec.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Literal

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from ..render import clp_conf, daemon_conf, scripts
from .model import Action

SCRIPTS_PREFIX = "scripts/"


def _ordered(nodes: Sequence[str], active: str) -> list[str]:
    """Standby nodes first, the active node last: a mistake shows on a node not serving jobs."""
    return [n for n in nodes if n != active] + [active]


def _local_site_running(f: NodeFacts) -> bool:
    return bool(f.processes.outside_sites())


def config_changes(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], active: str
) -> tuple[str, dict[str, str], list[str]] | None:
    """(new clp.conf, scripts, what differs) when the cluster configuration must be pushed, else None."""
    current = facts[active].clp_conf.text
    desired_conf = clp_conf.configure_site(current, spec)
    desired_scripts = scripts.scripts_for(spec)
    differs: list[str] = []
    if desired_conf != current:
        differs.append("clp.conf")
    for path, content in sorted(desired_scripts.items()):
        installed = path.removeprefix(SCRIPTS_PREFIX)
        digest = hashlib.sha256(content.encode()).hexdigest()
        stale = [n for n in nodes if facts[n].script_hashes.get(installed) != digest]
        if stale:
            differs.append(f"{installed} on {', '.join(stale)}")
    if not differs:
        return None
    return desired_conf, desired_scripts, differs


def site_steps(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], active: str
) -> list[Action]:
    """Classic and StandardManager."""
    assert spec.virtual_host is not None and spec.machine_id is not None
    actions: list[Action] = []
    wanted: Literal["SITE", "OFF"] = "SITE" if spec.local_daemon == "Site" else "OFF"
    local_stopped: set[str] = set()

    for name in _ordered(nodes, active):
        conf = facts[name].daemon_conf
        if conf.local_daemon != wanted:
            actions.append(Action(
                kind="SetLocalDaemon", node=name, reason="LocalDaemonNotSet",
                message=f"set local_daemon={wanted} in /usr/lib/nqs/rc/daemon.conf "
                f"(now {conf.local_daemon or 'unset'})",
                daemon_conf=daemon_conf.set_local_daemon(conf.text, wanted),
            ))
            if _local_site_running(facts[name]):
                # The running local daemon still has the old setting; the guide stops it here.
                actions.append(Action(kind="StopLocalSite", node=name, reason="LocalDaemonChanged",
                                      message="stop the local site so the new local_daemon takes effect"))
                local_stopped.add(name)

    site_created = False
    if not facts[active].site.present:
        if _local_site_running(facts[active]) and active not in local_stopped:
            actions.append(Action(kind="StopLocalSite", node=active, reason="LocalSiteBlocksCreate",
                                  message="cjcmksite needs the local daemon stopped"))
            local_stopped.add(active)
        actions.append(Action(
            kind="CreateSite", node=active, reason="SiteMissing", disruptive=True,
            message=f"cjcmksite {spec.virtual_host} {spec.machine_id} {spec.database_path}",
        ))
        site_created = True

    actions += _config_actions(spec, nodes, facts, active, restart_anyway=site_created)

    for name in _ordered(nodes, active):
        running = _local_site_running(facts[name]) and name not in local_stopped
        if wanted == "SITE" and not running:
            actions.append(Action(kind="StartLocalSite", node=name, reason="LocalSiteNotRunning",
                                  message="start the local site (local_daemon=SITE)"))
        elif wanted == "OFF" and running:
            actions.append(Action(kind="StopLocalSite", node=name, reason="LocalSiteRunningWhileOff",
                                  message="stop the local site (local_daemon=OFF)"))
    return actions


def agent_steps(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], active: str
) -> list[Action]:
    """StandardAgent: CLUSTERPRO alone starts the unit, so systemd must not start it at boot."""
    assert spec.agent is not None
    unit = scripts.agent_unit(spec.agent.instance_id)
    actions = [
        Action(kind="DisableAgentUnit", node=name, reason="AgentUnitEnabledAtBoot",
               message=f"systemctl disable {unit} (CLUSTERPRO starts it)")
        for name in _ordered(nodes, active)
        if facts[name].agent.unit_enabled not in ("disabled", None)
    ]
    return actions + _config_actions(spec, nodes, facts, active, restart_anyway=False)


def _config_actions(
    spec: JobCenterSiteSpec,
    nodes: Sequence[str],
    facts: Mapping[str, NodeFacts],
    active: str,
    *,
    restart_anyway: bool,
) -> list[Action]:
    change = config_changes(spec, nodes, facts, active)
    if change is None and not restart_anyway:
        return []
    group = spec.failover_group
    actions = [Action(kind="StopGroup", node=active, reason="ClusterConfigChange" if change else "SiteCreated",
                      disruptive=True, message=f"clpgrp -t {group}")]
    if change is not None:
        conf, files, differs = change
        actions.append(Action(kind="ApplyClusterConfig", node=active, reason="ClusterConfigDiffers",
                              message="push exec scripts and monitor settings; differs: " + "; ".join(differs),
                              clp_conf=conf, scripts=files))
    actions.append(Action(kind="StartGroup", node=active, reason="ClusterConfigChange" if change else "SiteCreated",
                          disruptive=True, message=f"clpgrp -s {group} on {active}, where it was online"))
    return actions


def resume_steps(
    spec: JobCenterSiteSpec, nodes: Sequence[str], facts: Mapping[str, NodeFacts], node: str
) -> list[Action]:
    """A run that stopped the group was interrupted (the operator died): finish it on ``node``.

    Only what was left: push the configuration if it is not there yet, then start the group where
    it was, so the site gets exactly one restart however the interruption fell.
    """
    actions = []
    change = config_changes(spec, nodes, facts, node)
    if change is not None:
        conf, files, differs = change
        actions.append(Action(kind="ApplyClusterConfig", node=node, reason="ClusterConfigDiffers",
                              message="push exec scripts and monitor settings; differs: " + "; ".join(differs),
                              clp_conf=conf, scripts=files))
    actions.append(Action(kind="StartGroup", node=node, reason="ResumeAfterInterruption", disruptive=True,
                          message=f"clpgrp -s {spec.failover_group} on {node}: an interrupted run stopped it"))
    return actions
