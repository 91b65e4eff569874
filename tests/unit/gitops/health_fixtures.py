"""One table of status fixtures: every situation a JobCenterSite or ClusterproCluster can be in, with the
verdict all three GitOps views must give (Argo CD health, Flux healthCheckExprs, kstatus).

A fixture's status comes from ``jobcenter_operator.status`` itself wherever status.py produces the
situation; a fresh object is the sample as the API server serves it (the CRD's status default applied).
Where the operator does not produce the intended status yet, the fixture is written as data and ``gap``
names the change needed.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'plan'))  # plan_factory: NodeFacts builders

from plan_factory import CLASSIC, NODES, apply, cluster

from hack.standin import admission
from jobcenter_operator.api.disruption import Disruption, MaintenanceWindow
from jobcenter_operator.errors import (
    AuthenticationFailed,
    HostKeyMismatch,
    TransientError,
    Unreachable,
)
from jobcenter_operator.outcome import ClusterResult, Gathered, SiteResult
from jobcenter_operator.plan import assess_processes, plan_site
from jobcenter_operator.plan.disruption import decide
from jobcenter_operator.progress import StepProgress
from jobcenter_operator.status import cluster_status, site_status, suspended_status

REPO = pathlib.Path(__file__).resolve().parents[3]
CRDS = REPO / 'crds'
SAMPLES = REPO / 'manifests' / 'samples'
NOW = '2026-01-01T00:00:00Z'
WEDNESDAY = datetime(2026, 1, 7, 10, 0, tzinfo=UTC)  # outside a Saturday-night window
GROUP_VERSION = 'jobcenter.clusterpro.io/v1alpha1'

# Argo CD's vocabulary -> kstatus's: what a waiter does (proceed, wait, give up). Suspended is Argo CD's
# own state for a site a person froze while it was healthy: nothing is pending, so kstatus says Current.
ARGO_TO_KSTATUS = {'Healthy': 'Current', 'Suspended': 'Current', 'Progressing': 'InProgress',
                   'Degraded': 'Failed'}


@dataclass(frozen=True)
class Fixture:
    name: str
    kind: str
    build: Callable[[], dict[str, Any]]  # the whole object as a client reads it
    argo: str  # the intended Argo CD health; kstatus and Flux must give ARGO_TO_KSTATUS[argo]
    gap: str | None = None  # status.py/CRD change needed before the operator writes this status
    xfail: str | None = None  # today's CRD/status.py cannot give the intended verdict: why
    notes: list[str] = field(default_factory=list)


def _site(status: dict[str, Any] | None, *, generation: int = 1, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        'apiVersion': GROUP_VERSION, 'kind': 'JobCenterSite',
        'metadata': {'name': 'cluv', 'namespace': 'default', 'generation': generation, 'uid': 'u-1',
                     'resourceVersion': '7'},
        'spec': {**CLASSIC.model_dump(mode='json', by_alias=True, exclude_none=True), **spec},
    }
    if status is not None:
        obj['status'] = status
    return obj


def _cluster(status: dict[str, Any] | None, *, generation: int = 1) -> dict[str, Any]:
    manifest = yaml.safe_load((SAMPLES / 'clusterprocluster.yaml').read_text())
    obj = {**manifest, 'metadata': {**manifest['metadata'], 'namespace': 'default', 'generation': generation}}
    if status is not None:
        obj['status'] = status
    return obj


def _result(facts: dict[str, Any], *, enforced: bool = True, errors: dict[str, Any] | None = None) -> SiteResult:
    plan = plan_site(CLASSIC, NODES, facts)
    return SiteResult(gathered=Gathered(facts=facts, errors=errors or {}), plan=plan, active_node=plan.active_node,
                      health=assess_processes(CLASSIC, NODES, facts, plan.active_node), enforced=enforced)


def _converged_facts() -> dict[str, Any]:
    facts = cluster()
    return apply(CLASSIC, facts, plan_site(CLASSIC, NODES, facts).actions)


def converged_status(generation: int = 1) -> dict[str, Any]:
    return site_status(spec=CLASSIC, generation=generation, previous=None, result=_result(_converged_facts()),
                       now=NOW)


def _conditions(*conds: tuple[str, str, str, str]) -> list[dict[str, Any]]:
    return [{'type': t, 'status': s, 'reason': r, 'message': m, 'lastTransitionTime': NOW} for t, s, r, m in conds]


def served_fresh(kind: str, manifest: str) -> Callable[[], dict[str, Any]]:
    """The object as the API server serves it before the operator wrote anything: the sample admitted
    (defaults applied, as on create and on every read) against the generated CRD."""
    def build() -> dict[str, Any]:
        crd = next(yaml.safe_load(p.read_text()) for p in CRDS.glob('*.yaml')
                   if yaml.safe_load(p.read_text())['spec']['names']['kind'] == kind)
        sample = yaml.safe_load((SAMPLES / manifest).read_text())
        sample['metadata'].update(namespace='default', generation=1)
        admitted, errors = admission.admit(crd, sample)
        assert errors == []
        return admitted
    return build


# ------------------------------------------------------------------------------ JobCenterSite situations

def site_converged() -> dict[str, Any]:
    return _site(converged_status())


def site_generation_not_observed() -> dict[str, Any]:
    obj = _site(converged_status(generation=1), generation=2)  # spec edited, the operator has not looked yet
    obj['spec']['processMonitoring'] = False
    return obj


def _first_build() -> SiteResult:
    facts = cluster()
    return _result(facts)


def site_progressing() -> dict[str, Any]:
    result = _first_build()
    assert result.plan is not None
    actions = result.plan.actions
    step = StepProgress(2, len(actions), actions[1], disruptive_run=True)
    return _site(site_status(spec=CLASSIC, generation=1, previous=None, result=result, progress=step, now=NOW))


def site_progressing_while_serving() -> dict[str, Any]:
    """Drift of a Ready site corrected without interrupting it (daemon.conf only, same generation):
    Ready stays True, Reconciling=True still makes every tool wait."""
    facts = _converged_facts()
    spec = CLASSIC.model_copy(update={'local_daemon': 'Off'})
    plan = plan_site(spec, NODES, facts)
    quiet = tuple(a for a in plan.actions if not a.disruptive)
    assert quiet and not any(a.disruptive for a in quiet)
    result = SiteResult(gathered=Gathered(facts=facts, errors={}), plan=plan, active_node=plan.active_node,
                        health=assess_processes(spec, NODES, facts, plan.active_node), enforced=True)
    step = StepProgress(1, len(quiet), quiet[0], disruptive_run=False)
    status = site_status(spec=spec, generation=1, previous=converged_status(), result=result, progress=step, now=NOW)
    assert next(c for c in status['conditions'] if c['type'] == 'Ready')['status'] == 'True'
    return _site(status, localDaemon='Off')


def site_transient_error() -> dict[str, Any]:
    down = Unreachable('clu1', 'connection refused')
    result = SiteResult(gathered=Gathered(facts={}, errors={'clu1': down}), error=down)
    return _site(site_status(spec=CLASSIC, generation=1, previous=None, result=result, now=NOW))


def site_permanent_error() -> dict[str, Any]:
    refused = AuthenticationFailed('clu1', 'the node refused the key')
    result = SiteResult(gathered=Gathered(facts={}, errors={'clu1': refused}), error=refused)
    return _site(site_status(spec=CLASSIC, generation=1, previous=None, result=result, now=NOW))


def site_secret_missing() -> dict[str, Any]:
    error = TransientError('Secret jc-cluster-ssh (SSH credentials) not found')
    return _site(site_status(spec=CLASSIC, generation=1, previous=None, result=None, error=error, now=NOW))


def site_observe_with_drift() -> dict[str, Any]:
    observe = CLASSIC.model_copy(update={'management_policy': 'Observe'})
    facts = cluster()
    plan = plan_site(observe, NODES, facts)
    result = SiteResult(gathered=Gathered(facts=facts, errors={}), plan=plan, active_node=plan.active_node,
                        health=assess_processes(observe, NODES, facts, plan.active_node), enforced=False)
    return _site(site_status(spec=observe, generation=1, previous=None, result=result, now=NOW),
                 managementPolicy='Observe')


def site_suspended_not_acknowledged() -> dict[str, Any]:
    # The spec was just edited to suspend: the operator has not written its acknowledgement yet.
    return _site(converged_status(generation=1), generation=2, suspend=True)


def site_suspended() -> dict[str, Any]:
    return _site(suspended_status(converged_status(generation=1), 2, now=NOW), generation=2, suspend=True)


def site_suspended_before_first_reconcile() -> dict[str, Any]:
    fresh = served_fresh('JobCenterSite', 'jobcentersite-classic.yaml')()
    return _site(suspended_status(fresh['status'], 1, now=NOW), suspend=True)


def _waiting_status(policy: Disruption) -> dict[str, Any]:
    """A converged, serving site whose spec changed (processMonitoring off: a group stop and start), the
    change held by the disruption gate, written by status.py."""
    facts = _converged_facts()
    changed = CLASSIC.model_copy(update={'process_monitoring': False})
    plan = plan_site(changed, NODES, facts)
    result = SiteResult(gathered=Gathered(facts=facts, errors={}), plan=plan, active_node=plan.active_node,
                        health=assess_processes(changed, NODES, facts, plan.active_node), enforced=True,
                        gates=[decide(plan.actions, policy, WEDNESDAY)])
    return site_status(spec=changed, generation=2, previous=None, result=result, now=NOW)


def site_waiting_for_window() -> dict[str, Any]:
    windows = [MaintenanceWindow.model_validate({'days': ['Sat'], 'start': '22:00', 'duration': '2h',
                                                 'timeZone': 'Europe/Berlin'})]
    return _site(_waiting_status(Disruption(windows=windows)), generation=2, processMonitoring=False)


def site_awaiting_approval() -> dict[str, Any]:
    return _site(_waiting_status(Disruption(approval='Manual')), generation=2, processMonitoring=False)


# ------------------------------------------------------------------------------ ClusterproCluster situations

def _cluster_result(errors: dict[str, Any] | None = None) -> ClusterResult:
    facts = {n: f for n, f in cluster().items() if n not in (errors or {})}
    return ClusterResult(gathered=Gathered(facts=facts, errors=errors or {}),
                         fingerprints=dict.fromkeys(facts, 'SHA256:x'))


def cluster_reachable() -> dict[str, Any]:
    return _cluster(cluster_status(generation=1, previous=None, result=_cluster_result(), node_names=list(NODES),
                                   now=NOW))


def cluster_node_down() -> dict[str, Any]:
    result = _cluster_result({'clu2': Unreachable('clu2', 'connection refused')})
    return _cluster(cluster_status(generation=1, previous=None, result=result, node_names=list(NODES), now=NOW))


def cluster_host_key_mismatch() -> dict[str, Any]:
    result = _cluster_result({'clu2': HostKeyMismatch('clu2', 'the host key changed')})
    return _cluster(cluster_status(generation=1, previous=None, result=result, node_names=list(NODES), now=NOW))


def cluster_secret_missing() -> dict[str, Any]:
    error = TransientError('Secret jc-cluster-ssh (SSH credentials) not found')
    return _cluster(cluster_status(generation=1, previous=None, result=None, node_names=list(NODES), error=error,
                                   now=NOW))


def cluster_generation_not_observed() -> dict[str, Any]:
    return _cluster(cluster_status(generation=1, previous=None, result=_cluster_result(), node_names=list(NODES),
                                   now=NOW), generation=2)


FIXTURES = [
    Fixture('site: fresh object, nothing written yet', 'JobCenterSite',
            served_fresh('JobCenterSite', 'jobcentersite-classic.yaml'), 'Progressing'),
    Fixture('site: converged, Ready', 'JobCenterSite', site_converged, 'Healthy'),
    Fixture('site: generation not yet observed', 'JobCenterSite', site_generation_not_observed, 'Progressing'),
    Fixture('site: reconciling (step k/n running)', 'JobCenterSite', site_progressing, 'Progressing'),
    Fixture('site: reconciling drift without interrupting the site', 'JobCenterSite',
            site_progressing_while_serving, 'Progressing'),
    Fixture('site: transient error, retrying', 'JobCenterSite', site_transient_error, 'Progressing'),
    Fixture('site: permanent error (authentication)', 'JobCenterSite', site_permanent_error, 'Degraded'),
    Fixture('site: waiting for a missing Secret', 'JobCenterSite', site_secret_missing, 'Progressing'),
    Fixture('site: Observe mode with drift', 'JobCenterSite', site_observe_with_drift, 'Degraded'),
    Fixture('site: suspended, not yet acknowledged', 'JobCenterSite', site_suspended_not_acknowledged,
            'Progressing'),
    Fixture('site: suspended, acknowledged', 'JobCenterSite', site_suspended, 'Suspended'),
    Fixture('site: suspended before the first reconcile', 'JobCenterSite', site_suspended_before_first_reconcile,
            'Progressing'),
    Fixture('site: change waits for a maintenance window', 'JobCenterSite', site_waiting_for_window, 'Healthy'),
    Fixture('site: change awaits approval', 'JobCenterSite', site_awaiting_approval, 'Healthy'),
    Fixture('cluster: fresh object, nothing written yet', 'ClusterproCluster',
            served_fresh('ClusterproCluster', 'clusterprocluster.yaml'), 'Progressing'),
    Fixture('cluster: every node reachable', 'ClusterproCluster', cluster_reachable, 'Healthy'),
    Fixture('cluster: generation not yet observed', 'ClusterproCluster', cluster_generation_not_observed,
            'Progressing'),
    Fixture('cluster: a node unreachable, retrying', 'ClusterproCluster', cluster_node_down, 'Progressing'),
    Fixture('cluster: host key mismatch', 'ClusterproCluster', cluster_host_key_mismatch, 'Degraded'),
    Fixture('cluster: waiting for a missing Secret', 'ClusterproCluster', cluster_secret_missing, 'Progressing'),
]
