"""NodePool against a real OpenSSH sshd on 127.0.0.1 (see node_sshd.py for the fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from node_sshd import Sshd, free_port, kill_by_cmdline

from jobcenter_operator.errors import (
    AuthenticationFailed,
    CommandFailed,
    HostKeyMismatch,
    Timeout,
    Unreachable,
)
from jobcenter_operator.node import (
    BatchItem,
    CommandResult,
    NodeAddress,
    NodePool,
    SSHCredentials,
    Timeouts,
)

# Remote sleeps get a unique duration, so a test cleaning up by command line can never hit
# another (parallel) run's processes.
_RUN = f"{os.getpid() % 100000:05d}"
SLEEP_TIMEOUT = f"30.1{_RUN}"
SLEEP_CANCEL = f"30.2{_RUN}"
SLEEP_FROZEN = f"59.3{_RUN}"

HOSTILE = [
    "a; rm -rf / $(x) `y` 'q' \"d\"\n",
    "",
    " leading and trailing ",
    "$HOME ${PATH} ~ * ? [a] {b,c} | & > < ! #",
    "line1\nline2\r\n\ttab",
    "-n",
    "--",
    "unicode: ジョブセンター ✓",
    "back\\slash\\",
    "'",
    '"',
]


@pytest.fixture
async def pool() -> AsyncIterator[NodePool]:
    p = NodePool()
    try:
        yield p
    finally:
        await p.close()


def fp(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def accepted_logins(sshd: Sshd) -> int:
    return sshd.log_text().count("Accepted publickey for root")


# --------------------------------------------------------------------------- commands


async def test_command_runs_and_argv_arrives_intact(
    sshd: Sshd, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []
    pool = NodePool(observer=lambda n, a: seen.append((n, a)))
    try:
        result = await pool.run(node, creds, timeouts, ["printf", "%s\\0", *HOSTILE])
    finally:
        await pool.close()
    assert isinstance(result, CommandResult)
    assert result.exit_status == 0
    assert result.stdout.split("\0")[:-1] == HOSTILE
    assert result.node == "sv1"
    assert result.argv == ("printf", "%s\\0", *HOSTILE)
    assert result.duration > 0
    assert seen == [("sv1", ("printf", "%s\\0", *HOSTILE))]


async def test_a_batch_is_one_round_trip_each_command_told_and_reported_alone(
    sshd: Sshd, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []
    pool = NodePool(observer=lambda n, a: seen.append((n, a)))
    data = "line 1\n'quoted' $(not run)\n\tno trailing newline ジ"
    items = [BatchItem(("printf", "%s\\0", *HOSTILE)), BatchItem(("cat",), input=data),
             BatchItem(("sh", "-c", "echo nope >&2; exit 7")), BatchItem(("true",))]
    try:
        results = await pool.run_batch(node, creds, timeouts, items)
        assert pool.stats()["commands_total"] == 1, "one session for the four commands"
    finally:
        await pool.close()
    first, second, third = results
    assert isinstance(first, CommandResult) and first.stdout.split("\0")[:-1] == HOSTILE
    assert isinstance(second, CommandResult) and second.stdout == data
    assert isinstance(third, CommandFailed) and third.exit_status == 7 and "nope" in third.stderr
    # the audit shows each command as it started, as if sent alone; the one after the failure never started
    assert seen == [("sv1", item.argv) for item in items[:3]]


async def test_keepalives_run_only_while_a_command_does(
    node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    """An idle cached connection sends no keepalives (issue 15: they outnumbered the drift checks'
    probes); a running command has them, so a dead peer is still noticed within the bound."""
    sent = asyncio.Event()
    pool = NodePool(observer=lambda n, a: sent.set())

    def interval() -> float:
        (entry,) = pool._entries.values()  # the connection the pool keeps
        assert entry.conn is not None
        return float(entry.conn._keepalive_interval)  # asyncssh has no public getter

    try:
        await pool.run(node, creds, timeouts, ["true"])
        assert interval() == 0
        sent.clear()
        running = asyncio.create_task(pool.run(node, creds, timeouts, ["sleep", "1.2347"]))
        await sent.wait()  # the command is being sent
        assert interval() == timeouts.keepalive_interval
        await running
        assert interval() == 0
    finally:
        await pool.close()


async def test_stdin_is_delivered_exactly_and_closed(
    pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    data = "line 1\n'quoted' $(not run)\n\tno trailing newline ジ"
    result = await pool.run(node, creds, timeouts, ["cat"], input=data)
    assert result.stdout == data
    # No input: stdin gets EOF at once, so a reader does not hang.
    result = await pool.run(node, creds, timeouts, ["cat"])
    assert result.stdout == ""
    result = await pool.run(node, creds, timeouts, ["cat"], input="")
    assert result.stdout == ""


async def test_connection_is_reused(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    for i in range(10):
        result = await pool.run(node, creds, timeouts, ["echo", str(i)])
        assert result.stdout == f"{i}\n"
    stats = pool.stats()
    assert stats["connects_total"] == 1
    assert stats["connections_open"] == 1
    assert stats["commands_total"] == 10
    assert accepted_logins(sshd) == 1
    assert pool.host_key_fingerprint(node) == fp(sshd.host_key)
    assert pool.learned_host_keys() == {node.endpoint: fp(sshd.host_key)}


async def test_invalidate_and_dead_connection_reconnect(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    await pool.run(node, creds, timeouts, ["true"])
    await pool.invalidate("sv1")
    await pool.run(node, creds, timeouts, ["true"])
    assert pool.stats()["connects_total"] == 2
    # sshd restarts (same host key): the cached connection is dead; the next command reconnects.
    sshd.stop()
    sshd.start()
    result = await pool.run(node, creds, timeouts, ["echo", "again"])
    assert result.stdout == "again\n"
    assert pool.stats()["connects_total"] == 3
    # sshd.stop() blocked the event loop, so the pool found out only when opening the session.
    assert pool.stats()["reconnects"] == 1


async def test_command_failed_carries_exit_status_and_trimmed_stderr(
    pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    script = 'echo first-line >&2; i=0; while [ $i -lt 200 ]; do printf "err%d " $i >&2; i=$((i+1)); done; exit 3'
    with pytest.raises(CommandFailed) as info:
        await pool.run(node, creds, timeouts, ["sh", "-c", script])
    err = info.value
    assert err.node == "sv1" and err.argv0 == "sh" and err.exit_status == 3
    assert len(err.stderr) <= 300
    assert err.stderr.endswith("err199")
    assert "first-line" not in err.stderr  # the head was cut, the tail kept
    result = await pool.run(node, creds, timeouts, ["sh", "-c", script], check=False)
    assert result.exit_status == 3 and "first-line" in result.stderr


async def test_command_killed_by_signal(
    pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    # sh kills itself (the login shell execs it), so sshd reports exit-signal KILL.
    with pytest.raises(CommandFailed) as info:
        await pool.run(node, creds, timeouts, ["sh", "-c", "kill -9 $$"])
    assert info.value.exit_status == -9  # exit-signal KILL, reported as -signal
    result = await pool.run(node, creds, timeouts, ["sh", "-c", "kill -9 $$"], check=False)
    assert result.exit_status == -9


async def test_command_timeout_closes_channel_and_connection_survives(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    started = time.monotonic()
    try:
        with pytest.raises(Timeout) as info:
            await pool.run(node, creds, timeouts, ["sleep", SLEEP_TIMEOUT], timeout=1.0)
        elapsed = time.monotonic() - started
        # the command's own timeout fired, not early (no upper wall-clock bound: the bench measures speed)
        assert elapsed >= 0.9, elapsed
        assert "did not finish within 1s" in str(info.value), info.value
        assert info.value.node == "sv1"
        assert pool.stats()["commands_in_flight"] == 0
        result = await pool.run(node, creds, timeouts, ["echo", "still here"])
        assert result.stdout == "still here\n"
        assert pool.stats()["connects_total"] == 1
    finally:
        # The channel is closed, but sshd refuses signal requests for root sessions and there is
        # no pty to hang up, so the remote sleep would live on: clean it up here.
        kill_by_cmdline(b"sleep\x00" + SLEEP_TIMEOUT.encode() + b"\x00")


async def test_parallel_commands_on_one_node(
    sshd: Sshd, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    # sshd defaults: MaxSessions 10, MaxStartups 10:30:100.
    pool = NodePool(global_limit=20, per_node_connects=2)
    try:
        results = await asyncio.gather(
            *(pool.run(node, creds, timeouts, ["sh", "-c", 'echo "$1"', "sh", str(i)]) for i in range(40))
        )
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(40)]
        assert pool.stats()["connects_total"] == 1
        assert pool.stats()["commands_in_flight"] == 0
    finally:
        await pool.close()


async def test_parallel_connects_respect_per_node_limit(
    tmp_path: Path, client_key: asyncssh.SSHKey, timeouts: Timeouts
) -> None:
    # 12 distinct node names behind one endpoint = 12 connections. sshd drops unauthenticated
    # connections beyond 4; the pool never has more than 2 connects in flight to the endpoint.
    # (sshd frees a startup slot a moment after auth succeeds, so the limit alone cannot make
    # drops impossible: the bounded retry covers that race.)
    server = Sshd(
        workdir=tmp_path / "sshd",
        port=free_port(),
        client_key=client_key,
        host_key=asyncssh.generate_private_key("ssh-ed25519"),
        extra_config=["MaxStartups 4"],
    )
    server.start()
    pool = NodePool(per_node_connects=2)
    peak = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, pool.stats()["connects_in_flight"])
            await asyncio.sleep(0)

    try:
        creds = SSHCredentials(
            user="root",
            private_key=client_key.export_private_key("openssh"),
            passphrase=None,
            password=None,
            known_hosts=server.host_key_line,
            host_key_policy="Strict",
            become="None",
        )
        nodes = [NodeAddress(name=f"n{i}", host="127.0.0.1", port=server.port) for i in range(12)]
        sampler = asyncio.create_task(sample())
        try:
            results = await asyncio.gather(*(pool.run(n, creds, timeouts, ["true"]) for n in nodes))
        finally:
            done.set()
            await sampler
        assert all(r.exit_status == 0 for r in results)
        assert pool.stats()["connects_total"] == 12
        assert peak == 2
    finally:
        await pool.close()
        server.cleanup()


class ResettingProxy:
    """TCP proxy to sshd that resets the first ``resets`` connections (like MaxStartups drops)."""

    def __init__(self, target_port: int, resets: int) -> None:
        self.target_port = target_port
        self.resets = resets
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.accepted <= self.resets:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            writer.transport.abort()
            return
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except OSError:
                pass
            finally:
                w.close()

        for coro in (pipe(reader, up_w), pipe(up_r, writer)):
            task = asyncio.create_task(coro)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_connect_reset_during_handshake_is_retried(sshd: Sshd, creds: SSHCredentials, timeouts: Timeouts) -> None:
    proxy = ResettingProxy(sshd.port, resets=2)
    port = await proxy.start()
    pool = NodePool()
    try:
        node = NodeAddress(name="sv1", host="127.0.0.1", port=port)
        line = sshd.host_key_line.replace(f"]:{sshd.port} ", f"]:{port} ")
        creds = dataclasses.replace(creds, known_hosts=line)
        result = await pool.run(node, creds, timeouts, ["echo", "ok"])
        assert result.stdout == "ok\n"
        assert pool.stats()["connect_retries"] == 2
        assert pool.stats()["connects_total"] == 1
        # Retries are bounded: a proxy that always resets gives Unreachable.
        await pool.invalidate("sv1")
        proxy.resets = 10**6
        with pytest.raises(Unreachable):
            await pool.run(node, creds, timeouts, ["echo", "ok"])
    finally:
        await pool.close()
        await proxy.close()


# --------------------------------------------------------------------------- host keys


async def test_strict_wrong_key_is_host_key_mismatch_and_nothing_runs(
    sshd: Sshd, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, tmp_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    creds = dataclasses.replace(creds, known_hosts=f"[127.0.0.1]:{sshd.port} {other}")
    seen: list[tuple[str, tuple[str, ...]]] = []
    pool = NodePool(observer=lambda n, a: seen.append((n, a)))
    marker = tmp_path / "marker"
    try:
        with pytest.raises(HostKeyMismatch) as info:
            await pool.run(node, creds, timeouts, ["touch", str(marker)])
    finally:
        await pool.close()
    assert info.value.node == "sv1"
    assert fp(sshd.host_key) in info.value.message
    assert seen == []
    assert not marker.exists()
    assert accepted_logins(sshd) == 0


async def test_strict_unknown_host_is_host_key_mismatch(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    for known_hosts in ("", sshd.host_key_line.replace("[127.0.0.1]", "[10.9.9.9]")):
        with pytest.raises(HostKeyMismatch):
            await pool.run(node, dataclasses.replace(creds, known_hosts=known_hosts), timeouts, ["true"])
    assert pool.stats()["commands_total"] == 0


async def test_accept_new_records_then_enforces(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    creds = dataclasses.replace(creds, known_hosts="", host_key_policy="AcceptNew")
    first_key = sshd.host_key
    await pool.run(node, creds, timeouts, ["true"])
    assert pool.learned_host_keys() == {node.endpoint: fp(first_key)}
    # Reconnect with the same key: still fine.
    await pool.invalidate("sv1")
    await pool.run(node, creds, timeouts, ["true"])
    # The host key changes (same port): the dead connection is replaced, the new key refused.
    sshd.stop()
    sshd.host_key = asyncssh.generate_private_key("ssh-ed25519")
    sshd.start()
    with pytest.raises(HostKeyMismatch) as info:
        await pool.run(node, creds, timeouts, ["true"])
    assert fp(first_key) in info.value.message and fp(sshd.host_key) in info.value.message
    with pytest.raises(HostKeyMismatch):  # stays refused
        await pool.run(node, creds, timeouts, ["true"])
    # A new pool (operator restart) with the fingerprint pinned from status refuses it too.
    pool2 = NodePool()
    try:
        pool2.pin_host_key(node, fp(first_key))
        with pytest.raises(HostKeyMismatch):
            await pool2.run(node, creds, timeouts, ["true"])
    finally:
        await pool2.close()


async def test_accept_new_does_not_override_known_hosts_entry(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    creds = dataclasses.replace(creds, known_hosts=f"[127.0.0.1]:{sshd.port} {other}", host_key_policy="AcceptNew")
    with pytest.raises(HostKeyMismatch):
        await pool.run(node, creds, timeouts, ["true"])
    # ...but a listed key is accepted under AcceptNew as under Strict.
    good = dataclasses.replace(creds, known_hosts=sshd.host_key_line)
    assert (await pool.run(node, good, timeouts, ["true"])).exit_status == 0


# --------------------------------------------------------------------------- authentication


async def test_refused_client_key_is_authentication_failed(
    pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh")
    with pytest.raises(AuthenticationFailed) as info:
        await pool.run(node, dataclasses.replace(creds, private_key=stranger), timeouts, ["true"])
    assert info.value.node == "sv1"
    with pytest.raises(AuthenticationFailed):
        await pool.run(node, dataclasses.replace(creds, private_key=None), timeouts, ["true"])
    with pytest.raises(AuthenticationFailed):
        await pool.run(node, dataclasses.replace(creds, private_key=b"not a key"), timeouts, ["true"])


async def test_encrypted_private_key_with_passphrase(
    pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, client_key: asyncssh.SSHKey
) -> None:
    # PKCS#8 encryption needs only `cryptography`; OpenSSH-format encryption needs bcrypt.
    encrypted = client_key.export_private_key("pkcs8-pem", passphrase="s3cret-phrase")  # noqa: S106
    ok = dataclasses.replace(creds, private_key=encrypted, passphrase="s3cret-phrase")  # noqa: S106
    assert (await pool.run(node, ok, timeouts, ["true"])).exit_status == 0
    bad = dataclasses.replace(creds, private_key=encrypted, passphrase="wrong-phrase")  # noqa: S106
    with pytest.raises(AuthenticationFailed) as info:
        await pool.run(node, bad, timeouts, ["true"])
    assert "wrong-phrase" not in str(info.value)


# --------------------------------------------------------------------------- unreachable / hangs


async def test_nothing_listening_is_unreachable_quickly(
    pool: NodePool, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    node = NodeAddress(name="sv9", host="127.0.0.1", port=free_port())
    with pytest.raises(Unreachable) as info:
        await pool.run(node, creds, timeouts, ["true"])
    # quickly = at once, without retrying (a refused connection is no handshake reset)
    assert pool.stats()["connect_retries"] == 0
    assert info.value.node == "sv9"


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port whose kernel completes the handshake but nobody ever speaks."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield int(s.getsockname()[1])
    finally:
        s.close()


async def test_silent_listener_times_out_within_connect_timeout(
    pool: NodePool, creds: SSHCredentials, silent_listener: int
) -> None:
    node = NodeAddress(name="sv1", host="127.0.0.1", port=silent_listener)
    timeouts = Timeouts(connect=1.0, login=1.0, command=30)
    started = time.monotonic()
    with pytest.raises(Timeout) as info:
        await pool.run(node, creds, timeouts, ["true"])
    elapsed = time.monotonic() - started
    assert elapsed >= 0.9, elapsed  # the connect (or login) timeout, not early
    assert "did not finish within" not in str(info.value), info.value  # not the 30 s command timeout
    assert pool.stats()["connect_retries"] == 0


def _wait_for_remote(sshd: Sshd, needle: bytes, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in sshd.session_pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if needle in f.read():
                        return
            except OSError:
                pass
        time.sleep(0.01)
    raise AssertionError(f"{needle!r} never started on the node")


async def test_peer_stops_answering_new_command_times_out_by_keepalive(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials
) -> None:
    timeouts = Timeouts(connect=2, login=2, command=30, keepalive_interval=0.5, keepalive_count_max=2)
    await pool.run(node, creds, timeouts, ["true"])
    sshd.signal_all(signal.SIGSTOP)  # listener + session processes: the peer freezes
    with pytest.raises(Timeout) as info:
        await pool.run(node, creds, timeouts, ["true"])
    # the keepalive gave up, not the 30 s command timeout
    assert "did not finish within" not in str(info.value), info.value
    assert pool.stats()["connections_open"] == 0


async def test_peer_stops_answering_running_command_times_out_by_keepalive(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials
) -> None:
    timeouts = Timeouts(connect=2, login=2, command=30, keepalive_interval=0.5, keepalive_count_max=2)
    task = asyncio.create_task(pool.run(node, creds, timeouts, ["sleep", SLEEP_FROZEN]))
    await asyncio.to_thread(_wait_for_remote, sshd, SLEEP_FROZEN.encode())
    sshd.signal_all(signal.SIGSTOP)
    with pytest.raises(Timeout) as info:
        await task
    # the keepalive gave up, not the 30 s command timeout
    assert "did not finish within" not in str(info.value), info.value


async def test_peer_stops_answering_without_keepalive_command_timeout_bounds_it(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials
) -> None:
    timeouts = Timeouts(connect=2, login=2, command=1.5, keepalive_interval=0, keepalive_count_max=1)
    await pool.run(node, creds, timeouts, ["true"])
    sshd.signal_all(signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(Timeout) as info:
        await pool.run(node, creds, timeouts, ["true"])
    elapsed = time.monotonic() - started
    assert elapsed >= 1.4, elapsed  # the command timeout bounded it, not early
    assert "did not finish within 1.5s" in str(info.value), info.value
    # The session never opened: the connection is dropped, the next command reconnects.
    assert pool.stats()["connections_open"] == 0


# --------------------------------------------------------------------------- secrets


async def test_secrets_never_reach_logs_or_repr(
    caplog: pytest.LogCaptureFixture,
    pool: NodePool,
    node: NodeAddress,
    creds: SSHCredentials,
    timeouts: Timeouts,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, asyncssh included
    creds = dataclasses.replace(creds, password="pa55word-never-logged")  # noqa: S106
    key_text = (creds.private_key or b"").decode()
    key_body = [line for line in key_text.splitlines() if line and not line.startswith("-----")]
    stdin_secret = "stdin-secret-0123456789abcdef"  # noqa: S105
    await pool.run(node, creds, timeouts, ["cat"], input=stdin_secret)
    with pytest.raises(CommandFailed) as info:
        # a command that echoes its stdin and a private key to stderr, then fails
        await pool.run(
            node,
            creds,
            timeouts,
            ["sh", "-c", 'cat >&2; printf "%s" "$1" >&2; exit 1', "sh", key_text],
            input=stdin_secret + "\n",
        )
    wrong = dataclasses.replace(creds, known_hosts="")
    with pytest.raises(HostKeyMismatch):
        await pool.run(node, wrong, timeouts, ["true"])
    texts = [caplog.text, repr(creds), str(creds), str(info.value), repr(info.value), info.value.stderr]
    for text in texts:
        for body in key_body:
            assert body not in text
        assert "pa55word-never-logged" not in text
        assert stdin_secret not in text
    assert "sv1" in caplog.text and "argv0=cat" in caplog.text


async def test_cancelled_run_closes_its_channel(
    sshd: Sshd, pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    try:
        task = asyncio.create_task(pool.run(node, creds, timeouts, ["sleep", SLEEP_CANCEL]))
        await asyncio.to_thread(_wait_for_remote, sshd, SLEEP_CANCEL.encode())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.stats()["commands_in_flight"] == 0
        assert (await pool.run(node, creds, timeouts, ["echo", "ok"])).stdout == "ok\n"
        assert pool.stats()["connects_total"] == 1
    finally:
        kill_by_cmdline(b"sleep\x00" + SLEEP_CANCEL.encode() + b"\x00")


async def test_home_ssh_files_and_agent_are_never_used(
    sshd: Sshd,
    node: NodeAddress,
    creds: SSHCredentials,
    timeouts: Timeouts,
    client_key: asyncssh.SSHKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A ~/.ssh that would make things work (known host, authorized client key) or break them
    # (wrong port/user in config): none of it may matter.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd.host_key_line)
    (home / ".ssh" / "id_ed25519").write_bytes(client_key.export_private_key("openssh"))
    (home / ".ssh" / "config").write_text("Host *\n  Port 1\n  User nobody\n  StrictHostKeyChecking no\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "no-agent.sock"))
    pool = NodePool()
    try:
        assert (await pool.run(node, creds, timeouts, ["true"])).exit_status == 0  # config ignored
        with pytest.raises(HostKeyMismatch):  # ~/.ssh/known_hosts ignored
            await pool.run(node, dataclasses.replace(creds, known_hosts=""), timeouts, ["true"])
        stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh")
        with pytest.raises(AuthenticationFailed):  # ~/.ssh/id_* ignored
            await pool.run(node, dataclasses.replace(creds, private_key=stranger), timeouts, ["true"])
        with pytest.raises(AuthenticationFailed):  # password only (sshd refuses passwords here)
            await pool.run(
                node,
                dataclasses.replace(creds, private_key=None, password="not-the-password"),  # noqa: S106
                timeouts,
                ["true"],
            )
    finally:
        await pool.close()


def _cipher(pool: NodePool) -> str:
    """The cipher the pool's one cached connection sends with."""
    (entry,) = pool._entries.values()
    assert entry.conn is not None
    return str(entry.conn.get_extra_info("send_cipher"))


async def test_aes_gcm_is_negotiated_where_the_server_offers_it(
    pool: NodePool, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    # OpenSSH offers chacha20-poly1305 first; the client's order decides, and asyncssh's own default
    # would have picked chacha20 (a Python per-packet cipher context: more CPU per drift check).
    await pool.run(node, creds, timeouts, ["true"])
    assert _cipher(pool) == "aes128-gcm@openssh.com"


async def test_a_server_without_gcm_still_gets_chacha20(
    tmp_path: Path, client_key: asyncssh.SSHKey, timeouts: Timeouts
) -> None:
    server = Sshd(workdir=tmp_path / "sshd", port=free_port(), client_key=client_key,
                  host_key=asyncssh.generate_private_key("ssh-ed25519"),
                  extra_config=["Ciphers chacha20-poly1305@openssh.com"])
    server.start()
    pool = NodePool()
    try:
        creds = SSHCredentials(user="root", private_key=client_key.export_private_key("openssh"), passphrase=None,
                               password=None, known_hosts=server.host_key_line, host_key_policy="Strict",
                               become="None")
        result = await pool.run(NodeAddress(name="sv1", host="127.0.0.1", port=server.port), creds, timeouts,
                                ["echo", "ok"])
        assert result.stdout == "ok\n"
        assert _cipher(pool) == "chacha20-poly1305@openssh.com"
    finally:
        await pool.close()
        server.cleanup()


# --------------------------------------------------------------------------- the resident shell (issue 15)


def _resident(argv: tuple[str, ...]) -> bool:
    return argv[0] in ("printf", "sh", "sleep", "pwd")


def _shell_pid(pid: int) -> int | None:
    """The resident shell (``sh -s``) among ``pid`` and its ancestors."""
    while pid > 1:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == b"sh\x00-s\x00":
                    return pid
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None
    return None


async def test_resident_commands_answer_as_exec_requests_do_in_one_shell(
    node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []
    pool, plain = NodePool(observer=lambda n, a: seen.append((n, a)), resident=_resident), NodePool()
    try:
        commands = [["printf", "%s\\0", *HOSTILE], ["sh", "-c", "printf 'no newline'; exit 7"],
                    ["sh", "-c", 'printf "%s\\0" "$0" "$@"', *HOSTILE], ["sh", "-c", 'printf "%s\\0" "$0" "$@"', "x"],
                    ["sh", "-c", "cat; read x; echo \"[$x]\"; cd /; exit 0"], ["pwd"], ["sh", "-c", "echo err >&2"]]
        for argv in commands:
            got = await pool.run(node, creds, timeouts, argv, check=False)
            want = await plain.run(node, creds, timeouts, argv, check=False)
            assert (got.stdout, got.exit_status) == (want.stdout, want.exit_status), argv
        assert got.stderr == "", "a resident command's stderr is not kept"
        shells = {_shell_pid(int((await pool.run(node, creds, timeouts, ["sh", "-c", "echo $PPID"])).stdout))
                  for _ in range(3)}
        assert len(shells) == 1 and None not in shells, "one shell answered them all"
        assert [a for _, a in seen][: len(commands)] == [tuple(c) for c in commands], "each told as sent"
        assert pool.stats()["commands_total"] == len(commands) + 3
        assert pool.stats()["connects_total"] == 1
        with pytest.raises(CommandFailed) as info:
            await pool.run(node, creds, timeouts, ["sh", "-c", "exit 5"])
        assert info.value.exit_status == 5
    finally:
        await pool.close()
        await plain.close()


async def test_a_resident_command_that_times_out_ends_its_shell_and_the_next_one_gets_a_new_one(
    node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    pool = NodePool(resident=_resident)
    try:
        first = _shell_pid(int((await pool.run(node, creds, timeouts, ["sh", "-c", "echo $PPID"])).stdout))
        with pytest.raises(Timeout, match="did not finish within 1s"):
            await pool.run(node, creds, timeouts, ["sleep", SLEEP_TIMEOUT], timeout=1.0)
        after = await pool.run(node, creds, timeouts, ["sh", "-c", "echo $PPID"])
        second = _shell_pid(int(after.stdout))
        assert first is not None and second is not None and second != first
        assert pool.stats()["connects_total"] == 1
    finally:
        kill_by_cmdline(b"sleep\x00" + SLEEP_TIMEOUT.encode() + b"\x00")
        await pool.close()


async def test_a_resident_shell_that_died_is_replaced_and_the_command_still_answers(
    node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    pool = NodePool(resident=_resident)
    try:
        shell = _shell_pid(int((await pool.run(node, creds, timeouts, ["sh", "-c", "echo $PPID"])).stdout))
        assert shell is not None
        os.kill(shell, signal.SIGKILL)
        result = await pool.run(node, creds, timeouts, ["printf", "%s", "still"])
        assert result.stdout == "still" and result.exit_status == 0
        again = _shell_pid(int((await pool.run(node, creds, timeouts, ["sh", "-c", "echo $PPID"])).stdout))
        assert again is not None and again != shell
        assert pool.stats()["connects_total"] == 1
    finally:
        await pool.close()


async def test_resident_commands_at_once_do_not_wait_for_each_other(
    node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    pool = NodePool(resident=_resident)
    try:
        results = await asyncio.gather(
            *(pool.run(node, creds, timeouts, ["sh", "-c", 'echo "$1"', "sh", str(i)]) for i in range(12)))
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(12)]
        assert pool.stats()["commands_in_flight"] == 0 and pool.stats()["connects_total"] == 1
    finally:
        await pool.close()


async def test_a_connection_whose_shell_never_answers_sends_its_resident_commands_as_exec_requests(
    monkeypatch: pytest.MonkeyPatch, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
) -> None:
    from jobcenter_operator.node import pool as pool_module

    tried: list[int] = []

    async def refused(conn: Any, creds: Any) -> Any:  # as when sudo refuses the shell
        tried.append(1)
        raise pool_module._ShellGone

    monkeypatch.setattr(pool_module.NodePool, "_open_shell", staticmethod(refused))
    pool = NodePool(resident=_resident)
    try:
        for word in ("one", "two", "three"):
            result = await pool.run(node, creds, timeouts, ["printf", "%s", word])
            assert result.stdout == word
        assert tried == [1], "tried once on this connection"
        assert pool.stats()["commands_total"] == 3 and pool.stats()["connects_total"] == 1
    finally:
        await pool.close()
