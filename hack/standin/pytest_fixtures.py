"""pytest fixtures for the stand-in; import them in a conftest.py::

    from hack.standin.pytest_fixtures import standin_crds_dir, standin_server  # noqa: F401

``standin_server`` runs ``python -m hack.standin`` as a subprocess with its kubeconfig and kubectl cache
under tmp_path (never ~/.kube) and stops it with SIGTERM after the test. Override the fixture
``standin_crds_dir`` to pre-load other CRDs (default: the project's crds/ directory, if it has any).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
KUBECTL = os.environ.get('KUBECTL', 'kubectl')


@dataclasses.dataclass
class StandInProcess:
    url: str
    kubeconfig: pathlib.Path
    env: Mapping[str, str]  # KUBECONFIG, KUBECACHEDIR and HOME (all under the test's directory)
    process: subprocess.Popen[str]

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 30,
                ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the stand-in (not checked: look at returncode/stdout/stderr)."""
        return subprocess.run([KUBECTL, *args], env=dict(self.env), input=input, capture_output=True,
                              text=True, timeout=timeout, check=False)


def start_standin(workdir: pathlib.Path, crds_dir: pathlib.Path | None = None,
                  timeout: float = 10) -> StandInProcess:
    """Start the stand-in subprocess and wait for its ready line (bounded by timeout)."""
    kubeconfig = workdir / 'kubeconfig'
    cmd = [sys.executable, '-m', 'hack.standin', '--port', '0', '--kubeconfig', str(kubeconfig)]
    if crds_dir is not None:
        cmd += ['--crds', str(crds_dir)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    stdout = process.stdout
    assert stdout is not None
    ready: list[str] = []
    # A thread bounds the wait for the ready line: readline() itself has no timeout.
    reader = threading.Thread(target=lambda: ready.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not ready or not ready[0].strip():
        process.kill()
        process.wait()
        raise RuntimeError(f'the stand-in did not become ready in {timeout} s (exit code {process.returncode})')
    info = json.loads(ready[0])
    # HOME too: whatever a client would write under ~ (e.g. ~/.kube) lands in the test's directory.
    home = workdir / 'home'
    home.mkdir(exist_ok=True)
    client_env = dict(os.environ, KUBECONFIG=info['kubeconfig'], KUBECACHEDIR=str(workdir / 'kubecache'),
                      HOME=str(home))
    return StandInProcess(url=info['url'], kubeconfig=pathlib.Path(info['kubeconfig']), env=client_env,
                          process=process)


def stop_standin(standin: StandInProcess, timeout: float = 10) -> int:
    standin.process.terminate()
    try:
        return standin.process.wait(timeout)
    except subprocess.TimeoutExpired:
        standin.process.kill()
        return standin.process.wait()


@pytest.fixture()
def standin_crds_dir() -> pathlib.Path | None:
    crds = REPO / 'crds'
    return crds if crds.is_dir() and any(crds.glob('*.yaml')) else None


@pytest.fixture()
def standin_server(tmp_path: pathlib.Path, standin_crds_dir: pathlib.Path | None) -> Iterator[StandInProcess]:
    standin = start_standin(tmp_path, standin_crds_dir)
    try:
        yield standin
    finally:
        code = stop_standin(standin)
        assert code == 0, f'the stand-in exited with {code} on SIGTERM'
