from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from node_sshd import SSHD, Sshd, free_port

from jobcenter_operator.node import NodeAddress, SSHCredentials, Timeouts

if os.geteuid() != 0:
    pytest.skip("node integration tests need root (sshd, login as root)", allow_module_level=True)
if not (os.path.exists(SSHD) and os.access(SSHD, os.X_OK)) or shutil.which("sh") is None:
    pytest.skip(f"{SSHD} not installed", allow_module_level=True)


@pytest.fixture(scope="session")
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def sshd(tmp_path: Path, client_key: asyncssh.SSHKey) -> Iterator[Sshd]:
    server = Sshd(
        workdir=tmp_path / "sshd",
        port=free_port(),
        client_key=client_key,
        host_key=asyncssh.generate_private_key("ssh-ed25519"),
    )
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def node(sshd: Sshd) -> NodeAddress:
    return NodeAddress(name="sv1", host="127.0.0.1", port=sshd.port)


@pytest.fixture
def creds(sshd: Sshd, client_key: asyncssh.SSHKey) -> SSHCredentials:
    return SSHCredentials(
        user="root",
        private_key=client_key.export_private_key("openssh"),
        passphrase=None,
        password=None,
        known_hosts=sshd.host_key_line,
        host_key_policy="Strict",
        become="None",
    )


@pytest.fixture
def timeouts() -> Timeouts:
    return Timeouts(connect=5, login=5, command=30, keepalive_interval=5, keepalive_count_max=3)
