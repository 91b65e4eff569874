"""The command line: ready line, kubeconfig, pre-loaded CRDs, clean exit on SIGTERM and SIGINT."""

from __future__ import annotations

import json
import pathlib
import signal
import urllib.request

import pytest
import yaml

from hack.standin.pytest_fixtures import start_standin
from hack.standin.server import DUMMY_TOKEN

DATA = pathlib.Path(__file__).parent / 'data'


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_preloaded_crds_and_stops_cleanly(tmp_path: pathlib.Path, sig: signal.Signals) -> None:
    standin = start_standin(tmp_path, DATA)
    try:
        config = yaml.safe_load(standin.kubeconfig.read_text())
        assert config['clusters'][0]['cluster']['server'] == standin.url
        assert config['users'][0]['user']['token'] == DUMMY_TOKEN
        assert standin.url.startswith('http://127.0.0.1:')
        url = f'{standin.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.test.standin.io'
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310  # the local stand-in
            crd = json.loads(resp.read())
        assert {c['type'] for c in crd['status']['conditions']} == {'Established', 'NamesAccepted'}
    finally:
        standin.process.send_signal(sig)
        code = standin.process.wait(10)
    assert code == 0
