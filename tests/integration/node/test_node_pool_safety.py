"""Issue 12, holes 4, 5 and 10 against real sshds: host keys are remembered per (cluster, host,
port), a recorded fingerprint survives an address change, and stale or idle connections close."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncssh
import pytest
from node_sshd import Sshd, free_port

from jobcenter_operator.errors import HostKeyMismatch
from jobcenter_operator.handlers import _pin_recorded_host_keys
from jobcenter_operator.node import NodeAddress, NodePool, SSHCredentials, Timeouts
from jobcenter_operator.reconcile import ClusterAccess


def fp(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


@pytest.fixture
def other_sshd(tmp_path: Path, client_key: asyncssh.SSHKey) -> Iterator[Sshd]:
    """A second node with a host key of its own."""
    server = Sshd(workdir=tmp_path / "sshd2", port=free_port(), client_key=client_key,
                  host_key=asyncssh.generate_private_key("ssh-ed25519"))
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def pool() -> AsyncIterator[NodePool]:
    p = NodePool()
    try:
        yield p
    finally:
        await p.close()


def accept_new(creds: SSHCredentials) -> SSHCredentials:
    return dataclasses.replace(creds, known_hosts="", host_key_policy="AcceptNew")


async def test_two_clusters_with_the_same_node_names_keep_their_own_fingerprints(
    sshd: Sshd, other_sshd: Sshd, pool: NodePool, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    a = NodeAddress(name="clu1", host="127.0.0.1", port=sshd.port, cluster="ns/a")
    b = NodeAddress(name="clu1", host="127.0.0.1", port=other_sshd.port, cluster="ns/b")
    await pool.run(a, accept_new(creds), timeouts, ["true"])
    await pool.run(b, accept_new(creds), timeouts, ["true"])
    assert pool.host_key_fingerprint(a) == fp(sshd.host_key)
    assert pool.host_key_fingerprint(b) == fp(other_sshd.host_key), "b's status must never show a's key"
    # The same host seen by another cluster is not vouched for by the first one's trust.
    c = dataclasses.replace(a, cluster="ns/c")
    assert pool.host_key_fingerprint(c) is None


async def test_a_recorded_fingerprint_is_kept_when_the_address_changes(
    sshd: Sshd, other_sshd: Sshd, pool: NodePool, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    """AcceptNew: clu1 was trusted at one address; its spec now names another host with another
    key. A changed address is not a new host: the recorded fingerprint is enforced there."""
    before = NodeAddress(name="clu1", host="127.0.0.1", port=sshd.port, cluster="ns/a")
    await pool.run(before, accept_new(creds), timeouts, ["true"])
    recorded = {"clu1": fp(sshd.host_key)}
    moved = dataclasses.replace(before, port=other_sshd.port)
    _pin_recorded_host_keys(pool, ClusterAccess(nodes=(moved,), creds=accept_new(creds), timeouts=timeouts),
                            recorded)
    with pytest.raises(HostKeyMismatch) as info:
        await pool.run(moved, accept_new(creds), timeouts, ["true"])
    assert fp(sshd.host_key) in info.value.message and fp(other_sshd.host_key) in info.value.message


async def test_connections_with_stale_credentials_are_closed(
    sshd: Sshd, pool: NodePool, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    node = NodeAddress(name="clu1", host="127.0.0.1", port=sshd.port, cluster="ns/a")
    await pool.run(node, creds, timeouts, ["true"])
    rotated = dataclasses.replace(creds, known_hosts=creds.known_hosts + "\n# rotated\n")
    await pool.run(node, rotated, timeouts, ["true"])
    stats = pool.stats()
    assert stats["connects_total"] == 2 and stats["connections_open"] == 1
    assert stats["connections_closed_stale"] == 1
    # Another cluster naming the same node keeps its own connection.
    await pool.run(dataclasses.replace(node, cluster="ns/b"), creds, timeouts, ["true"])
    assert pool.stats()["connections_open"] == 2 and pool.stats()["connections_closed_stale"] == 1


async def test_idle_connections_are_evicted(sshd: Sshd, other_sshd: Sshd, creds: SSHCredentials,
                                            timeouts: Timeouts) -> None:
    pool = NodePool(idle_seconds=0)  # every connection not in use is idle for the next run
    try:
        gone = NodeAddress(name="clu1", host="127.0.0.1", port=sshd.port, cluster="ns/deleted")
        other = NodeAddress(name="clu1", host="127.0.0.1", port=other_sshd.port, cluster="ns/b")
        await pool.run(gone, accept_new(creds), timeouts, ["true"])
        await pool.run(other, accept_new(creds), timeouts, ["true"])
        stats = pool.stats()
        assert stats["connections_open"] == 1 and stats["connections_closed_idle"] == 1
    finally:
        await pool.close()
