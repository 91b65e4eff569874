"""What a reconcile found and did, as plain data: reconcile.py fills it, status.py reads it.

Pure module (no I/O): frozen facts, the plan, per-step reports and the error that stopped the run;
``run_error`` is how a run ended as one error (what stopped it, else the plan's failed check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import CheckFailed, OperatorError
from .facts import NodeFacts
from .plan import Action, Plan, ProcessHealth
from .plan.disruption import Gate


@dataclass(frozen=True)
class Gathered:
    facts: dict[str, NodeFacts]
    errors: dict[str, OperatorError]  # node -> why its facts are missing

    def first_error(self) -> OperatorError | None:
        # A permanent error (bad key, host key) outranks a transient one: it needs a human.
        ordered = sorted(self.errors.values(), key=lambda e: e.transient)
        return ordered[0] if ordered else None


@dataclass
class StepReport:
    action: Action
    ok: bool
    duration: float
    error: str | None = None
    failure: OperatorError | None = field(default=None, repr=False)  # the error behind ``error``


@dataclass
class SiteResult:
    """What one reconcile of a site found and did; status.py turns it into conditions."""

    gathered: Gathered
    plan: Plan | None = None
    steps: list[StepReport] = field(default_factory=list)
    health: ProcessHealth | None = None
    active_node: str | None = None
    enforced: bool = False  # actions were allowed to run
    error: OperatorError | None = None  # why the reconcile stopped, if it did
    gates: list[Gate] = field(default_factory=list)  # the disruption gate's verdict on each plan, in order

    @property
    def gate(self) -> Gate | None:
        """The verdict on the last plan (None: no gate)."""
        return self.gates[-1] if self.gates else None

    @property
    def used_override(self) -> bool:
        """An emergency override let held steps run in this pass."""
        return self.enforced and any(g.override_used for g in self.gates) and self.changed

    @property
    def used_approval(self) -> bool:
        return self.enforced and any(g.approval_used for g in self.gates) and self.changed

    @property
    def changed(self) -> bool:
        return any(s.ok for s in self.steps)


@dataclass
class ClusterResult:
    gathered: Gathered
    fingerprints: dict[str, str | None]


def blocking_error(plan: Plan) -> CheckFailed | None:
    """The plan's first failed preflight check as an error (its permanence is the check's)."""
    blocking = plan.blocking
    if blocking is None:
        return None
    return CheckFailed(blocking.reason, blocking.message, permanent=blocking.permanent)


def run_error(result: SiteResult) -> OperatorError | None:
    """How a reconcile ended, as one error: what stopped it, else the check that blocks its plan."""
    if result.error is not None or result.plan is None:
        return result.error
    return blocking_error(result.plan)
