"""`kubectl apply -k manifests/default` (and clusterwide) against the API stand-in, as on a real cluster:
the CRDs become Established and serve the samples, a `namespace:` overlay moves the operator and the
namespace it watches, and the stored pod template meets the restricted Pod Security Standard.

The stand-in stores Deployments but runs no pods and enforces no Pod Security admission, so the pod
template is read back from the server and checked field by field here (tests/unit/manifests)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
from typing import Any

import pytest

from hack.standin.pytest_fixtures import KUBECTL, StandInProcess
from jobcenter_operator.cli import watched_from_env
from tests.unit.manifests.restricted_pss import violations

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = REPO / 'manifests' / 'samples'
CRDS = ('clusterproclusters.jobcenter.clusterpro.io', 'jobcentersites.jobcenter.clusterpro.io')

pytestmark = pytest.mark.skipif(shutil.which(KUBECTL) is None, reason='kubectl is not installed')


@pytest.fixture()
def standin_crds_dir() -> pathlib.Path | None:
    return None  # start empty: the install brings the CRDs


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f'kubectl failed ({result.returncode}): {result.stderr}'
    return result.stdout


def get(standin_server: StandInProcess, *args: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ok(standin_server.kubectl('get', *args, '-o', 'json')))
    return loaded


def overlay(tmp_path: pathlib.Path, base: str, namespace: str) -> pathlib.Path:
    """A user's overlay: the install moved to another namespace with kustomize's `namespace:`."""
    d = tmp_path / 'overlay'
    d.mkdir()
    # kustomize takes other kustomizations by relative path only.
    rel = os.path.relpath(REPO / 'manifests' / base, d)
    (d / 'kustomization.yaml').write_text(f'namespace: {namespace}\nresources:\n  - {rel}\n')
    return d


def watched(standin_server: StandInProcess, namespace: str) -> tuple[dict[str, Any], list[str] | None]:
    """The stored Deployment, and the namespaces its operator would watch (None: all)."""
    deployment = get(standin_server, 'deployment', 'jobcenter-operator', '-n', namespace)
    container = deployment['spec']['template']['spec']['containers'][0]
    if '--all-namespaces' in container['args']:
        return deployment, None
    env: dict[str, str] = {}
    for var in container.get('env', []):
        if 'value' in var:
            env[var['name']] = var['value']
        elif var.get('valueFrom', {}).get('fieldRef', {}).get('fieldPath') == 'metadata.namespace':
            env[var['name']] = deployment['metadata']['namespace']  # what the kubelet puts there
    return deployment, watched_from_env(env)


def apply_install(standin_server: StandInProcess, directory: pathlib.Path) -> None:
    ok(standin_server.kubectl('apply', '-k', str(directory), timeout=120))
    ok(standin_server.kubectl('wait', '--for=condition=Established', *(f'crd/{n}' for n in CRDS), '--timeout=30s',
                       timeout=60))


def test_default_install_establishes_crds_and_the_samples_go_where_it_watches(standin_server: StandInProcess) -> None:
    apply_install(standin_server, REPO / 'manifests' / 'default')
    namespace = get(standin_server, 'namespace', 'jobcenter-operator')
    assert namespace['metadata']['labels']['pod-security.kubernetes.io/enforce'] == 'restricted'
    deployment, namespaces = watched(standin_server, 'jobcenter-operator')
    assert namespaces == ['jobcenter-operator']
    assert violations(deployment['spec']['template']['spec']) == []
    # The CRDs serve: the samples apply into the watched namespace, as their comments say.
    for sample in ('clusterprocluster.yaml', 'jobcentersite-classic.yaml'):
        ok(standin_server.kubectl('apply', '-n', 'jobcenter-operator', '-f', str(SAMPLES / sample)))
    assert get(standin_server, 'jcs', 'cluv', '-n', 'jobcenter-operator')['spec']['clusterRef']['name'] == 'jc-cluster'
    binding = get(standin_server, 'rolebinding', 'jobcenter-operator', '-n', 'jobcenter-operator')
    assert binding['subjects'][0]['namespace'] == 'jobcenter-operator'


def test_a_namespace_overlay_moves_the_operator_and_what_it_watches(standin_server: StandInProcess,
                                                                    tmp_path: pathlib.Path) -> None:
    apply_install(standin_server, overlay(tmp_path, 'default', 'jc-elsewhere'))
    deployment, namespaces = watched(standin_server, 'jc-elsewhere')
    assert namespaces == ['jc-elsewhere']
    assert violations(deployment['spec']['template']['spec']) == []
    assert get(standin_server, 'namespace', 'jc-elsewhere')['metadata']['labels'][
        'pod-security.kubernetes.io/enforce'] == 'restricted'
    for kind in ('serviceaccount', 'role', 'rolebinding', 'networkpolicy'):
        assert get(standin_server, kind, 'jobcenter-operator', '-n', 'jc-elsewhere')
    for binding in (get(standin_server, 'rolebinding', 'jobcenter-operator', '-n', 'jc-elsewhere'),
                    get(standin_server, 'clusterrolebinding', 'jobcenter-operator-discovery')):
        assert binding['subjects'] == [{'kind': 'ServiceAccount', 'name': 'jobcenter-operator',
                                        'namespace': 'jc-elsewhere'}]
    # Nothing was left behind in the default install's namespace.
    assert standin_server.kubectl('get', 'deployment', '-n', 'jobcenter-operator', '-o', 'name').stdout == ''


def test_clusterwide_install_watches_every_namespace(standin_server: StandInProcess, tmp_path: pathlib.Path) -> None:
    apply_install(standin_server, overlay(tmp_path, 'clusterwide', 'jc-ops'))
    deployment, namespaces = watched(standin_server, 'jc-ops')
    assert namespaces is None
    assert violations(deployment['spec']['template']['spec']) == []
    binding = get(standin_server, 'clusterrolebinding', 'jobcenter-operator')
    assert binding['roleRef']['kind'] == 'ClusterRole'
    assert binding['subjects'] == [{'kind': 'ServiceAccount', 'name': 'jobcenter-operator', 'namespace': 'jc-ops'}]
    assert standin_server.kubectl('get', 'role', '-n', 'jc-ops', '-o', 'name').stdout == ''
