"""API-server behaviour of KubeStandIn, in-process through kmock's own fixture and an aiohttp client."""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import kmock
import pytest
import yaml

from hack.standin import KubeStandIn
from hack.standin.crds import CRDS

DATA = pathlib.Path(__file__).parent / 'data'
WIDGETS_CRD: dict[str, Any] = yaml.safe_load((DATA / 'widgets-crd.yaml').read_text())
WIDGETS = kmock.resource('test.standin.io', 'v1', 'widgets')
BASE = '/apis/test.standin.io/v1/namespaces/default/widgets'
MERGE = {'Content-Type': 'application/merge-patch+json'}
JSON_PATCH = {'Content-Type': 'application/json-patch+json'}
TABLE = {'Accept': 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'}

pytestmark = pytest.mark.kmock(cls=KubeStandIn)


@pytest.fixture()
async def api(kmock: KubeStandIn) -> AsyncIterator[KubeStandIn]:
    kmock.create_object(CRDS, WIDGETS_CRD)
    yield kmock


def widget(name: str = 'w1', **spec: Any) -> dict[str, Any]:
    return {'apiVersion': 'test.standin.io/v1', 'kind': 'Widget', 'metadata': {'name': name},
            'spec': {'machineId': 3, 'clusterName': 'c1', **spec}}


async def call(api: KubeStandIn, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
               ) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    async with api.request(method, path, data=data, headers=headers or {}) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def test_core_discovery_and_namespaces(api: KubeStandIn) -> None:
    status, body = await call(api, 'GET', '/api/v1')
    assert status == 200 and body['groupVersion'] == 'v1'
    ns_entry = next(r for r in body['resources'] if r['name'] == 'namespaces')
    assert ns_entry['shortNames'] == ['ns'] and ns_entry['namespaced'] is False
    status_entry = next(r for r in body['resources'] if r['name'] == 'namespaces/status')
    assert status_entry.get('shortNames', []) == []  # subresources must not inherit short names
    status, body = await call(api, 'GET', '/api/v1/namespaces')
    assert status == 200 and body['kind'] == 'NamespaceList'
    assert {'default', 'kube-system'} <= {item['metadata']['name'] for item in body['items']}
    status, body = await call(api, 'GET', '/api/v1/namespaces/default')
    assert status == 200 and body['metadata']['name'] == 'default' and body['status'] == {'phase': 'Active'}


async def test_crd_registers_its_resource_and_is_established(api: KubeStandIn) -> None:
    status, body = await call(api, 'GET', '/apis/test.standin.io/v1')
    assert status == 200 and body['groupVersion'] == 'test.standin.io/v1'
    entry = next(r for r in body['resources'] if r['name'] == 'widgets')
    assert entry | {'verbs': None} == {
        'name': 'widgets', 'singularName': 'widget', 'kind': 'Widget', 'namespaced': True, 'verbs': None,
        'shortNames': ['wdg'], 'categories': ['standin']}
    assert any(r['name'] == 'widgets/status' for r in body['resources'])
    status, crd = await call(api, 'GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/'
                                         'widgets.test.standin.io')
    conditions = {c['type']: c['status'] for c in crd['status']['conditions']}
    assert conditions == {'Established': 'True', 'NamesAccepted': 'True'}


async def test_create_stamps_server_fields(api: KubeStandIn) -> None:
    status, obj = await call(api, 'POST', BASE, widget())
    assert status == 201
    meta = obj['metadata']
    assert meta['namespace'] == 'default' and meta['generation'] == 1
    assert meta['uid'] and meta['creationTimestamp'].endswith('Z') and int(meta['resourceVersion']) > 0
    assert obj['spec']['mode'] == 'active'  # schema default
    status, again = await call(api, 'POST', BASE, widget())
    assert status == 409 and again['reason'] == 'AlreadyExists'
    status, generated = await call(api, 'POST', BASE, {**widget(), 'metadata': {'generateName': 'w-'}})
    assert status == 201 and generated['metadata']['name'].startswith('w-') and len(generated['metadata']['name']) == 7
    status, listing = await call(api, 'GET', BASE)
    assert listing['kind'] == 'WidgetList' and listing['apiVersion'] == 'test.standin.io/v1'
    assert int(listing['metadata']['resourceVersion']) >= int(generated['metadata']['resourceVersion'])
    assert [i['metadata']['name'] for i in listing['items']] == sorted([generated['metadata']['name'], 'w1'])


async def test_generation_status_isolation_and_noop(api: KubeStandIn) -> None:
    _, created = await call(api, 'POST', BASE, {**widget(), 'status': {'phase': 'ignored-on-create'}})
    assert 'status' not in created
    _, obj = await call(api, 'PATCH', f'{BASE}/w1/status', {'status': {'phase': 'Ready'}, 'spec': {'machineId': 9}},
                        MERGE)
    assert obj['status'] == {'phase': 'Ready'} and obj['spec']['machineId'] == 3 and obj['metadata']['generation'] == 1
    _, obj = await call(api, 'PATCH', f'{BASE}/w1', {'status': {'phase': 'Hacked'}, 'spec': {'machineId': 4}}, MERGE)
    assert obj['status'] == {'phase': 'Ready'} and obj['spec']['machineId'] == 4 and obj['metadata']['generation'] == 2
    _, labelled = await call(api, 'PATCH', f'{BASE}/w1', {'metadata': {'labels': {'a': 'b'}}}, MERGE)
    assert labelled['metadata']['generation'] == 2  # metadata changes do not bump generation
    _, same = await call(api, 'PATCH', f'{BASE}/w1', {'spec': {'machineId': 4}}, MERGE)
    assert same['metadata']['resourceVersion'] == labelled['metadata']['resourceVersion']  # no-op: no new rv


async def test_optimistic_concurrency(api: KubeStandIn) -> None:
    _, obj = await call(api, 'POST', BASE, widget())
    rv = obj['metadata']['resourceVersion']
    status, body = await call(api, 'PATCH', f'{BASE}/w1', [
        {'op': 'test', 'path': '/metadata/resourceVersion', 'value': rv},
        {'op': 'add', 'path': '/metadata/finalizers', 'value': ['x/y']}], JSON_PATCH)
    assert status == 200 and body['metadata']['finalizers'] == ['x/y']
    status, body = await call(api, 'PATCH', f'{BASE}/w1', [
        {'op': 'test', 'path': '/metadata/resourceVersion', 'value': rv},
        {'op': 'remove', 'path': '/metadata/finalizers'}], JSON_PATCH)
    assert status == 422 and body['reason'] == 'Invalid'  # kopf treats 422 as a conflict, 500 as a crash
    stale_patch = {'metadata': {'resourceVersion': rv}, 'spec': {'mode': 'standby'}}
    status, body = await call(api, 'PATCH', f'{BASE}/w1', stale_patch, MERGE)
    assert status == 409 and body['reason'] == 'Conflict'
    stale = {**widget(), 'metadata': {'name': 'w1', 'resourceVersion': rv}}
    status, body = await call(api, 'PUT', f'{BASE}/w1', stale)
    assert status == 409


async def test_put_replaces_but_keeps_identity_and_status(api: KubeStandIn) -> None:
    _, obj = await call(api, 'POST', BASE, widget(mode='standby'))
    await call(api, 'PATCH', f'{BASE}/w1/status', {'status': {'phase': 'Ready'}}, MERGE)
    status, put = await call(api, 'PUT', f'{BASE}/w1', widget(machineId=5))
    assert status == 200
    assert put['metadata']['uid'] == obj['metadata']['uid']
    assert put['metadata']['creationTimestamp'] == obj['metadata']['creationTimestamp']
    assert put['spec'] == {'machineId': 5, 'clusterName': 'c1', 'mode': 'active', 'nodes': []}
    assert put['status'] == {'phase': 'Ready'} and put['metadata']['generation'] == 2


async def test_admission_422_names_the_field(api: KubeStandIn) -> None:
    status, body = await call(api, 'POST', BASE, widget(machineId=0))
    assert status == 422 and body['kind'] == 'Status' and body['reason'] == 'Invalid'
    assert body['message'] == ('Widget.test.standin.io "w1" is invalid: spec.machineId: Invalid value: 0: '
                               'spec.machineId in body should be greater than or equal to 1')
    assert body['details']['causes'] == [{
        'reason': 'FieldValueInvalid', 'field': 'spec.machineId',
        'message': 'Invalid value: 0: spec.machineId in body should be greater than or equal to 1'}]
    await call(api, 'POST', BASE, widget())
    status, body = await call(api, 'PATCH', f'{BASE}/w1', {'spec': {'clusterName': 'other'}}, MERGE)
    assert status == 422 and body['details']['causes'][0]['field'] == 'spec.clusterName'  # transition rule


async def test_unknown_fields_strict_and_warn(api: KubeStandIn) -> None:
    status, body = await call(api, 'POST', f'{BASE}?fieldValidation=Strict', widget(bogus=1))
    assert status == 400 and 'unknown field "spec.bogus"' in body['message']
    async with api.post(BASE, data=json.dumps(widget(bogus=1))) as resp:
        assert resp.status == 201 and 'unknown field \\"spec.bogus\\"' in resp.headers['Warning']
        assert 'bogus' not in (await resp.json())['spec']  # pruned


async def test_table_from_printer_columns(api: KubeStandIn) -> None:
    await call(api, 'POST', BASE, widget(mode='standby'))
    await call(api, 'PATCH', f'{BASE}/w1/status', {'status': {'phase': 'Ready'}}, MERGE)
    status, table = await call(api, 'GET', BASE, headers=TABLE)
    assert status == 200 and table['kind'] == 'Table' and table['apiVersion'] == 'meta.k8s.io/v1'
    assert [c['name'] for c in table['columnDefinitions']] == ['Name', 'Mode', 'Machine', 'Phase', 'Age']
    cells = table['rows'][0]['cells']
    assert cells[:4] == ['w1', 'standby', 3, 'Ready'] and cells[4].endswith('s')
    assert table['rows'][0]['object']['kind'] == 'PartialObjectMetadata'
    _, single = await call(api, 'GET', f'{BASE}/w1', headers=TABLE)
    assert single['kind'] == 'Table' and len(single['rows']) == 1


async def test_openapi_v3_lets_kubectl_delegate_validation(api: KubeStandIn) -> None:
    _, index = await call(api, 'GET', '/openapi/v3')
    url = index['paths']['apis/test.standin.io/v1']['serverRelativeURL']
    assert '?hash=' in url
    _, doc = await call(api, 'GET', url)
    patch_ops = [item['patch'] for path, item in doc['paths'].items() if 'patch' in item and path.endswith('{name}')]
    gvk = {'group': 'test.standin.io', 'version': 'v1', 'kind': 'Widget'}
    assert any(op['x-kubernetes-group-version-kind'] == gvk and
               any(p['name'] == 'fieldValidation' and p['in'] == 'query' for p in op['parameters'])
               for op in patch_ops)
    schema = doc['components']['schemas']['io.standin.test.v1.Widget']
    assert schema['properties']['spec']['description'] == 'Desired widget.'


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while len(events) < count:
            line = await resp.content.readline()
            assert line, 'the watch stream ended early'
            events.append(json.loads(line))
    return events


async def test_watch_streams_json_and_resumes(api: KubeStandIn) -> None:
    _, first = await call(api, 'POST', BASE, widget('w1'))
    rv_after_first = first['metadata']['resourceVersion']
    await call(api, 'POST', BASE, widget('w2'))
    async with api.get(f'{BASE}?watch=true') as resp:
        assert resp.headers['Content-Type'].startswith('application/json')
        events = await read_events(resp, 2)
        assert [(e['type'], e['object']['metadata']['name']) for e in events] == [('ADDED', 'w1'), ('ADDED', 'w2')]
        await call(api, 'PATCH', f'{BASE}/w1/status', {'status': {'phase': 'Ready'}}, MERGE)
        (event,) = await read_events(resp, 1)
        assert event['type'] == 'MODIFIED' and event['object']['status'] == {'phase': 'Ready'}
    async with api.get(f'{BASE}?watch=true&resourceVersion={rv_after_first}') as resp:
        events = await read_events(resp, 2)  # only what happened after rv_after_first, no synthetic ADDED
        assert [(e['type'], e['object']['metadata']['name']) for e in events] == [('ADDED', 'w2'), ('MODIFIED', 'w1')]
    async with api.get(f'{BASE}?watch=true&fieldSelector=metadata.name%3Dw2&timeoutSeconds=1') as resp:
        events = await read_events(resp, 1)
        assert events[0]['object']['metadata']['name'] == 'w2'
        assert await resp.content.read() == b''  # the server ends the stream after timeoutSeconds


@pytest.mark.kmock(cls=KubeStandIn, event_log_limit=3)
async def test_watch_from_an_expired_version_gets_410(api: KubeStandIn) -> None:
    for i in range(5):
        await call(api, 'POST', BASE, widget(f'w{i}'))
    async with api.get(f'{BASE}?watch=true&resourceVersion=1') as resp:
        (event,) = await read_events(resp, 1)
        assert event['type'] == 'ERROR' and event['object']['code'] == 410


async def test_selectors(api: KubeStandIn) -> None:
    for name, tier in [('w1', 'a'), ('w2', 'b'), ('w3', 'a')]:
        await call(api, 'POST', BASE, {**widget(name), 'metadata': {'name': name, 'labels': {'tier': tier}}})
    _, found = await call(api, 'GET', f'{BASE}?labelSelector=tier%3Da')
    assert [i['metadata']['name'] for i in found['items']] == ['w1', 'w3']
    _, found = await call(api, 'GET', f'{BASE}?labelSelector=tier!%3Da')
    assert [i['metadata']['name'] for i in found['items']] == ['w2']
    _, found = await call(api, 'GET', f'{BASE}?labelSelector=tier+in+(a,b),tier!%3Db')
    assert [i['metadata']['name'] for i in found['items']] == ['w1', 'w3']
    _, found = await call(api, 'GET', f'{BASE}?fieldSelector=metadata.name%3Dw2')
    assert [i['metadata']['name'] for i in found['items']] == ['w2']


async def test_protobuf_bodies_get_a_clear_415(api: KubeStandIn) -> None:
    async with api.post('/api/v1/namespaces/default/configmaps', data=b'k8s\x00\x0a',
                        headers={'Content-Type': 'application/vnd.kubernetes.protobuf'}) as resp:
        body = await resp.json()
        assert resp.status == 415 and 'protobuf' in body['message'] and 'application/json' in body['message']


async def test_finalizers_and_crd_deletion(api: KubeStandIn) -> None:
    await call(api, 'POST', BASE, {**widget(), 'metadata': {'name': 'w1', 'finalizers': ['x/y']}})
    status, marked = await call(api, 'DELETE', f'{BASE}/w1')
    assert status == 200 and marked['metadata']['deletionTimestamp']
    assert (await call(api, 'GET', f'{BASE}/w1'))[0] == 200
    await call(api, 'PATCH', f'{BASE}/w1', {'metadata': {'finalizers': None}}, MERGE)
    assert (await call(api, 'GET', f'{BASE}/w1'))[0] == 404
    await call(api, 'POST', BASE, widget('w2'))
    status, _ = await call(api, 'DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/'
                                          'widgets.test.standin.io')
    assert status == 200
    assert (await call(api, 'GET', BASE))[0] == 404
    assert api.get_object(WIDGETS, 'default', 'w2') is None


async def test_namespaced_create_needs_the_namespace(api: KubeStandIn) -> None:
    status, body = await call(api, 'POST', '/apis/test.standin.io/v1/namespaces/nope/widgets', widget())
    assert status == 404 and body['message'] == 'namespaces "nope" not found'
    status, body = await call(api, 'POST', BASE, {**widget(), 'metadata': {'name': 'Bad_Name'}})
    assert status == 422 and body['details']['causes'][0]['field'] == 'metadata.name'


@pytest.mark.kmock(cls=KubeStandIn, history_limit=3, request_log_limit=10, tombstone_limit=2,
                   k8s_events_limit=5)
async def test_memory_stays_bounded(api: KubeStandIn) -> None:
    await call(api, 'POST', BASE, widget())
    for i in range(20):
        await call(api, 'PATCH', f'{BASE}/w1/status', {'status': {'phase': f'p{i}'}}, MERGE)
    assert len(api.objects[WIDGETS, 'default', 'w1'].history) <= 3
    assert len(list(api)) <= 20  # kmock's request log (kept between limit and 2x limit)
    for i in range(6):
        await call(api, 'POST', BASE, widget(f'x{i}'))
        await call(api, 'DELETE', f'{BASE}/x{i}')
    assert sum(1 for key in api.objects if key[2].startswith('x')) <= 2
    events = kmock.resource('', 'v1', 'events')
    for _ in range(8):
        await call(api, 'POST', '/api/v1/namespaces/default/events',
                   {'metadata': {'generateName': 'ev-'}, 'reason': 'Test', 'message': 'x'})
    _, listing = await call(api, 'GET', '/api/v1/namespaces/default/events')
    assert len(listing['items']) == 5 and events in api.resources


async def test_server_side_apply_creates_then_merges(api: KubeStandIn) -> None:
    apply = {'Content-Type': 'application/apply-patch+yaml'}
    status, obj = await call(api, 'PATCH', f'{BASE}/w1?fieldManager=test', widget(), apply)
    assert status == 201 and obj['metadata']['generation'] == 1
    status, obj = await call(api, 'PATCH', f'{BASE}/w1?fieldManager=test', widget(machineId=6), apply)
    assert status == 200 and obj['spec']['machineId'] == 6 and obj['metadata']['generation'] == 2
