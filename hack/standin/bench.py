"""Measure the stand-in: start-up time, and request latencies with N stored objects.

    python -m hack.standin.bench [--objects 200] [--rounds 50]

Prints one JSON object (milliseconds). The in-process server is measured through a real HTTP client,
so the numbers include aiohttp on both sides. The subprocess start-up time (python -m hack.standin,
until the ready line) is measured separately, because that is what a CI job or a demo pays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
import yaml

from hack.standin.crds import CRDS
from hack.standin.server import serve

REPO = pathlib.Path(__file__).resolve().parents[2]
WIDGETS_CRD = REPO / 'tests' / 'standin' / 'data' / 'widgets-crd.yaml'
BASE = '/apis/test.standin.io/v1/namespaces/default/widgets'


def subprocess_startup_seconds() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, '-m', 'hack.standin', '--port', '0', '--kubeconfig', f'{tmp}/kubeconfig',
             '--crds', str(REPO / 'crds') if any((REPO / 'crds').glob('*.yaml')) else str(WIDGETS_CRD.parent)],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        process.stdout.readline()
        elapsed = time.monotonic() - started
        process.terminate()
        process.wait(10)
        return elapsed


async def timed(session: aiohttp.ClientSession, method: str, url: str, rounds: int, **kwargs: Any) -> float:
    """Median latency in ms over rounds requests."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        async with session.request(method, url, **kwargs) as resp:
            await resp.read()
            assert resp.status < 300, (resp.status, await resp.text())
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


async def measure(objects: int, rounds: int) -> dict[str, Any]:
    started = time.perf_counter()
    async with serve() as (url, standin):
        inprocess_start_ms = (time.perf_counter() - started) * 1000
        standin.create_object(CRDS, yaml.safe_load(WIDGETS_CRD.read_text()))
        async with aiohttp.ClientSession() as session:
            create_started = time.perf_counter()
            for i in range(objects):
                body = {'apiVersion': 'test.standin.io/v1', 'kind': 'Widget', 'metadata': {'name': f'w{i}'},
                        'spec': {'machineId': 1 + i % 10, 'clusterName': 'c1'}}
                async with session.post(url + BASE, json=body) as resp:
                    assert resp.status == 201, await resp.text()
            create_ms = (time.perf_counter() - create_started) * 1000 / objects
            merge = {'Content-Type': 'application/merge-patch+json'}
            table = {'Accept': 'application/json;as=Table;v=v1;g=meta.k8s.io'}
            return {
                'objects': objects,
                'inprocess_start_ms': round(inprocess_start_ms, 2),
                'create_ms_avg': round(create_ms, 2),
                'get_ms': await timed(session, 'GET', f'{url}{BASE}/w7', rounds),
                'status_patch_ms': await timed(session, 'PATCH', f'{url}{BASE}/w7/status', rounds,
                                               data=json.dumps({'status': {'phase': 'x'}}), headers=merge),
                'list_ms': await timed(session, 'GET', f'{url}{BASE}', max(5, rounds // 5)),
                'list_table_ms': await timed(session, 'GET', f'{url}{BASE}', max(5, rounds // 5), headers=table),
                'stored_versions_total': sum(len(o.history) for o in standin.objects.values()),
            }


def main() -> int:
    parser = argparse.ArgumentParser(prog='python -m hack.standin.bench')
    parser.add_argument('--objects', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(measure(args.objects, args.rounds))
    result['subprocess_start_s'] = round(subprocess_startup_seconds(), 3)
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
