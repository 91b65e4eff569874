"""coordination.k8s.io/v1 Leases as the operator's replicas use them (issue 16): discovery, create
conflicts, optimistic concurrency on update, set-based label selectors, delete. The stand-in stores
built-in kinds as given; these are the server behaviours the lease loop relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hack.standin import KubeStandIn

LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases'

pytestmark = pytest.mark.kmock(cls=KubeStandIn)


async def call(api: KubeStandIn, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    async with api.request(method, path, data=data) as resp:
        return resp.status, await resp.json()


def lease(name: str, holder: str, role: str = 'shard', **meta: Any) -> dict[str, Any]:
    return {'apiVersion': 'coordination.k8s.io/v1', 'kind': 'Lease',
            'metadata': {'name': name, 'labels': {'jobcenter.clusterpro.io/lease': role}, **meta},
            'spec': {'holderIdentity': holder, 'leaseDurationSeconds': 15,
                     'renewTime': '2026-11-30T02:00:00.000001Z'}}


async def test_leases_are_discovered(kmock: KubeStandIn) -> None:
    status, body = await call(kmock, 'GET', '/apis/coordination.k8s.io/v1')
    assert status == 200
    assert any(r['name'] == 'leases' and r['namespaced'] for r in body['resources'])


async def test_two_replicas_racing_for_a_lease_cannot_both_win(kmock: KubeStandIn) -> None:
    status, created = await call(kmock, 'POST', LEASES, lease('shard-0', 'op-0'))
    assert status == 201
    status, body = await call(kmock, 'POST', LEASES, lease('shard-0', 'op-1'))
    assert (status, body['reason']) == (409, 'AlreadyExists')
    rv = created['metadata']['resourceVersion']
    renewal = lease('shard-0', 'op-0', resourceVersion=rv)
    renewal['spec']['renewTime'] = '2026-11-30T02:00:01.000001Z'
    status, renewed = await call(kmock, 'PUT', f'{LEASES}/shard-0', renewal)
    assert status == 200
    assert renewed['metadata']['resourceVersion'] != rv
    # op-1 read the Lease before op-0 renewed it: its takeover carries the old resourceVersion
    taken = lease('shard-0', 'op-1', resourceVersion=rv)
    taken['spec']['renewTime'] = '2026-11-30T02:00:02.000001Z'
    status, body = await call(kmock, 'PUT', f'{LEASES}/shard-0', taken)
    assert (status, body['reason']) == (409, 'Conflict')
    status, body = await call(kmock, 'GET', f'{LEASES}/shard-0')
    assert body['spec']['holderIdentity'] == 'op-0'
    assert body['metadata']['resourceVersion'] == renewed['metadata']['resourceVersion']


async def test_one_list_selects_members_and_shards_and_delete_removes(kmock: KubeStandIn) -> None:
    for name, role in (('m-op-0', 'member'), ('shard-0', 'shard'), ('other', 'something-else')):
        assert (await call(kmock, 'POST', LEASES, lease(name, 'op-0', role)))[0] == 201
    selector = 'jobcenter.clusterpro.io/lease%20in%20(member,shard)'
    status, body = await call(kmock, 'GET', f'{LEASES}?labelSelector={selector}')
    assert status == 200
    assert sorted(i['metadata']['name'] for i in body['items']) == ['m-op-0', 'shard-0']
    assert (await call(kmock, 'DELETE', f'{LEASES}/m-op-0'))[0] == 200
    status, body = await call(kmock, 'GET', f'{LEASES}?labelSelector={selector}')
    assert status == 200
    assert [i['metadata']['name'] for i in body['items']] == ['shard-0']
