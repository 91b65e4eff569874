"""The facts probe of one node: one argv, one parser. Pure: the node layer runs the argv.

``probe_argv`` builds ``sh -c SCRIPT jcop-facts NONCE ARG...``; ``parse_probe`` turns its stdout
into ``NodeFacts``. The nonce frames the sections (see ``sections``); callers pass a random one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from . import agent, clusterpro, jobcenter, manager, network, processes
from .clusterpro import ClpConf
from .model import NodeFacts
from .sections import build_script, split_output

SECTIONS = (
    jobcenter.JC_INSTALL,
    jobcenter.DAEMON_CONF,
    jobcenter.SITE_CONF,
    processes.PS,
    processes.SITE_CWD,
    clusterpro.CLPSTAT_SECTION,
    clusterpro.GROUP_NODE,
    clusterpro.CLP_CONF_SECTION,
    clusterpro.STOP_MARKER,
    clusterpro.SUSPEND_MARKER,
    clusterpro.SCRIPT_HASHES,
    clusterpro.BACKUP_CONF,
    manager.MANAGER_SERVICES,
    network.IP_ADDR,
    network.MOUNTS,
    network.RESOLVE_FORWARD,
    network.RESOLVE_REVERSE,
    agent.AGENT_LIST,
    agent.AGENT_UNIT,
)
_NAMES = tuple(s.name for s in SECTIONS)


def _parameter(sh_name: str, *, compare: bool = True) -> str:
    """A field of ProbeTarget that is the script's parameter ``$sh_name`` (metadata says which).
    ``compare=False``: not part of what the probe looks at (shared_facts compares targets)."""
    return field(default="", compare=compare, metadata={"sh": sh_name})


@dataclass(frozen=True)
class ProbeTarget:
    """What to look at on the node. Empty strings mean "not asked" (the section reports 3).

    The one declaration of the script's parameters: each field is passed in field order and
    bound to the sh variable its metadata names (``build_script`` writes the assignments).
    """

    database_path: str = _parameter("dbpath")
    virtual_host: str = _parameter("vhost")
    floating_ip: str = _parameter("fip")
    failover_group: str = _parameter("group")
    exec_resource: str = _parameter("exec_rsc")
    monitor_resource: str = _parameter("monitor")
    agent_instance_id: str = _parameter("agent_id")
    # sha256 of the node's clp.conf as this operator last read it: the probe sends the file only if it
    # differs (parse_probe's ``known``). How the answer travels, not what is asked: not compared.
    clp_conf_sha256: str = _parameter("clp_sha", compare=False)
    backup: str = _parameter("backup")  # non-empty: read the group's pre-operator backup of clp.conf

    def values(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


PARAMETERS = tuple(f.metadata["sh"] for f in fields(ProbeTarget))
SCRIPT = build_script(SECTIONS, PARAMETERS)


def probe_argv(target: ProbeTarget, nonce: str) -> list[str]:
    if not nonce.isalnum():
        raise ValueError("nonce must be alphanumeric")
    return ["sh", "-c", SCRIPT, "jcop-facts", nonce, *target.values()]


def is_probe_argv(argv: tuple[str, ...]) -> bool:
    """``argv`` is the facts probe (``probe_argv``): read-only, its answer is its stdout, so the node
    pool may send it to the connection's resident shell (node.pool, ``resident``)."""
    return len(argv) == 5 + len(PARAMETERS) and argv[3] == "jcop-facts" and argv[:3] == ("sh", "-c", SCRIPT)


def parse_probe(node: str, stdout: str, nonce: str, known_clp_conf: ClpConf | None = None) -> NodeFacts:
    """``known_clp_conf``: the copy of the node's clp.conf whose digest the probe was sent
    (``ProbeTarget.clp_conf_sha256``); the facts carry it when the node says it is unchanged."""
    out = split_output(stdout, nonce, _NAMES)
    errors: dict[str, str] = {}

    # No agent (or not asked): nothing unreadable. Otherwise: did the table have its header?
    listed = out["jcagctrl"].exit_status != 0 or agent.jcagctrl_readable(out["jcagctrl"])
    try:
        installed, instances = agent.parse_jcagctrl(out["jcagctrl"])
    except ValueError as exc:
        # An odd table is reported, not fatal: the agent is there, its rows are unreadable.
        errors["jcagctrl"] = str(exc)
        installed, instances, listed = True, (), False
    unit_active, unit_enabled = agent.parse_agent_unit(out["agent_unit"])
    return NodeFacts(
        node=node,
        jobcenter=jobcenter.parse_install(out["jc_install"]),
        daemon_conf=jobcenter.parse_daemon_conf(out["daemon_conf"]),
        site=jobcenter.parse_site_conf(out["site_conf"]),
        processes=processes.parse_ps(out["ps"]).model_copy(
            update={"in_database": processes.parse_site_cwd(out["site_cwd"])}),
        cluster=clusterpro.parse_clpstat(out["clpstat"]),
        group_node=clusterpro.parse_clpgrp(out["clpgrp"]),
        stopped_by_operator=clusterpro.parse_stop_marker(out["stop_marker"]),
        suspended_by_operator=clusterpro.parse_suspend_marker(out["suspend_marker"]),
        clp_conf=clusterpro.parse_clp_conf(out["clp_conf"], known_clp_conf),
        script_hashes=clusterpro.parse_script_hashes(out["script_hashes"]),
        managed_scripts=clusterpro.parse_managed_scripts(out["script_hashes"]),
        backup_clp_conf=clusterpro.parse_backup_conf(out["backup_conf"]),
        manager=manager.parse_manager_services(out["manager_services"]),
        addresses=network.parse_ip_addr(out["ip_addr"]),
        mounts=network.parse_mounts(out["mounts"]),
        resolution=network.parse_resolution(out["resolve_forward"], out["resolve_reverse"]),
        agent=agent.AgentFacts(
            installed=installed, instances=instances, listed=listed, unit_active=unit_active,
            unit_enabled=unit_enabled
        ),
        errors=errors,
    )
