"""Plan vocabulary: preflight failures and ordered actions, each with a stable reason.

Pure module. An action says what to change, on which node, and why; the executor (reconcile.py)
turns it into commands. ``disruptive`` marks the steps that interrupt the site (group stop/start,
cjcmksite): they only run where the plan puts them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ActionKind = Literal[
    "DisableAgentUnit",  # systemctl disable jcexecutor_agent_<id>.service (CLUSTERPRO alone starts it)
    "SetLocalDaemon",  # write daemon.conf with local_daemon=SITE|OFF
    "StopLocalSite",  # /usr/lib/nqs/nqsstop
    "CreateSite",  # /usr/lib/nqs/cluster/cjcmksite VHOST ID DBPATH (active node only)
    "StopGroup",  # clpgrp -t GROUP
    "ApplyClusterConfig",  # clpcfctrl --push -x DIR with the edited clp.conf and scripts
    "StartGroup",  # clpgrp -s GROUP on the node that held it
    "StartLocalSite",  # /usr/lib/nqs/nqsstart
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Action(_Frozen):
    kind: ActionKind
    node: str  # where the command runs
    reason: str  # stable CamelCase: why this action is needed
    message: str  # human detail (never file contents)
    disruptive: bool = False
    # Payloads (only for the kinds that write files):
    daemon_conf: str | None = None  # SetLocalDaemon: the whole new daemon.conf
    clp_conf: str | None = None  # ApplyClusterConfig: the whole new clp.conf
    scripts: dict[str, str] | None = None  # ApplyClusterConfig: config-dir relative path -> content

    def describe(self) -> str:
        return f"{self.kind} on {self.node}: {self.message}"


class PreflightFailure(_Frozen):
    reason: str  # stable CamelCase, e.g. JobCenterMissing
    message: str
    node: str | None = None
    permanent: bool = True  # False when waiting may fix it (group offline, cluster starting)


class Plan(_Frozen):
    preflight: tuple[PreflightFailure, ...] = ()
    actions: tuple[Action, ...] = ()
    active_node: str | None = None

    @property
    def converged(self) -> bool:
        return not self.preflight and not self.actions
