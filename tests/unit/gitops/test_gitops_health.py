"""Argo CD's health Lua, Flux's healthCheckExprs and kstatus agree on every situation of the operator.

The Lua and the CEL are read from the shipped files under manifests/gitops/ and run as the tools run
them (health_engines.py); kstatus is a port of cli-utils' rules (kstatus_port.py); the situations come from
status.py (health_fixtures.py). The mapping is documented in manifests/gitops/README.md.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from typing import Any

import health_engines as engines
import kstatus_port as kstatus
import pytest
import yaml
from health_fixtures import ARGO_TO_KSTATUS, FIXTURES, Fixture

REPO = pathlib.Path(__file__).resolve().parents[3]
GITOPS = REPO / 'manifests' / 'gitops'


def _cases() -> list[Any]:
    return [pytest.param(f, id=f.name, marks=[pytest.mark.xfail(reason=f.xfail, strict=True)] if f.xfail else [])
            for f in FIXTURES]


@pytest.mark.parametrize('fixture', _cases())
def test_argo_flux_and_kstatus_agree(fixture: Fixture) -> None:
    obj = fixture.build()
    argo, message = engines.argo_health(obj, engines.argo_lua(fixture.kind))
    try:
        flux = engines.flux_health(obj, engines.flux_exprs(fixture.kind))
    except engines.EngineError as exc:
        flux = f'Unknown ({exc})'  # what Flux reports for a resource whose expressions fail
    computed = kstatus.compute(obj).status
    expected = ARGO_TO_KSTATUS[fixture.argo]
    assert (argo, flux, computed) == (fixture.argo, expected, expected), message
    assert message  # Argo CD shows why, never an empty message


def test_the_table_covers_what_issue_14_asks_for() -> None:
    names = ' | '.join(f.name for f in FIXTURES)
    for situation in ('fresh object', 'converged', 'generation not yet observed', 'reconciling', 'transient error',
                      'permanent error', 'Observe mode with drift', 'suspended', 'missing Secret',
                      'maintenance window'):
        assert situation in names
    assert len(FIXTURES) >= 10 and {f.kind for f in FIXTURES} == {'JobCenterSite', 'ClusterproCluster'}
    assert {f.argo for f in FIXTURES} == set(ARGO_TO_KSTATUS)


def test_argo_messages_name_the_cause() -> None:
    by_name = {f.name: f for f in FIXTURES}
    obj = by_name['site: permanent error (authentication)'].build()
    status, message = engines.argo_health(obj, engines.argo_lua('JobCenterSite'))
    assert status == 'Degraded' and message.startswith('AuthenticationFailed: ')
    obj = by_name['site: waiting for a missing Secret'].build()
    status, message = engines.argo_health(obj, engines.argo_lua('JobCenterSite'))
    assert status == 'Progressing' and 'Secret jc-cluster-ssh (SSH credentials) not found' in message


def test_a_site_waiting_for_a_window_or_approval_is_healthy_and_says_what_waits() -> None:
    by_name = {f.name: f for f in FIXTURES}
    window = by_name['site: change waits for a maintenance window'].build()
    status, message = engines.argo_health(window, engines.argo_lua('JobCenterSite'))
    assert status == 'Healthy' and 'pending:' in message and 'next window opens 2026-01-10T21:00:00Z' in message
    approval = by_name['site: change awaits approval'].build()
    status, message = engines.argo_health(approval, engines.argo_lua('JobCenterSite'))
    digest = approval['status']['disruption']['planHash']
    assert status == 'Healthy' and f'approve-plan={digest}' in message
    for obj, reason in ((window, 'OutsideWindow'), (approval, 'AwaitingApproval')):
        conds = {c['type']: c for c in obj['status']['conditions']}
        assert (conds['DisruptionAllowed']['status'], conds['DisruptionAllowed']['reason']) == ('False', reason)
        assert conds['InSync']['status'] == 'False'  # the pending change is not hidden


def test_flux_expressions_use_only_has_forms_and_fail_loudly_without_status() -> None:
    for kind in ('JobCenterSite', 'ClusterproCluster'):
        exprs = engines.flux_exprs(kind)
        assert set(exprs) == {'inProgress', 'failed', 'current'}
        assert all('.?' not in e and 'orValue' not in e for e in exprs.values())  # any CEL parser accepts them
        assert all(engines.top_level_references(e) == {'status'} for e in exprs.values())
        # With a status (even an empty one, as the proposed CRD default serves it) nothing fails.
        assert engines.flux_health({'metadata': {'generation': 1}, 'status': {}}, exprs) == 'InProgress'
        # cel-go's own behaviour for an absent top-level field, kept by the engine (why the CRD defaults status).
        with pytest.raises(engines.EngineError, match='no such attribute'):
            engines.flux_health({'metadata': {'generation': 1}}, exprs)


def test_argo_configuration_is_only_the_two_keys() -> None:
    patch = yaml.safe_load((GITOPS / 'argocd' / 'argocd-cm-health.yaml').read_text())
    assert (patch['kind'], patch['metadata']) == ('ConfigMap', {'name': 'argocd-cm'})
    assert sorted(patch['data']) == [f'resource.customizations.health.jobcenter.clusterpro.io_{k}'
                                     for k in ('ClusterproCluster', 'JobCenterSite')]
    assert not (GITOPS / 'argocd-health.yaml').exists()  # the old whole-ConfigMap file is gone


@pytest.mark.skipif(shutil.which('kubectl') is None, reason='kubectl (its built-in kustomize) is not installed')
def test_the_kustomize_component_merges_into_the_users_argocd_cm(tmp_path: pathlib.Path) -> None:
    users_cm = {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'argocd-cm', 'namespace': 'argocd'},
                'data': {'url': 'https://argocd.example.com',
                         'resource.customizations.health.example.com_Thing': 'hs = {}\nreturn hs\n'}}
    (tmp_path / 'argocd-cm.yaml').write_text(yaml.safe_dump(users_cm))
    (tmp_path / 'kustomization.yaml').write_text(yaml.safe_dump({
        'apiVersion': 'kustomize.config.k8s.io/v1beta1', 'kind': 'Kustomization', 'namespace': 'argocd',
        'resources': ['argocd-cm.yaml'], 'components': [os.path.relpath(GITOPS / 'argocd', tmp_path)]}))
    built = subprocess.run(['kubectl', 'kustomize', str(tmp_path)], capture_output=True, text=True, timeout=60,
                           check=False)
    assert built.returncode == 0, built.stderr
    docs = list(yaml.safe_load_all(built.stdout))
    assert len(docs) == 1 and docs[0]['metadata'] == {'name': 'argocd-cm', 'namespace': 'argocd'}
    data = docs[0]['data']
    assert data['url'] == users_cm['data']['url']  # the user's keys stay
    assert data['resource.customizations.health.example.com_Thing'] == 'hs = {}\nreturn hs\n'
    for kind in ('JobCenterSite', 'ClusterproCluster'):
        assert data[f'resource.customizations.health.jobcenter.clusterpro.io_{kind}'] == engines.argo_lua(kind)


@pytest.mark.parametrize(('kind', 'sample'), [('JobCenterSite', 'jobcentersite-classic.yaml'),
                                              ('ClusterproCluster', 'clusterprocluster.yaml')])
def test_the_status_default_makes_a_fresh_object_agree(kind: str, sample: str) -> None:
    """The generated CRD defaults `status` to `{observedGeneration: 0}`: the served fresh object is InProgress
    everywhere, and nothing fails to evaluate."""
    from hack.standin import admission

    crd = next(c for p in (REPO / 'crds').glob('*.yaml') if (c := yaml.safe_load(p.read_text()))
               ['spec']['names']['kind'] == kind)
    assert crd['spec']['versions'][0]['schema']['openAPIV3Schema']['properties']['status']['default'] == {
        'observedGeneration': 0}
    manifest = yaml.safe_load((REPO / 'manifests' / 'samples' / sample).read_text())
    manifest['metadata'].update(namespace='default', generation=1)
    obj, errors = admission.admit(crd, manifest)
    assert errors == [] and obj['status'] == {'observedGeneration': 0}
    assert engines.argo_health(obj, engines.argo_lua(kind))[0] == 'Progressing'
    assert engines.flux_health(obj, engines.flux_exprs(kind)) == 'InProgress'
    assert kstatus.compute(obj).status == 'InProgress'


def test_the_lua_engine_has_only_argo_cds_libraries() -> None:
    """A health Lua using the string or math library would pass on plain Lua and fail in Argo CD."""
    for lua in ('return {status = "Healthy", message = string.upper("x")}',
                'local s = "x"; return {status = "Healthy", message = s:upper()}',
                'return {status = "Healthy", message = tostring(math.floor(1.5))}'):
        with pytest.raises(engines.EngineError, match='attempt to index'):
            engines.argo_health({}, lua)
    assert engines.argo_health({}, 'return {status = "Healthy", message = tostring(1) .. "x"}') == ('Healthy', '1x')
