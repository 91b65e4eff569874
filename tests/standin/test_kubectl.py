"""The kubectl transcript of feasibility B.4, against the stand-in subprocess and the project's CRDs."""

from __future__ import annotations

import contextlib
import json
import pathlib
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from hack.standin.pytest_fixtures import KUBECTL, StandInProcess

REPO = pathlib.Path(__file__).resolve().parents[2]
SITE_CRD = REPO / 'crds' / 'jobcenter.clusterpro.io_jobcentersites.yaml'
SAMPLE = REPO / 'manifests' / 'samples' / 'jobcentersite-classic.yaml'

pytestmark = pytest.mark.skipif(shutil.which(KUBECTL) is None, reason='kubectl is not installed')


@pytest.fixture()
def standin_crds_dir() -> pathlib.Path | None:
    return None  # start empty: the transcript applies the CRDs itself


@pytest.fixture()
def site_files() -> tuple[dict[str, Any], dict[str, Any]]:
    if not SITE_CRD.exists() or not SAMPLE.exists():
        pytest.skip('the project CRDs or samples are not generated yet')
    return yaml.safe_load(SITE_CRD.read_text()), yaml.safe_load(SAMPLE.read_text())


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f'kubectl failed ({result.returncode}): {result.stderr}'
    return result.stdout


def expected_headers(crd: dict[str, Any], wide: bool = False) -> list[str]:
    columns = crd['spec']['versions'][0]['additionalPrinterColumns']
    names = [c['name'].upper() for c in columns if wide or not c.get('priority')]
    return ['NAME', *names] if 'AGE' in names else ['NAME', *names, 'AGE']


def table(text: str) -> list[list[str]]:
    """Split kubectl's column output (columns are separated by at least 2 spaces... or 3 for empty cells)."""
    lines = text.rstrip('\n').splitlines()
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != ' ' and (i == 0 or header[i - 1] == ' ')]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [[line[a:b].strip() for a, b in bounds] for line in lines]


class WatchReader:
    """Collects the JSON documents kubectl prints while watching, with bounded waits."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        decoder, buffer = json.JSONDecoder(), ''
        for line in self.process.stdout:
            buffer += line
            try:
                doc, end = decoder.raw_decode(buffer.strip())
            except ValueError:
                continue
            self.events.put(doc)
            buffer = buffer.strip()[end:]

    def next(self, timeout: float = 10) -> dict[str, Any]:
        return self.events.get(timeout=timeout)


@contextlib.contextmanager
def kubectl_watch(standin: StandInProcess, *args: str) -> Iterator[WatchReader]:
    process = subprocess.Popen([KUBECTL, 'get', *args, '-w', '-o', 'json', '--output-watch-events'],
                               env=dict(standin.env), stdout=subprocess.PIPE, text=True)
    try:
        yield WatchReader(process)
    finally:
        process.terminate()
        process.wait(10)


def test_kubectl_transcript(standin_server: StandInProcess, site_files: tuple[dict[str, Any], dict[str, Any]],
                            tmp_path: pathlib.Path) -> None:
    crd, sample = site_files
    k = standin_server.kubectl
    out = ok(k('apply', '-f', str(REPO / 'crds')))
    assert 'customresourcedefinition.apiextensions.k8s.io/jobcentersites.jobcenter.clusterpro.io created' in out
    ok(k('wait', '--for', 'condition=established', '--timeout=10s', f'crd/{crd["metadata"]["name"]}'))

    assert 'jobcentersite.jobcenter.clusterpro.io/cluv created' in ok(k('apply', '-f', str(SAMPLE)))
    rows = table(ok(k('get', 'jcs')))
    assert rows[0] == expected_headers(crd)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row['NAME'], row['MODE'], row['GROUP']) == ('cluv', 'Classic', sample['spec']['failoverGroup'])

    status = {'activeNode': 'node1', 'conditions': [
        {'type': 'Ready', 'status': 'True', 'reason': 'Reconciled', 'message': 'all good',
         'lastTransitionTime': '2026-01-01T00:00:00Z'}]}
    ok(k('patch', 'jcs', 'cluv', '--subresource=status', '--type=merge', '-p', json.dumps({'status': status})))
    rows = table(ok(k('get', 'jobcentersites', '-o', 'wide')))
    assert rows[0] == expected_headers(crd, wide=True)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row['ACTIVE'], row['READY'], row['REASON'], row['MESSAGE']) == ('node1', 'True', 'Reconciled', 'all good')

    obj = yaml.safe_load(ok(k('get', 'jcs', 'cluv', '-o', 'yaml')))
    assert obj['metadata']['generation'] == 1 and obj['metadata']['uid'] and obj['status']['activeNode'] == 'node1'
    assert obj['spec']['machineId'] == sample['spec']['machineId']

    changed = yaml.safe_load(SAMPLE.read_text())
    changed['spec']['processMonitoring'] = not sample['spec']['processMonitoring']
    (tmp_path / 'changed.yaml').write_text(yaml.safe_dump(changed))
    assert 'replaced' in ok(k('replace', '-f', str(tmp_path / 'changed.yaml')))
    obj = yaml.safe_load(ok(k('get', 'jcs', 'cluv', '-o', 'yaml')))
    assert obj['metadata']['generation'] == 2 and obj['status']['activeNode'] == 'node1'

    ok(k('label', 'jcs', 'cluv', 'tier=hpc'))
    assert table(ok(k('get', 'jcs', '-l', 'tier=hpc')))[1][0] == 'cluv'
    assert 'No resources found' in k('get', 'jcs', '-l', 'tier=other').stderr

    explained = ok(k('explain', 'jcs.spec'))
    description = crd['spec']['versions'][0]['schema']['openAPIV3Schema']['properties']['spec']['properties'][
        'clusterRef']['description']
    assert 'KIND:       JobCenterSite' in explained and 'clusterRef' in explained
    assert ' '.join(description.split()[:4]) in ' '.join(explained.split())

    assert 'deleted' in ok(k('delete', 'jcs', 'cluv', '--timeout=10s'))
    assert k('get', 'jcs', 'cluv').returncode != 0


def test_kubectl_watch_events(standin_server: StandInProcess,
                              site_files: tuple[dict[str, Any], dict[str, Any]]) -> None:
    k = standin_server.kubectl
    ok(k('apply', '-f', str(REPO / 'crds')))
    ok(k('wait', '--for', 'condition=established', '--timeout=10s', 'crd/jobcentersites.jobcenter.clusterpro.io'))
    ok(k('apply', '-f', str(SAMPLE)))
    with kubectl_watch(standin_server, 'jcs') as watch:
        event = watch.next()  # the initial list, printed once the watch is set up
        assert event['type'] == 'ADDED' and event['object']['metadata']['name'] == 'cluv'
        ok(k('patch', 'jcs', 'cluv', '--subresource=status', '--type=merge', '-p', '{"status":{"activeNode":"n2"}}'))
        event = watch.next()
        assert event['type'] == 'MODIFIED' and event['object']['status']['activeNode'] == 'n2'
        ok(k('delete', 'jcs', 'cluv'))
        event = watch.next()
        assert event['type'] == 'DELETED' and event['object']['metadata']['name'] == 'cluv'


@pytest.mark.parametrize(('change', 'field', 'text'), [
    (lambda spec: spec.update(machineId=0), 'spec.machineId', 'should be greater than or equal to 1'),
    (lambda spec: spec.pop('databasePath'), 'spec.databasePath', 'Required value'),
    (lambda spec: spec.update(floatingIP='10.0.0.1; rm -rf /'), 'spec.floatingIP', 'Invalid value'),
])
def test_kubectl_apply_refuses_bad_manifests(standin_server: StandInProcess,
                                             site_files: tuple[dict[str, Any], dict[str, Any]],
                                             tmp_path: pathlib.Path, change: Any, field: str, text: str) -> None:
    k = standin_server.kubectl
    ok(k('apply', '-f', str(REPO / 'crds')))
    ok(k('wait', '--for', 'condition=established', '--timeout=10s', 'crd/jobcentersites.jobcenter.clusterpro.io'))
    bad = yaml.safe_load(SAMPLE.read_text())
    change(bad['spec'])
    (tmp_path / 'bad.yaml').write_text(yaml.safe_dump(bad))
    result = k('apply', '-f', str(tmp_path / 'bad.yaml'))
    assert result.returncode != 0
    assert 'is invalid' in result.stderr and field in result.stderr and text in result.stderr, result.stderr
    assert k('get', 'jcs', 'cluv').returncode != 0  # nothing was stored
