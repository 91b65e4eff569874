"""A kopf operator (in kopf.testing.KopfRunner) against the stand-in subprocess."""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import kmock
import pytest
from kopf.testing import KopfRunner

from hack.standin import KubeStandIn
from hack.standin.pytest_fixtures import StandInProcess

DATA = pathlib.Path(__file__).parent / 'data'
BASE = '/apis/test.standin.io/v1/namespaces/default/widgets'
WIDGETS = kmock.resource('test.standin.io', 'v1', 'widgets')


@pytest.fixture()
def standin_crds_dir() -> pathlib.Path:
    return DATA  # the Widget test CRD


def http(url: str, method: str = 'GET', body: Any = None, content_type: str = 'application/json',
         ) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    assert url.startswith('http://127.0.0.1:')  # only ever the local stand-in
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310
                                     headers={'Content-Type': content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310  # local stand-in URL
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    """Poll a condition with a deadline (the operator's reaction time is not fixed)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.05)


def test_kopf_operator_handles_create_update_delete(standin_server: StandInProcess,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = standin_server.url
    monkeypatch.setenv('STANDIN_URL', url)

    def phase() -> str | None:
        status, obj = http(f'{url}{BASE}/w1')
        return obj.get('status', {}).get('phase') if status == 200 else None

    args = ['run', '--standalone', '--namespace', 'default', str(DATA / 'widget_operator.py')]
    with KopfRunner(args, timeout=60) as runner:
        widget = {'apiVersion': 'test.standin.io/v1', 'kind': 'Widget', 'metadata': {'name': 'w1'},
                  'spec': {'machineId': 3, 'clusterName': 'c1'}}
        assert http(f'{url}{BASE}', 'POST', widget)[0] == 201
        wait_for(lambda: phase() == 'created-3', 'the create handler to write status')
        _, obj = http(f'{url}{BASE}/w1')
        assert 'test.standin.io/finalizer' in obj['metadata']['finalizers']

        status, _ = http(f'{url}{BASE}/w1', 'PATCH', {'spec': {'machineId': 4}}, 'application/merge-patch+json')
        assert status == 200
        wait_for(lambda: phase() == 'updated-4', 'the update handler to write status')
        _, obj = http(f'{url}{BASE}/w1')
        assert obj['status']['observedGeneration'] == obj['metadata']['generation'] == 2

        assert http(f'{url}{BASE}/w1', 'DELETE')[0] == 200
        wait_for(lambda: http(f'{url}{BASE}/w1')[0] == 404, 'the delete handler to release the finalizer')

    assert runner.exit_code == 0, runner.output
    assert runner.exception is None
    for handler in ('created', 'updated', 'deleted'):
        assert f"Handler '{handler}' succeeded" in runner.output, runner.output
    assert 'widget w1 is gone' in runner.output
    assert 'APIServerError' not in runner.output and 'Traceback' not in runner.output


@pytest.mark.kmock(cls=KubeStandIn)
async def test_kopf_operator_against_the_inprocess_fixture(kmock: KubeStandIn, monkeypatch: pytest.MonkeyPatch,
                                                           ) -> None:
    """The same operator against kmock's own fixture, in the test's event loop.

    The runner's thread must never be joined from the loop (the server would stall), hence to_thread.
    """
    kmock.load_crds(DATA)
    monkeypatch.setenv('STANDIN_URL', str(kmock.url).rstrip('/'))
    widget = {'apiVersion': 'test.standin.io/v1', 'kind': 'Widget', 'metadata': {'name': 'w1'},
              'spec': {'machineId': 7, 'clusterName': 'c1'}}
    runner = KopfRunner(['run', '--standalone', '--namespace', 'default', str(DATA / 'widget_operator.py')],
                        timeout=60)
    await asyncio.to_thread(runner.__enter__)
    try:
        async with kmock.post(BASE, json=widget) as resp:
            assert resp.status == 201
        deadline = asyncio.get_running_loop().time() + 15
        while (kmock.get_object(WIDGETS, 'default', 'w1') or {}).get('status', {}).get('phase') != 'created-7':
            assert asyncio.get_running_loop().time() < deadline, 'the create handler never wrote status'
            await asyncio.sleep(0.05)
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)
    assert runner.exit_code == 0, runner.output
    # kmock's request assertions still work on top of the stand-in:
    assert kmock['patch'][kmock.subresource('status')], 'kopf never patched /status'
    assert kmock.objects[WIDGETS, 'default', 'w1'] >= {'status': {'phase': 'created-7'}}
