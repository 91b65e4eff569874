"""kubectl against the stand-in subprocess, as a new user would type it: Secrets written with stringData
(the sample), `kubectl create secret|configmap`, `kubectl get events`, strict field validation."""

from __future__ import annotations

import base64
import pathlib
import shutil
import subprocess

import kubernetes
import pytest
import yaml

from hack.standin.pytest_fixtures import KUBECTL, StandInProcess

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE_SECRET = REPO / 'manifests' / 'samples' / 'secret-ssh-credentials.yaml'
SAMPLE_SITE = REPO / 'manifests' / 'samples' / 'jobcentersite-classic.yaml'

pytestmark = pytest.mark.skipif(shutil.which(KUBECTL) is None, reason='kubectl is not installed')


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f'kubectl failed ({result.returncode}): {result.stderr}'
    return result.stdout


def test_sample_secret_with_string_data_reads_back_as_data(standin_server: StandInProcess) -> None:
    """End to end: `kubectl apply` the shipped sample (stringData), a client reads `data` (base64)."""
    manifest = yaml.safe_load(SAMPLE_SECRET.read_text())
    assert manifest['stringData'] and 'data' not in manifest  # the sample is written as GitOps repos do
    ok(standin_server.kubectl('apply', '-f', str(SAMPLE_SECRET)))
    client = kubernetes.config.new_client_from_config(config_file=str(standin_server.kubeconfig))
    try:
        secret = kubernetes.client.CoreV1Api(client).read_namespaced_secret(manifest['metadata']['name'], 'default')
    finally:
        client.close()
    assert secret.string_data is None and secret.type == 'Opaque'
    decoded = {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}
    assert decoded == manifest['stringData']

    # Changing one key through `kubectl apply` again keeps the others (a 3-way merge patch of stringData).
    manifest['stringData']['known_hosts'] = '192.168.0.111 ssh-ed25519 AAAAnew\n'
    ok(standin_server.kubectl('apply', '-f', '-', input=yaml.safe_dump(manifest)))
    data = yaml.safe_load(ok(standin_server.kubectl('get', 'secret', manifest['metadata']['name'], '-o', 'yaml')))
    assert base64.b64decode(data['data']['known_hosts']).decode() == manifest['stringData']['known_hosts']
    assert base64.b64decode(data['data']['ssh-privatekey']).decode() == manifest['stringData']['ssh-privatekey']


def test_kubectl_create_secret_and_configmap(standin_server: StandInProcess, tmp_path: pathlib.Path) -> None:
    key = tmp_path / 'id_ed25519'
    key.write_text('-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----\n')
    k = standin_server.kubectl
    assert 'secret/jc-ssh created' in ok(k('create', 'secret', 'generic', 'jc-ssh', f'--from-file=ssh-privatekey={key}',
                                           '--from-literal=password=s3cret'))
    secret = yaml.safe_load(ok(k('get', 'secret', 'jc-ssh', '-o', 'yaml')))
    assert base64.b64decode(secret['data']['ssh-privatekey']).decode() == key.read_text()
    assert base64.b64decode(secret['data']['password']).decode() == 's3cret' and secret['type'] == 'Opaque'
    ok(k('create', 'configmap', 'jc-conf', '--from-literal=mode=Classic', '-n', 'default'))
    assert ok(k('get', 'configmap', 'jc-conf', '-o', 'jsonpath={.data.mode}')) == 'Classic'
    refused = k('create', 'secret', 'generic', 'Bad_Name', '--from-literal=a=b')
    assert refused.returncode != 0 and 'a lowercase RFC 1123 subdomain' in refused.stderr


def test_kubectl_get_events_columns(standin_server: StandInProcess) -> None:
    event = {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': 'cluv.17a'}, 'type': 'Normal',
             'reason': 'Ready', 'message': 'site running on node1', 'count': 1,
             'involvedObject': {'kind': 'JobCenterSite', 'name': 'cluv', 'namespace': 'default'},
             'source': {'component': 'jobcenter-operator'}, 'firstTimestamp': '2026-01-01T00:00:00Z',
             'lastTimestamp': '2026-01-01T00:00:00Z'}
    ok(standin_server.kubectl('apply', '-f', '-', input=yaml.safe_dump(event)))
    lines = ok(standin_server.kubectl('get', 'events')).splitlines()
    assert lines[0].split() == ['LAST', 'SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']
    assert lines[1].split()[1:] == ['Normal', 'Ready', 'jobcentersite/cluv', 'site', 'running', 'on', 'node1']
    wide = ok(standin_server.kubectl('get', 'events', '-o', 'wide')).splitlines()[0]
    assert wide.split() == ['LAST', 'SEEN', 'TYPE', 'REASON', 'OBJECT', 'SUBOBJECT', 'SOURCE', 'MESSAGE', 'FIRST',
                            'SEEN', 'COUNT', 'NAME']


def test_kubectl_apply_strict_field_validation_and_re2(standin_server: StandInProcess) -> None:
    k = standin_server.kubectl
    site = yaml.safe_load(SAMPLE_SITE.read_text())
    site['spec']['bogusField'] = 1
    refused = k('apply', '-f', '-', input=yaml.safe_dump(site))
    assert refused.returncode != 0
    assert ('JobCenterSite in version "v1alpha1" cannot be handled as a JobCenterSite: strict decoding error: '
            'unknown field "spec.bogusField"') in refused.stderr
    del site['spec']['bogusField']
    site['spec']['failoverGroup'] += '\n'  # Go's $ is the very end: refused like the real server does
    refused = k('apply', '-f', '-', input=yaml.safe_dump(site))
    assert refused.returncode != 0 and 'spec.failoverGroup: Invalid value: "failover-jc\\n"' in refused.stderr
    secret = {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 's1'}, 'stringData': {'a': 'b'}, 'foo': 1}
    refused = k('apply', '-f', '-', input=yaml.safe_dump(secret))
    assert refused.returncode != 0 and 'strict decoding error: unknown field "foo"' in refused.stderr
