"""Everything one probe of one node found, as one frozen model.

Pure module. ``NodeFacts`` is what the planner reads; ``gather.parse_probe`` builds it from the
combined script's output. A section whose parse failed is recorded in ``errors`` (section name ->
message) instead of failing the whole probe, so one odd output still yields a clear status.
"""

from __future__ import annotations

from pydantic import Field

from ..frozen import Frozen
from .agent import AgentFacts
from .clusterpro import ClpConf, ClusterStatus
from .jobcenter import ClusterSite, DaemonConf, JobCenterInstall
from .manager import ManagerServices
from .network import Resolution
from .processes import ProcessTable


class NodeFacts(Frozen):
    node: str
    jobcenter: JobCenterInstall
    daemon_conf: DaemonConf
    site: ClusterSite
    processes: ProcessTable
    cluster: ClusterStatus
    group_node: str | None  # clpgrp -n: where the failover group is online, as this node sees it
    stopped_by_operator: str | None = None  # node named by the operator's stop marker (interrupted run)
    suspended_by_operator: str | None = None  # node named by the operator's suspend marker (interrupted run)
    clp_conf: ClpConf
    script_hashes: dict[str, str]
    managed_scripts: frozenset[str] = frozenset()  # installed scripts that are the operator's (any version)
    backup_clp_conf: str | None = None  # clp.conf before the operator's first push (only when asked)
    # CLUSTERPRO's manager services: which version-dependent ones exist, a restart still owed
    manager: ManagerServices = Field(default_factory=ManagerServices)
    addresses: frozenset[str]
    mounts: frozenset[str]
    resolution: Resolution
    agent: AgentFacts
    errors: dict[str, str] = Field(default_factory=dict)
