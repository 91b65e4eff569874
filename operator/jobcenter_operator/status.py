"""Reconcile outcome -> the resource's status, and the transitions worth an Event. Pure.

kstatus states (README "Status"): Ready=True only when converged and healthy; Reconciling=True while
steps run (reason Progressing, "step k/n: ...") or a transient error is retried; Stalled=True when
only a person can move the site on: a permanent error, or Observe mode (or driftPolicy Report) with
nodes that differ from the spec (ObservedDrift). Ready's reason and message carry the root cause.

The domain conditions are the plan's findings (plan/ decides them; several for one condition
give the first's status and reason and every message), plus NodesReachable from the gathering
and ProcessesHealthy from the verification. A failed preflight check stalls the site or waits,
as its finding's ``permanent`` says (carried by ``outcome.blocking_error``).

Conventions (operator-conventions.md b.2-b.5): top-level ``observedGeneration``; a ``conditions``
list keyed by type with ``Ready``, ``Reconciling``, ``Stalled`` (abnormal-true) and the domain
conditions; ``lastTransitionTime`` changes only when a condition's status flips; every condition is
written from the first visit on (Unknown where nothing is known yet), so kstatus never mistakes a
fresh object for Current. Messages are short and never hold secrets or command output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .api.site import JobCenterSiteSpec
from .errors import CheckFailed, OperatorError
from .outcome import ClusterResult, SiteResult, blocking_error
from .plan import Action, Finding
from .plan.disruption import CONDITION as DISRUPTION_ALLOWED
from .plan.disruption import Gate
from .progress import StepProgress

SITE_DOMAIN_CONDITIONS = (
    "NodesReachable",
    "PreflightPassed",
    "DaemonConfigured",
    "SiteCreated",
    "ClusterResourcesConfigured",
    "GroupOnline",
    "ProcessesHealthy",
    "InSync",
    DISRUPTION_ALLOWED,
)
# Not about the site as it runs: a change waiting for a maintenance window or an approval leaves
# these False while the site serves, and Ready stays True (the pending change is in its message).
PENDING_CHANGE_CONDITIONS = ("DaemonConfigured", "ClusterResourcesConfigured", "InSync")
MAX_MESSAGE = 1024
MAX_PLAN_ITEMS = 64


@dataclass(frozen=True)
class Cond:
    status: str  # True | False | Unknown
    reason: str
    message: str


@dataclass(frozen=True)
class Transition:
    """A condition whose status changed (or appeared): worth one Event."""

    type: str
    status: str
    reason: str
    message: str

    @property
    def warning(self) -> bool:
        abnormal_true = self.type in ("Stalled", "Reconciling")
        return (self.status == "True") if abnormal_true else (self.status == "False")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def merge_conditions(
    previous: list[dict[str, Any]] | None, new: dict[str, Cond], generation: int | None, now: str | None = None
) -> list[dict[str, Any]]:
    """New conditions in a stable order; lastTransitionTime kept unless the status flipped."""
    old = {c.get("type"): c for c in previous or []}
    stamp = now or _now()
    out = []
    for ctype, cond in new.items():
        before = old.get(ctype)
        changed = before is None or before.get("status") != cond.status
        entry: dict[str, Any] = {
            "type": ctype,
            "status": cond.status,
            "reason": cond.reason,
            "message": _short(cond.message),
            "lastTransitionTime": stamp if changed else before["lastTransitionTime"],  # type: ignore[index]
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        out.append(entry)
    return out


def transitions(previous: list[dict[str, Any]] | None, current: list[dict[str, Any]]) -> list[Transition]:
    old = {c.get("type"): c.get("status") for c in previous or []}
    return [
        Transition(c["type"], c["status"], c["reason"], c["message"])
        for c in current
        if old.get(c["type"]) != c["status"]
    ]


def _error_conditions(error: OperatorError | None) -> tuple[Cond, Cond]:
    """(Reconciling, Stalled) for the run's outcome."""
    if error is None:
        reconciling = Cond("False", "Succeeded", "reconcile finished")
        return reconciling, Cond("False", "Succeeded", "no blocking problem")
    if isinstance(error, CheckFailed):
        # The run itself went fine; a failed preflight check holds the plan back.
        if error.transient:
            return (Cond("True", "ProgressingWithRetry", error.message),
                    Cond("False", "Succeeded", "no blocking problem"))
        return Cond("False", "Succeeded", "reconcile finished"), Cond("True", error.reason, error.message)
    if error.transient:
        return (Cond("True", "ProgressingWithRetry", f"{error.reason}: {error.message}; retrying"),
                Cond("False", "Succeeded", "no blocking problem"))
    reconciling = Cond("False", error.reason, "waiting for a spec or credentials change")
    return reconciling, Cond("True", error.reason, error.message)


def _ready(domain: dict[str, Cond], error: OperatorError | None, done: str) -> Cond:
    """The root cause first: the error that stopped the run (a missing Secret, an unreachable
    node, a failed command), else the first False domain condition, else the first not known."""
    if isinstance(error, CheckFailed):
        error = None  # PreflightPassed says it, with every failed check
    if error is not None:
        return Cond("False", error.reason, error.message)
    pending = [c for c in domain.values() if c.status != "True"]
    cause = next((c for c in pending if c.status == "False"), pending[0] if pending else None)
    if cause is not None:
        return Cond("False", cause.reason, cause.message)
    return Cond("True", "Succeeded", done)


def _node_errors(errors: dict[str, OperatorError]) -> str:
    """``clu1, clu2: connection refused``: each node once, one entry per distinct message (a
    node error's message starts with its node, which is not repeated)."""
    by_text: dict[str, list[str]] = {}
    for node in sorted(errors):
        by_text.setdefault(errors[node].message.removeprefix(f"{node}: "), []).append(node)
    return "; ".join(f"{', '.join(nodes)}: {text}" for text, nodes in by_text.items())


def _observed_drift(spec: JobCenterSiteSpec, result: SiteResult) -> tuple[Cond, Cond, Cond]:
    """(Ready, Reconciling, Stalled) of a site whose nodes differ while the operator may not act:
    only a person (Enforce, a reconcile request, fixing the nodes) can end it, so it is Stalled."""
    assert result.plan is not None
    why = ("managementPolicy Observe" if spec.management_policy == "Observe"
           else "driftPolicy Report (a spec change or a reconcile request corrects it)")
    message = (f"the nodes differ from the spec ({len(result.plan.actions)} changes pending, see status.plan); "
               f"{why} does not change them")
    return (Cond("False", "ObservedDrift", message),
            Cond("False", "ObservedDrift", "nothing to do until a person acts"),
            Cond("True", "ObservedDrift", message))


def _progressing(progress: StepProgress, previous: dict[str, Any], generation: int | None) -> tuple[Cond, Cond, Cond]:
    """(Ready, Reconciling, Stalled) while a step runs. Ready stays True only while drift of a site
    that was Ready for this very generation is corrected without interrupting it (it keeps serving
    jobs; kstatus still says InProgress, Reconciling=True comes first). A new generation is never
    Ready before it is applied: ``kubectl wait --for=condition=Ready`` after an edit must wait."""
    reconciling = Cond("True", "Progressing", progress.message)
    stalled = Cond("False", "Progressing", "no blocking problem")
    before = next((c for c in previous.get("conditions") or [] if c.get("type") == "Ready"), None)
    same_generation = previous.get("observedGeneration") == generation
    if before is not None and before.get("status") == "True" and same_generation and not progress.disruptive_run:
        return Cond("True", before["reason"], before["message"]), reconciling, stalled
    return Cond("False", "Progressing", progress.message), reconciling, stalled


def site_conditions(spec: JobCenterSiteSpec, result: SiteResult | None, error: OperatorError | None,
                    progress: StepProgress | None = None, previous: dict[str, Any] | None = None,
                    generation: int | None = None) -> dict[str, Cond]:
    """All conditions of a JobCenterSite, from a reconcile result (None: nothing reached the nodes);
    with ``progress``, of the run still going (``result`` is what it found before its steps)."""
    unknown = Cond("Unknown", "NotObserved", "not observed yet")
    domain: dict[str, Cond] = dict.fromkeys(SITE_DOMAIN_CONDITIONS, unknown)
    if result is not None:
        domain.update(_site_domain(result))
    error = error or (result.error if result else None)
    # Only nodes other than the active one unreachable (a crashed standby after a failover): the
    # site serves. NodesReachable says what is wrong; Ready stays about the site itself.
    serving = result is not None and _serving_despite(result, error)
    if serving:
        error = None
    if error is None and result is not None and result.plan is not None:
        error = blocking_error(result.plan)  # a failed preflight check waits or stalls the site
    reconciling, stalled = _error_conditions(error)
    waiting = _waiting(result) if error is None else None
    ready_domain = {k: v for k, v in domain.items() if not (
        (serving and k == "NodesReachable") or k == DISRUPTION_ALLOWED
        or (waiting is not None and k in PENDING_CHANGE_CONDITIONS))}
    done = f"site running on {result.active_node}" if result is not None and result.active_node else "site running"
    if waiting is not None:
        # Nothing is in progress: the operator waits for a window or a person (kstatus: Current).
        done += f"; pending: {waiting.message}"
        reconciling = Cond("False", waiting.verdict, waiting.message)
    ready = _ready(ready_domain, error, done)
    if progress is not None:
        ready, reconciling, stalled = _progressing(progress, previous or {}, generation)
    elif (waiting is None and error is None and result is not None and not result.enforced and result.plan
          and result.plan.actions):
        ready, reconciling, stalled = _observed_drift(spec, result)
    conds = {"Ready": ready, "Reconciling": reconciling, "Stalled": stalled}
    conds.update(domain)
    if spec.mode == "StandardAgent":
        # Not part of Ready: nothing on the nodes says whether the manager knows this agent, so the
        # operator reports that it cannot tell rather than guessing (vendor guide 3: AG registration
        # is done on the manager with JobCenter CL/Win).
        conds["AgentRegistration"] = Cond(
            "Unknown", "NotVerifiable",
            "whether the agent is registered on its manager cannot be verified from the nodes")
    return conds


def _waiting(result: SiteResult | None) -> Gate | None:
    """The gate's verdict when disruptive work waits for a window or an approval (only where the
    operator would act: in Observe mode nothing waits, the plan is only reported)."""
    gate = result.gate if result is not None and result.enforced else None
    return gate if gate is not None and gate.waiting else None


def _serving_despite(result: SiteResult, error: OperatorError | None) -> bool:
    """True when the run's only problem is unreachable nodes and the active node is not one."""
    errors = result.gathered.errors
    return (
        bool(errors)
        and error is result.error
        and result.active_node is not None
        and result.active_node not in errors
        and all(e.transient for e in errors.values())
    )


def _site_domain(result: SiteResult) -> dict[str, Cond]:
    """NodesReachable from the gathering, ProcessesHealthy from the verification, the rest from
    the plan's findings (several for one condition: the first's status and reason, every message)."""
    out: dict[str, Cond] = {}
    gathered = result.gathered
    if gathered.errors:
        first = gathered.first_error()
        assert first is not None
        out["NodesReachable"] = Cond("False", first.reason, _node_errors(gathered.errors))
    else:
        out["NodesReachable"] = Cond("True", "Reachable", f"{len(gathered.facts)} nodes answered")
    if result.plan is None:
        return out
    by_condition: dict[str, list[Finding]] = {}
    for finding in result.plan.findings:
        by_condition.setdefault(finding.condition, []).append(finding)
    for condition, findings in by_condition.items():
        first_finding = findings[0]
        out[condition] = Cond(first_finding.status, first_finding.reason, "; ".join(f.message for f in findings))
    if result.gate is not None:
        finding = result.gate.finding()
        out[finding.condition] = Cond(finding.status, finding.reason, finding.message)
    else:  # a run without the gate (a caller that restricts nothing)
        out[DISRUPTION_ALLOWED] = Cond("True", "NotGated", "no maintenance window or approval applies")
    refused = next((s for s in result.steps if not s.ok and s.action.kind == "ApplyClusterConfig"), None)
    if refused is not None and refused.failure is not None:
        # The push was refused: nothing was applied, and the product's reason is the message.
        out["ClusterResourcesConfigured"] = Cond("False", refused.failure.reason, refused.failure.message)
    created = any(s.ok and s.action.kind == "CreateSite" for s in result.steps)
    if created and out.get("SiteCreated", Cond("", "", "")).reason == "Present":
        out["SiteCreated"] = Cond("True", "Created", out["SiteCreated"].message)
    if result.health is not None and result.plan.blocking is None:
        h = result.health
        out["ProcessesHealthy"] = Cond("True" if h.healthy else "False", h.reason, h.message)
    return out


def planned_actions(actions: tuple[Action, ...]) -> list[dict[str, Any]]:
    return [
        {"node": a.node, "action": a.kind, "reason": a.reason, "message": _short(a.message),
         **({"disruptive": True} if a.disruptive else {})}
        for a in actions[:MAX_PLAN_ITEMS]
    ]


def _stamp(instant: datetime | None) -> str | None:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if instant is not None else None


def disruption_status(gate: Gate) -> dict[str, Any]:
    """status.disruption: the gate's verdict, the hash to approve, the next window."""
    out: dict[str, Any] = {"verdict": gate.verdict, "message": _short(gate.message)}
    extra = {"planHash": gate.plan_hash, "nextWindowStart": _stamp(gate.next_window),
             "windowCloses": _stamp(gate.window_closes)}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def site_status(
    *,
    spec: JobCenterSiteSpec,
    generation: int | None,
    previous: dict[str, Any] | None,
    result: SiteResult | None,
    error: OperatorError | None = None,
    requested_at: str | None = None,
    now: str | None = None,
    progress: StepProgress | None = None,
) -> dict[str, Any]:
    """The whole ``status`` of a JobCenterSite (wire format, camelCase). With ``progress``: while
    that step runs (``status.progress`` shows it in the printer columns)."""
    previous = previous or {}
    conds = site_conditions(spec, result, error, progress, previous, generation)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": merge_conditions(previous.get("conditions"), conds, generation, now),
    }
    if result is not None and result.active_node:
        status["activeNode"] = result.active_node
    elif previous.get("activeNode") and result is None:
        status["activeNode"] = previous["activeNode"]
    if result is not None and result.health is not None:
        h = result.health
        status["processes"] = {"expected": h.expected, "found": h.found, "summary": f"{h.found}/{h.expected}"}
        if h.missing:
            status["processes"]["missing"] = list(h.missing)
    elif result is None and previous.get("processes"):
        status["processes"] = previous["processes"]
    waiting = _waiting(result)
    if result is not None and result.plan is not None and result.plan.actions and (
            not result.enforced or waiting is not None):
        status["plan"] = planned_actions(result.plan.actions)
    if result is not None and result.gate is not None:
        status["disruption"] = disruption_status(result.gate)
    if progress is not None:
        status["progress"] = progress.short
    handled = requested_at if requested_at is not None else previous.get("lastHandledReconcileAt")
    if handled is not None:
        status["lastHandledReconcileAt"] = handled
    if generation is None:
        del status["observedGeneration"]
    return status


def cluster_status(
    *, generation: int | None, previous: dict[str, Any] | None, result: ClusterResult | None,
    node_names: list[str], error: OperatorError | None = None, now: str | None = None,
) -> dict[str, Any]:
    """The whole ``status`` of a ClusterproCluster."""
    previous = previous or {}
    nodes: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    reachable = 0
    if result is not None:
        for name in node_names:
            entry: dict[str, Any] = {"name": name, "reachable": name in result.gathered.facts}
            fp = result.fingerprints.get(name)
            if fp:
                entry["hostKeyFingerprint"] = fp
            facts = result.gathered.facts.get(name)
            if facts is not None:
                reachable += 1
                entry["clusterproRunning"] = facts.cluster.running
                if facts.jobcenter.version:
                    entry["jobcenterVersion"] = facts.jobcenter.version
                for g in facts.cluster.groups.values():
                    if g.name not in groups or g.current:
                        groups[g.name] = {"name": g.name, "state": g.state,
                                          **({"activeNode": g.current} if g.current else {})}
            else:
                err = result.gathered.errors.get(name)
                if err is not None:
                    entry["error"] = _short(f"{err.reason}: {err.message}")
            nodes.append(entry)
    first = result.gathered.first_error() if result is not None else None
    error = error or first
    if result is None:
        reach = Cond("Unknown", "NotObserved", "not observed yet")
    elif result.gathered.errors:
        assert first is not None
        reach = Cond("False", first.reason,
                     f"{reachable}/{len(node_names)} nodes reachable; {_node_errors(result.gathered.errors)}")
    else:
        reach = Cond("True", "Reachable", f"{reachable}/{len(node_names)} nodes reachable")
    domain = {"NodesReachable": reach}
    reconciling, stalled = _error_conditions(error)
    ready = _ready(domain, error, "every node reachable")
    conds = {"Ready": ready, "Reconciling": reconciling, "Stalled": stalled, **domain}
    status: dict[str, Any] = {"conditions": merge_conditions(previous.get("conditions"), conds, generation, now)}
    if generation is not None:
        status["observedGeneration"] = generation
    if result is not None:
        status["nodesReachable"] = f"{reachable}/{len(node_names)}"
        status["nodes"] = nodes
        if groups:
            status["groups"] = [groups[k] for k in sorted(groups)]
    return status


def suspended_status(previous: dict[str, Any] | None, generation: int | None, now: str | None = None) -> dict[str, Any]:
    """The status of a suspended object: written once, so GitOps tools see the generation observed
    (Reconciling=False reason Suspended); Ready and Stalled keep what they said (a site never
    reconciled says Ready=Unknown, so waiters do not take it for converged)."""
    previous = dict(previous or {})
    old = list(previous.get("conditions") or [])
    kept = {c["type"]: Cond(c["status"], c["reason"], c["message"]) for c in old}
    kept.setdefault("Ready", Cond("Unknown", "Suspended", "suspended before the first reconcile"))
    kept["Reconciling"] = Cond("False", "Suspended", "reconciliation suspended (spec.suspend)")
    kept.setdefault("Stalled", Cond("False", "Suspended", "no blocking problem"))
    first = {t: kept.pop(t) for t in ("Ready", "Reconciling", "Stalled")}
    merged = merge_conditions(old, {**first, **kept}, None, now)
    by_type = {c.get("type"): c for c in old}
    for entry in merged:  # conditions not rewritten keep the generation they were computed from
        before = by_type.get(entry["type"])
        if entry["type"] != "Reconciling" and before is not None and "observedGeneration" in before:
            entry["observedGeneration"] = before["observedGeneration"]
        elif generation is not None:
            entry["observedGeneration"] = generation
    previous.pop("progress", None)
    status = {**previous, "conditions": merged}
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def differs(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing ``new`` would change anything (each write is a watch event)."""
    return (old or {}) != new
