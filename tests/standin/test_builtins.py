"""What kube-apiserver does that users rely on, in-process: Secret stringData, names, unknown fields,
RE2 patterns, the Events table. Each test states the real server's behaviour it mirrors."""

from __future__ import annotations

import base64
import json
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest
import yaml

from hack.standin import KubeStandIn, admission, cel
from hack.standin.crds import CRDS

DATA = pathlib.Path(__file__).parent / 'data'
WIDGETS_CRD: dict[str, Any] = yaml.safe_load((DATA / 'widgets-crd.yaml').read_text())
SECRETS = '/api/v1/namespaces/default/secrets'
WIDGETS = '/apis/test.standin.io/v1/namespaces/default/widgets'
MERGE = {'Content-Type': 'application/merge-patch+json'}
STRATEGIC = {'Content-Type': 'application/strategic-merge-patch+json'}
APPLY = {'Content-Type': 'application/apply-patch+yaml'}
TABLE = {'Accept': 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'}

pytestmark = pytest.mark.kmock(cls=KubeStandIn)


@pytest.fixture()
async def api(kmock: KubeStandIn) -> AsyncIterator[KubeStandIn]:
    kmock.create_object(CRDS, WIDGETS_CRD)
    yield kmock


async def call(api: KubeStandIn, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
               ) -> tuple[int, Any, Any]:
    data = None if body is None else json.dumps(body)
    async with api.request(method, path, data=data, headers=headers or {}) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None, resp.headers.get('Warning')


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str = 's1', **fields: Any) -> dict[str, Any]:
    return {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': name}, **fields}


# ------------------------------------------------------------------------------------------ Secrets


async def test_secret_string_data_is_merged_into_data_on_create(api: KubeStandIn) -> None:
    status, body, _ = await call(api, 'POST', SECRETS, secret(
        data={'user': b64('root'), 'key': b64('old')}, stringData={'key': 'new', 'known_hosts': 'h1 ssh-ed25519 A\n'}))
    assert status == 201
    # stringData wins for a key in both, is stored base64 in data and is never returned or stored.
    assert body['data'] == {'user': b64('root'), 'key': b64('new'), 'known_hosts': b64('h1 ssh-ed25519 A\n')}
    assert 'stringData' not in body and body['type'] == 'Opaque'
    stored = api.get_object(kmock.resource('', 'v1', 'secrets'), 'default', 's1')
    assert stored is not None and 'stringData' not in stored and stored['data'] == body['data']


@pytest.mark.parametrize(('method', 'headers'), [('PATCH', MERGE), ('PATCH', STRATEGIC), ('PATCH', APPLY),
                                                 ('PUT', {})])
async def test_secret_string_data_on_update_patch_and_apply(api: KubeStandIn, method: str,
                                                            headers: dict[str, str]) -> None:
    status, created, _ = await call(api, 'POST', SECRETS, secret(stringData={'password': 'one', 'keep': 'k'}))
    assert status == 201
    change = (dict(created, stringData={'password': 'two'}) if method == 'PUT'
              else {'stringData': {'password': 'two'}})
    status, body, _ = await call(api, method, f'{SECRETS}/s1', change, headers)
    assert status == 200, body
    assert base64.b64decode(body['data']['password']).decode() == 'two'
    assert body['data']['keep'] == b64('k') and 'stringData' not in body
    status, read, _ = await call(api, 'GET', f'{SECRETS}/s1')
    assert read['data'] == body['data'] and 'stringData' not in read


async def test_secret_refuses_bad_base64_and_bad_keys(api: KubeStandIn) -> None:
    status, body, _ = await call(api, 'POST', SECRETS, secret(data={'a': 'not base64!'}))
    assert status == 400 and body['message'].startswith('Secret in version "v1" cannot be handled as a Secret')
    status, body, _ = await call(api, 'POST', SECRETS, secret(stringData={'a/b': 'x'}))
    assert status == 422
    assert body['details']['causes'][0]['field'] == 'data[a/b]'
    assert "a valid config key must consist of alphanumeric characters, '-', '_' or '.'" in body['message']


# ------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize('name', ['Upper', 'under_score', 'trailing-', 'new\nline', 'x' * 254])
async def test_names_are_dns_subdomains(api: KubeStandIn, name: str) -> None:
    status, body, _ = await call(api, 'POST', SECRETS, secret(name, stringData={'a': 'b'}))
    assert status == 422 and body['reason'] == 'Invalid'
    assert body['details']['causes'][0]['field'] == 'metadata.name'
    assert body['message'].startswith(f'Secret {json.dumps(name)} is invalid: metadata.name: Invalid value:')
    status, body, _ = await call(api, 'POST', WIDGETS, {
        'apiVersion': 'test.standin.io/v1', 'kind': 'Widget', 'metadata': {'name': name},
        'spec': {'machineId': 3, 'clusterName': 'c1'}})
    assert status == 422 and body['details']['causes'][0]['field'] == 'metadata.name'


async def test_name_rules_per_kind(api: KubeStandIn) -> None:
    dotted = secret('a.b.c', stringData={'a': 'b'})
    assert (await call(api, 'POST', SECRETS, dotted))[0] == 201  # a subdomain may have dots
    status, body, _ = await call(api, 'POST', '/api/v1/namespaces', {
        'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'a.b'}})
    assert status == 422 and 'a lowercase RFC 1123 label must consist of' in body['message']
    status, body, _ = await call(api, 'POST', '/api/v1/namespaces/default/services', {
        'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': '1abc'}})
    assert status == 422 and 'a DNS-1035 label must consist of' in body['message']
    status, body, _ = await call(api, 'POST', SECRETS, {**secret(''), 'metadata': {'generateName': 'Bad-'}})
    assert status == 422 and body['details']['causes'][0]['field'] == 'metadata.generateName'
    status, body, _ = await call(api, 'POST', SECRETS, {**secret(''), 'metadata': {'generateName': 'good-'}})
    assert status == 201 and body['metadata']['name'].startswith('good-')


# ------------------------------------------------------------------------------------------ unknown fields


async def test_unknown_fields_strict_is_400_default_warns_and_drops(api: KubeStandIn) -> None:
    bad = {**secret('s1', stringData={'a': 'b'}), 'foo': 1, 'metadata': {'name': 's1', 'bogus': 2}}
    status, body, _ = await call(api, 'POST', f'{SECRETS}?fieldValidation=Strict', bad)
    assert status == 400 and body['reason'] == 'BadRequest'
    assert body['message'] == ('Secret in version "v1" cannot be handled as a Secret: strict decoding error: '
                               'unknown field "metadata.bogus", unknown field "foo"')
    # Without the parameter a real server uses Warn: the request succeeds, the fields are dropped.
    status, body, warning = await call(api, 'POST', SECRETS, bad)
    assert status == 201 and 'foo' not in body and 'bogus' not in body['metadata']
    assert warning is not None and 'unknown field \\"foo\\"' in warning and 'metadata.bogus' in warning
    widget = {'apiVersion': 'test.standin.io/v1', 'kind': 'Widget', 'metadata': {'name': 'w1', 'bogus': 1},
              'spec': {'machineId': 3, 'clusterName': 'c1'}}
    status, body, _ = await call(api, 'POST', f'{WIDGETS}?fieldValidation=Strict', widget)
    assert status == 400 and 'unknown field "metadata.bogus"' in body['message']
    status, body, warning = await call(api, 'POST', WIDGETS, widget)
    assert status == 201 and 'bogus' not in body['metadata'] and warning is not None


# ------------------------------------------------------------------------------------------ RE2


def test_patterns_have_go_semantics() -> None:
    crd = {'spec': {'versions': [{'name': 'v1', 'served': True, 'storage': True, 'schema': {'openAPIV3Schema': {
        'type': 'object', 'properties': {'spec': {'type': 'object', 'properties': {
            'group': {'type': 'string', 'pattern': '^[A-Za-z0-9][-A-Za-z0-9_]{0,30}$'},
            'digits': {'type': 'string', 'pattern': r'^\d+$'},
            'alpha': {'type': 'string', 'pattern': '^[[:alpha:]]+$'},
        }}}}}}]}}

    def errors(**spec: str) -> list[str]:
        return [str(e) for e in admission.admit(crd, {'apiVersion': 'x/v1', 'spec': spec})[1]]

    assert errors(group='failover-jc') == []
    # Python's re would accept these: its $ matches before a final newline, its \d any Unicode digit.
    assert errors(group='failover-jc\n') == [
        'spec.group: Invalid value: "failover-jc\\n": spec.group in body should match '
        "'^[A-Za-z0-9][-A-Za-z0-9_]{0,30}$'"]
    assert len(errors(digits='١٢٣')) == 1
    assert errors(alpha='abc') == []  # POSIX classes are RE2 syntax (Python's re has none)


def test_cel_matches_is_re2() -> None:
    assert cel.to_python(cel.evaluate("self.matches('^a$')", {'self': cel.to_cel('a', {'type': 'string'})}))
    assert not cel.to_python(cel.evaluate("self.matches('^a$')", {'self': cel.to_cel('a\n', {'type': 'string'})}))


# ------------------------------------------------------------------------------------------ Events table


async def test_events_table_has_kubectl_columns(api: KubeStandIn) -> None:
    event = {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': 'cluv.1'}, 'type': 'Warning',
             'reason': 'Stalled', 'message': ' AuthenticationFailed: node1: refused ',
             'involvedObject': {'kind': 'JobCenterSite', 'name': 'cluv', 'namespace': 'default'},
             'source': {'component': 'jobcenter-operator'}, 'count': 2,
             'firstTimestamp': '2026-01-01T00:00:00Z', 'lastTimestamp': '2026-01-01T00:00:00Z'}
    assert (await call(api, 'POST', '/api/v1/namespaces/default/events', event))[0] == 201
    status, body, _ = await call(api, 'GET', '/api/v1/namespaces/default/events', headers=TABLE)
    assert status == 200 and body['kind'] == 'Table'
    shown = [c['name'] for c in body['columnDefinitions'] if c['priority'] == 0]
    assert shown == ['Last Seen', 'Type', 'Reason', 'Object', 'Message']
    cells = dict(zip([c['name'] for c in body['columnDefinitions']], body['rows'][0]['cells'], strict=True))
    assert (cells['Type'], cells['Reason'], cells['Object']) == ('Warning', 'Stalled', 'jobcentersite/cluv')
    assert cells['Message'] == 'AuthenticationFailed: node1: refused' and cells['Count'] == 2
    assert cells['Source'] == 'jobcenter-operator' and cells['Last Seen'].endswith(('d', 'y'))


# ------------------------------------------------------------------------------------------ watch-list


async def test_watch_list_sends_initial_events_then_a_bookmark(api: KubeStandIn) -> None:
    """kubectl >= 1.35 `wait` watches with sendInitialEvents=true and waits for the end bookmark."""
    assert (await call(api, 'POST', SECRETS, secret('s1', stringData={'a': 'b'})))[0] == 201
    query = ('?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan'
             '&timeoutSeconds=1&resourceVersion=')
    async with api.request('GET', SECRETS + query) as resp:
        lines = [json.loads(line) for line in (await resp.text()).splitlines() if line.strip()]
    assert [e['type'] for e in lines] == ['ADDED', 'BOOKMARK']
    assert lines[0]['object']['metadata']['name'] == 's1'
    bookmark = lines[1]['object']['metadata']
    assert bookmark['annotations'] == {'k8s.io/initial-events-end': 'true'}
    assert bookmark['resourceVersion'] == str(api.resource_version)


async def test_crd_with_a_pattern_re2_refuses_is_invalid(api: KubeStandIn) -> None:
    crd = json.loads(json.dumps(WIDGETS_CRD).replace('"widgets', '"gadgets').replace('"Widget', '"Gadget')
                     .replace('"widget"', '"gadget"'))
    spec_schema = crd['spec']['versions'][0]['schema']['openAPIV3Schema']['properties']['spec']
    spec_schema['properties']['clusterName']['pattern'] = '^(?!kube-).*$'  # a lookahead: Python has it, Go not
    status, body, _ = await call(api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)
    assert status == 422, body
    cause = body['details']['causes'][0]
    assert cause['field'].endswith('.properties[spec].properties[clusterName].pattern')
    assert "must be a valid regular expression, but isn't: error parsing regexp" in cause['message']
