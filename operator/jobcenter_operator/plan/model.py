"""Plan vocabulary: findings and ordered actions, each with a stable reason.

Pure module. A finding is what one check concluded about one status condition; the planner's
checks (plan/preflight.py, plan/steps.py) are the only place conditions are decided, status.py
only maps findings onto the resource. An action says what to change, on which node and why, and carries the one command
that does it (built in plan/commands.py), so the executor (reconcile.py) only sends what the plan
holds. ``disruptive`` marks the commands that interrupt the site (group stop/start, cjcmksite):
they only run where the plan puts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..api.site import JobCenterSiteSpec
from ..facts import NodeFacts
from ..frozen import Frozen

ActionKind = Literal[
    "DisableAgentUnit",  # systemctl disable jcexecutor_agent_<id>.service (CLUSTERPRO alone starts it)
    "SetLocalDaemon",  # write daemon.conf with local_daemon=SITE|OFF
    "StopLocalSite",  # /usr/lib/nqs/nqsstop
    "CreateSite",  # /usr/lib/nqs/cluster/cjcmksite VHOST ID DBPATH (active node only)
    "StopGroup",  # clpgrp -t GROUP
    "MarkSuspended",  # write the operator's suspend marker on a node (before SuspendCluster)
    "SuspendCluster",  # clpcl --suspend (a monitor is added or changed)
    "ApplyClusterConfig",  # clpcfctrl --push -l -x DIR with the edited clp.conf and scripts
    "RestartManagerServices",  # clpcl -r --web --alert [--ib --api] on a node (loads the pushed config)
    "ResumeCluster",  # clpcl --resume (after the push, or after a run killed while suspended)
    "ClearSuspendMarker",  # remove the operator's suspend marker from a node
    "StartGroup",  # clpgrp -s GROUP on the node that held it
    "StartLocalSite",  # /usr/lib/nqs/nqsstart
    "RestoreClusterConfig",  # deletion: clpcfctrl --push with the site's exec and monitor as the backup had them
    "MarkGroupStopped",  # the stop marker on another node before StopGroup: any survivor can finish the run
    "ClearStopMarker",  # the stop marker removed where the group's start did not remove it
]


class Command(Frozen):
    """One argv run on a node. User values are separate argv elements (the node layer quotes the
    argv once); file contents travel on stdin (``input``), which is never logged or audited."""

    argv: tuple[str, ...]
    input: str | None = None
    timeout: float | None = None  # None: the cluster's command timeout
    disruptive: bool = False  # interrupts the site (group stop/start, cjcmksite, a local site's stop)
    # Exit codes of the command's own guards -> the reason the executor reports (a refusal, not a crash).
    refusals: tuple[tuple[int, str], ...] = ()


class Action(Frozen):
    kind: ActionKind
    node: str  # where the command runs
    reason: str  # stable CamelCase: why this action is needed
    message: str  # human detail, never the argv or file contents
    command: Command
    # Run when a later action of the same plan fails, to never leave the site down (StopGroup ->
    # StartGroup on the same node); settled once the plan itself runs that command.
    restore: Action | None = None

    @property
    def disruptive(self) -> bool:
        return self.command.disruptive

    def describe(self) -> str:
        return f"{self.kind} on {self.node}: {self.message}"


PREFLIGHT = "PreflightPassed"  # the condition of the checks that stop the plan when they fail


class Finding(Frozen):
    """What a check concluded about one condition of the site's status."""

    condition: str  # the status condition it decides, e.g. PreflightPassed, DaemonConfigured
    status: Literal["True", "False", "Unknown"]
    reason: str  # stable CamelCase, e.g. JobCenterMissing
    message: str
    node: str | None = None
    # A failed preflight check that only a human or a spec change can clear (the site stalls);
    # False when waiting may fix it (group offline, cluster starting).
    permanent: bool = False

    @property
    def blocks(self) -> bool:
        """A failed preflight check: the plan holds no action."""
        return self.condition == PREFLIGHT and self.status == "False"


def failure(reason: str, message: str, *, node: str | None = None, permanent: bool = True) -> Finding:
    """A failed preflight check."""
    return Finding(condition=PREFLIGHT, status="False", reason=reason, message=message, node=node,
                   permanent=permanent)


@dataclass(frozen=True)
class Context:
    """What every check looks at: the spec, the nodes (in the cluster's order), what each reported
    and where the failover group is online (None: offline)."""

    spec: JobCenterSiteSpec
    nodes: tuple[str, ...]
    facts: Mapping[str, NodeFacts]
    active: str | None


class Plan(Frozen):
    findings: tuple[Finding, ...] = ()
    actions: tuple[Action, ...] = ()
    active_node: str | None = None

    @property
    def preflight(self) -> tuple[Finding, ...]:
        """The failed preflight checks (then there is no action)."""
        return tuple(f for f in self.findings if f.blocks)

    @property
    def blocking(self) -> Finding | None:
        """The first failed preflight check: what the site waits for."""
        return next(iter(self.preflight), None)

    @property
    def converged(self) -> bool:
        return not self.preflight and not self.actions
