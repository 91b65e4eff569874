"""Builders of NodeFacts for plan tests: a two-node cluster in the vendor guide's start state,
plus a pure model of what each action does to the facts (to test idempotency: apply, re-plan)."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from typing import Any

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.facts import NodeFacts
from jobcenter_operator.facts.agent import AgentFacts, AgentInstanceRow
from jobcenter_operator.facts.clusterpro import ClusterStatus, GroupState
from jobcenter_operator.facts.clusterpro import clp_conf as read_clp_conf
from jobcenter_operator.facts.jobcenter import ClusterSite, DaemonConf, JobCenterInstall
from jobcenter_operator.facts.network import Resolution
from jobcenter_operator.facts.processes import (
    CLASSIC_SITE,
    STANDARD_MANAGER_SITE,
    Process,
    ProcessTable,
)
from jobcenter_operator.paths import CJCPW, MANAGED_BY
from jobcenter_operator.plan.model import Action

NODES = ("clu1", "clu2")
ADDRESSES = {"clu1": "10.200.1.11", "clu2": "10.200.1.12"}
DEFAULT_DAEMON_CONF = "#\n# local_daemon\n# --------------------\n# sample\n# local_daemon=SITE\n#\n"

CLASSIC = JobCenterSiteSpec.model_validate(
    {
        "clusterRef": {"name": "jc-cluster"},
        "mode": "Classic",
        "failoverGroup": "failover-jc",
        "execResource": "exec-jc",
        "monitorResource": "pidw-jc",
        "virtualHost": "cluv",
        "machineId": 114,
        "databasePath": "/mnt/sdb2",
        "floatingIP": "10.200.1.100",
    }
)
MANAGER = CLASSIC.model_copy(update={"mode": "StandardManager"})
AGENT = JobCenterSiteSpec.model_validate(
    {
        "clusterRef": {"name": "jc-cluster"},
        "mode": "StandardAgent",
        "failoverGroup": "failover-jc",
        "execResource": "exec-jc",
        "monitorResource": "genw-jc",
        "databasePath": "/mnt/sdb2",
        "agent": {"instanceId": "1", "instanceName": "clusterinstance", "agentName": "jcagcluster"},
    }
)


def clp_conf(*, fip: str | None = "10.200.1.100", mount: str = "/mnt/sdb2", exec_name: str = "exec-jc",
             group: str = "failover-jc") -> str:
    fip_member = '    <resource name="fip@fip-jc"/>\n' if fip else ""
    fip_body = f'    <fip name="fip-jc"><comment/><parameters><ip>{fip}</ip></parameters></fip>\n' if fip else ""
    return f"""<?xml version="1.0" encoding="ASCII"?>
<root>
  <all><charset>ASCII</charset><serveros>linux</serveros><encode>ASCII</encode></all>
  <cluster><name>cluster</name><comment/></cluster>
  <server name="clu1"><priority>0</priority><device id="0"><type>lan</type><info>10.200.1.11</info></device></server>
  <server name="clu2"><priority>1</priority><device id="0"><type>lan</type><info>10.200.1.12</info></device></server>
  <group name="{group}">
    <comment/><gid>0</gid>
{fip_member}    <resource name="disk@disk-jc"/>
    <resource name="exec@{exec_name}"/>
  </group>
  <resource>
    <types name="fip"/><types name="disk"/><types name="exec"/>
{fip_body}    <disk name="disk-jc"><comment/><parameters><disktype>disk</disktype><device>/dev/sdb2</device>
      <fs>ext4</fs><mount><point>{mount}</point></mount></parameters></disk>
    <exec name="{exec_name}"><comment/><parameters><act><path>start.sh</path></act>
      <deact><path>stop.sh</path></deact></parameters><depend name="disk-jc"/></exec>
  </resource>
  <monitor>
    <types name="userw"/>
    <userw name="userw"><comment/><relation><type>cls</type><name>LocalServer</name></relation></userw>
  </monitor>
</root>
"""


def _local_site(start_pid: int, standard: bool) -> list[Process]:
    names = STANDARD_MANAGER_SITE if standard else CLASSIC_SITE
    procs = []
    pid = start_pid
    for name, count in sorted(names.items()):
        for _ in range(count):
            args = "NQS nqsdaemon" if name == "nqsdaemon" else f"/usr/lib/nqs/{name}"
            procs.append(Process(pid=pid, ppid=1, args=args))
            pid += 1
    return procs


def site_tree(spec: JobCenterSiteSpec, start_pid: int = 500) -> list[Process]:
    names = STANDARD_MANAGER_SITE if spec.mode == "StandardManager" else CLASSIC_SITE
    cjcpw = start_pid
    procs = [
        Process(pid=cjcpw - 1, ppid=1, args="/bin/sh start.sh"),
        Process(pid=cjcpw, ppid=cjcpw - 1, args=f"{CJCPW} {spec.virtual_host} {spec.database_path}"),
    ]
    pid = cjcpw + 1
    for name, count in sorted(names.items()):
        for _ in range(count):
            args = "NQS nqsdaemon" if name == "nqsdaemon" else f"/usr/lib/nqs/{name}"
            procs.append(Process(pid=pid, ppid=cjcpw, args=args))
            pid += 1
    return procs


def node(name: str, *, active: str = "clu1", spec: JobCenterSiteSpec = CLASSIC, **overrides: Any) -> NodeFacts:
    """A node of a fresh cluster: CLUSTERPRO running, group online on ``active``, local site running."""
    is_active = name == active
    standard = spec.mode == "StandardManager"
    agent = spec.mode == "StandardAgent"
    addresses = {ADDRESSES[name], "127.0.0.1"} | ({"10.200.1.100"} if is_active and not agent else set())
    base: dict[str, Any] = {
        "node": name,
        "jobcenter": JobCenterInstall(installed=not agent, version=None if agent else "R16.2",
                                      mode="STANDARD" if standard else ("CLASSIC" if not agent else None),
                                      mode_from=None if agent else "VERSION"),
        "daemon_conf": DaemonConf(present=True, text=DEFAULT_DAEMON_CONF, local_daemon=None),
        "site": ClusterSite(present=False),
        "processes": ProcessTable(processes=tuple([Process(pid=1, ppid=0, args="sshd")]
                                                  + ([] if agent else _local_site(40, standard)))),
        "cluster": ClusterStatus(
            running=True, cluster_name="cluster", local_server=name,
            servers={n: "Online" for n in NODES},
            groups={"failover-jc": GroupState(name="failover-jc", state="Online", current=active)},
        ),
        "group_node": active,
        "clp_conf": read_clp_conf(clp_conf(fip=None if agent else "10.200.1.100")),
        "script_hashes": {},
        "addresses": frozenset(addresses),
        "mounts": frozenset({"/", "/proc"} | ({"/mnt/sdb2"} if is_active else set())),
        "resolution": Resolution(forward=("10.200.1.100",), canonical="cluv", reverse="cluv"),
        "agent": AgentFacts(
            installed=agent,
            instances=(AgentInstanceRow(instance_id="1", name="clusterinstance", agent_name="jcagcluster",
                                        active=False, enable=True),) if agent else (),
            unit_active="inactive" if agent else None,
            unit_enabled="enabled" if agent else None,
        ),
    }
    base.update(overrides)
    return NodeFacts(**base)


def cluster(
    spec: JobCenterSiteSpec = CLASSIC, active: str = "clu1", **per_node: dict[str, Any]
) -> dict[str, NodeFacts]:
    return {n: node(n, active=active, spec=spec, **per_node.get(n, {})) for n in NODES}


def pushed_files(action: Action) -> dict[str, str]:
    """The configuration files an ApplyClusterConfig sends (its stdin: a base64 tar), by path."""
    assert action.kind == "ApplyClusterConfig" and action.command.input is not None
    files = {}
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(action.command.input))) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            assert extracted is not None
            files[member.name] = extracted.read().decode()
    return files


def apply(spec: JobCenterSiteSpec, facts: dict[str, NodeFacts], actions: tuple[Action, ...]) -> dict[str, NodeFacts]:
    """What the nodes would report after the actions ran (a model of the node side, for idempotency)."""
    out = dict(facts)

    def update(name: str, **changes: Any) -> None:
        out[name] = out[name].model_copy(update=changes)

    for a in actions:
        f = out[a.node]
        if a.kind == "SetLocalDaemon":
            text = a.command.input
            assert text is not None
            value = "SITE" if "local_daemon=SITE" in text.replace("# local_daemon=SITE", "") else "OFF"
            update(a.node, daemon_conf=DaemonConf(present=True, text=text, local_daemon=value))
        elif a.kind == "StopLocalSite":
            inside = {p.pid for t in f.processes.sites() for p in t.processes} | {
                t.cjcpw_pid for t in f.processes.sites()}
            keep = [p for p in f.processes.processes if p.ppid != 1 or p.pid in inside or p.args == "sshd"
                    or p.args.startswith("/bin/sh")]
            update(a.node, processes=ProcessTable(processes=tuple(keep)))
        elif a.kind == "StartLocalSite":
            standard = f.jobcenter.mode == "STANDARD"
            update(a.node, processes=ProcessTable(processes=f.processes.processes + tuple(_local_site(40, standard))))
        elif a.kind == "CreateSite":
            update(a.node, site=ClusterSite(present=True, virtual_host=spec.virtual_host, machine_id=spec.machine_id))
        elif a.kind == "ApplyClusterConfig":
            files = pushed_files(a)
            conf = files.pop("clp.conf")
            hashes = {p.removeprefix("scripts/"): hashlib.sha256(c.encode()).hexdigest() for p, c in files.items()}
            managed = frozenset(p.removeprefix("scripts/") for p, c in files.items() if MANAGED_BY in c.splitlines())
            for n in out:
                update(n, clp_conf=read_clp_conf(conf), script_hashes=hashes, managed_scripts=managed)
        elif a.kind == "StartGroup" and spec.mode != "StandardAgent":
            update(a.node, processes=ProcessTable(processes=f.processes.processes + tuple(site_tree(spec))))
        elif a.kind == "StartGroup":
            assert spec.agent is not None
            row = AgentInstanceRow(instance_id=spec.agent.instance_id, name=spec.agent.instance_name,
                                   agent_name=spec.agent.agent_name, active=True, enable=True)
            update(a.node, agent=f.agent.model_copy(update={"instances": (row,), "unit_active": "active"}))
        elif a.kind == "MarkGroupStopped":
            update(a.node, stopped_by_operator=a.command.argv[5])
        elif a.kind == "ClearStopMarker":
            update(a.node, stopped_by_operator=None)
        elif a.kind == "DisableAgentUnit":
            update(a.node, agent=f.agent.model_copy(update={"unit_enabled": "disabled"}))
        elif a.kind in ("SuspendCluster", "ResumeCluster"):
            suspended = a.kind == "SuspendCluster"
            for n in out:
                update(n, cluster=out[n].cluster.model_copy(update={"suspended": suspended}))
            update(a.node, suspended_by_operator=a.node if suspended else None)
        elif a.kind == "RestartManagerServices":
            update(a.node, manager=f.manager.model_copy(update={"restart_pending": False}))
        elif a.kind == "MarkSuspended":
            update(a.node, suspended_by_operator=a.command.argv[-1])
        elif a.kind == "ClearSuspendMarker":
            update(a.node, suspended_by_operator=None)
        elif a.kind == "StopGroup":
            tree = {p.pid for t in f.processes.sites() for p in t.processes} | {
                t.cjcpw_pid for t in f.processes.sites()}
            update(a.node, processes=ProcessTable(processes=tuple(p for p in f.processes.processes
                                                                  if p.pid not in tree)))
    return out
