"""Running the stand-in on a TCP port: in-process (``serve``) and the kubeconfig that points at it."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator

import kmock
import yaml

from hack.standin.emulator import KubeStandIn

DUMMY_TOKEN = 'standin-dummy-token'  # noqa: S105  # not a secret: the stand-in accepts any token


@contextlib.asynccontextmanager
async def serve(port: int = 0, crds_dir: str | pathlib.Path | None = None, host: str = '127.0.0.1',
                ) -> AsyncIterator[tuple[str, KubeStandIn]]:
    """Serve a fresh KubeStandIn on host:port (0 = any free port); yield (base URL, emulator)."""
    async with KubeStandIn() as standin, kmock.Server(standin, host=host, port=port or None) as server:
        if crds_dir is not None:
            standin.load_crds(crds_dir)
        yield str(server.url).rstrip('/'), standin


def kubeconfig(url: str, namespace: str = 'default') -> dict[str, object]:
    return {
        'apiVersion': 'v1', 'kind': 'Config', 'preferences': {},
        'clusters': [{'name': 'standin', 'cluster': {'server': url}}],
        'users': [{'name': 'standin', 'user': {'token': DUMMY_TOKEN}}],
        'contexts': [{'name': 'standin', 'context': {'cluster': 'standin', 'user': 'standin',
                                                     'namespace': namespace}}],
        'current-context': 'standin',
    }


def write_kubeconfig(path: str | pathlib.Path, url: str) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(url), sort_keys=False))
    path.chmod(0o600)
    return path
