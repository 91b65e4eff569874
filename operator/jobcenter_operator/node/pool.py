"""NodePool: one cached SSH connection per node, bounded connects and sessions, timeouts.

The only place in the project that talks SSH. Every failure leaves here as a domain error from
``errors.py`` carrying the node name: Unreachable, Timeout, AuthenticationFailed,
HostKeyMismatch, CommandFailed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncssh
from asyncssh.encryption import get_default_encryption_algs

from ..errors import AuthenticationFailed, CommandFailed, HostKeyMismatch, NodeError, OperatorError, Timeout
from .batch import BATCH, BatchItem, BatchOutputError, StartWatcher, batch_command, parse_batch
from .classify import classify, is_handshake_reset, is_timeout
from .command import check_argv, remote_command, sudo_refusal
from .hostkeys import Endpoint, HostKeyStore, fingerprint, parse_known_hosts
from .redact import install_log_redaction, redact, trim
from .types import CommandResult, NodeAddress, SSHCredentials, Timeouts

log = logging.getLogger("jobcenter_operator.node")
install_log_redaction()

Observer = Callable[[str, tuple[str, ...]], None]
# Which commands may run in a connection's resident shell (``NodePool(resident=...)``): read-only
# ones whose answer is their stdout and exit status (the facts probe, facts.gather.is_probe_argv; see _Shell).
Resident = Callable[[tuple[str, ...]], bool]

# Connection cache key: cluster, node name, host, port, user, credentials fingerprint.
_ConnKey = tuple[str, str, str, int, str, str]
# A cached connection unused this long is closed (a deleted cluster's, a node taken out...).
DEFAULT_IDLE_SECONDS = 900.0

# OpenSSH's MaxSessions defaults to 10 channels per connection; stay below it.
DEFAULT_SESSIONS_PER_CONNECTION = 8
DEFAULT_CONNECT_RETRIES = 4
_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 1.0
_KEY_CACHE_SIZE = 32
# Ciphers offered, most preferred first. asyncssh's default puts chacha20-poly1305 first, which it
# runs in Python around a per-packet ChaCha20 context (three per packet); AES-GCM is one call into
# OpenSSL per packet, and a drift check's probe costs the operator measurably less CPU with it
# (hack/bench). aes128 before aes256: fewer rounds, same AEAD. Every other cipher asyncssh enables
# by default stays offered after them, so a server without GCM still negotiates (chacha20 next).
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
ENCRYPTION_ALGS = [*PREFERRED_CIPHERS, *(alg.decode() for alg in get_default_encryption_algs()
                                         if alg.decode() not in PREFERRED_CIPHERS)]


class _Client(asyncssh.SSHClient):
    """Per-connection callbacks: host key decisions and the reason a connection was lost."""

    def __init__(
        self,
        store: HostKeyStore,
        creds: SSHCredentials,
        known_hosts: asyncssh.SSHKnownHosts,
        endpoint: Endpoint,
    ) -> None:
        self._store = store
        self._creds = creds
        self._known_hosts = known_hosts
        self._endpoint = endpoint
        self.hostkey_detail = ""
        self.lost: Exception | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        decision = self._store.decide_untrusted(
            self._creds.host_key_policy, self._known_hosts, self._endpoint, host, addr, port, key
        )
        self.hostkey_detail = decision.detail
        return decision.accepted

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc


@dataclass
class _Shell:
    """A shell kept open on one connection for the read-only commands the pool was told of (issue 15).

    Every drift check sends the facts probe to every node: as an exec request that is a channel
    opened, an exec, EOFs, an exit status and two closes, some ten SSH packets and about 1 ms of
    the operator's CPU each time (hack/bench), where the probe's own bytes cost little. Written to
    a shell that stays open, it is one packet out and its answer back. What stays as with exec:
    the command line is ``shlex.join(argv)`` (quoted once; the shell itself is ``remote_command``'s
    ``sh -s``, so become=Sudo wraps the shell, not each line), it runs with stdin from /dev/null (it
    cannot read the lines after it) and cannot change the shell (``line``), on the same connection
    (host key checked once, no new handshake), bounded by the same timeout (on expiry the shell is
    closed and ``Timeout`` raised). Its stderr is not kept (``2>/dev/null``): only commands whose
    answer is stdout and exit status go here. The shell holds one of the connection's session slots.
    """

    conn: asyncssh.SSHClientConnection
    proc: asyncssh.SSHClientProcess[Any]
    answered: bool = False  # it answered a command (one that never did is not tried again on conn)
    # ``sh -c SCRIPT`` commands' scripts defined in this shell as functions, by script: the probe's
    # 4 KB script travels once per shell, then each probe is its function's name and arguments.
    functions: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        _kill(self.proc)

    def line(self, argv: tuple[str, ...], nonce: str) -> str:
        """What the shell is sent for ``argv``: every word quoted once (``shlex``), stdin from
        /dev/null, then the end marker with the exit status. ``sh -c SCRIPT NAME ARG...`` calls
        ``f() { sh -c SCRIPT "$@"; }`` (defined on first use) with ``NAME ARG...``: the same argv for
        the same child sh, and a function whose body is only that child cannot change the shell.
        Anything else runs in a subshell, so that a builtin (cd, exit, exec) cannot change it."""
        head, end = "", f"; printf '\\n%s %s %d@@\\n' {_SHELL_END} {nonce} $?\n"
        if len(argv) >= 4 and argv[:2] == ("sh", "-c") and (argv[2] in self.functions or
                                                             len(self.functions) < _SHELL_FUNCTIONS):
            name = self.functions.get(argv[2])
            if name is None:
                name = self.functions[argv[2]] = f"jcop_{hashlib.sha256(argv[2].encode()).hexdigest()[:16]}"
                head = f'{name}() {{ sh -c {shlex.quote(argv[2])} "$@"; }}\n'
            return f"{head}{name} {shlex.join(argv[3:])} </dev/null 2>/dev/null{end}"
        return f"( {shlex.join(argv)} ) </dev/null 2>/dev/null{end}"


@dataclass
class _Entry:
    key: _ConnKey
    sessions: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    conn: asyncssh.SSHClientConnection | None = None
    client: _Client | None = None
    busy: int = 0  # runs using this entry right now
    last_used: float = field(default_factory=time.monotonic)
    shell: _Shell | None = None  # the resident shell, once a resident command ran
    shell_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one command at a time in it
    # A connection on which a shell never answered (sudo refused it, say): its commands go as exec
    # requests, without trying a shell before each one.
    no_shell: asyncssh.SSHClientConnection | None = None


class _DeadConnection(Exception):
    """The session could not even be opened on a connection (it is dead)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class _Stats:
    connects_total: int = 0
    connect_failures: int = 0
    connect_retries: int = 0
    connects_in_flight: int = 0
    reconnects: int = 0
    commands_total: int = 0
    commands_failed: int = 0
    commands_in_flight: int = 0
    closed_stale: int = 0
    closed_idle: int = 0


class NodePool:
    """Connections to the cluster nodes, shared by all reconciles of one operator process."""

    def __init__(
        self,
        *,
        global_limit: int | None = None,
        per_node_connects: int = 2,
        observer: Observer | None = None,
        sessions_per_connection: int = DEFAULT_SESSIONS_PER_CONNECTION,
        connect_retries: int = DEFAULT_CONNECT_RETRIES,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        resident: Resident | None = None,
    ) -> None:
        if (global_limit is not None and global_limit < 1) or per_node_connects < 1 or sessions_per_connection < 1:
            raise ValueError("limits must be >= 1")
        # A resident shell keeps one session of each connection: only with two or more to share.
        self._resident = resident if sessions_per_connection >= 2 else None
        # None: the caller bounds the commands in flight (the operator: node.limit, JCOP_MAX_COMMANDS).
        self._global = asyncio.Semaphore(global_limit) if global_limit is not None else contextlib.nullcontext()
        self._per_node_connects = per_node_connects
        self._sessions_per_connection = sessions_per_connection
        self._connect_retries = max(0, connect_retries)
        self._idle_seconds = idle_seconds
        self._observer = observer
        self._salt = os.urandom(16)
        self._entries: dict[_ConnKey, _Entry] = {}
        self._connect_limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._private_keys: dict[str, asyncssh.SSHKey] = {}
        self._known_hosts: dict[str, asyncssh.SSHKnownHosts] = {}
        self._fingerprints: dict[SSHCredentials, str] = {}
        self._hostkeys = HostKeyStore()
        self._stats = _Stats()
        self._closed = False

    # ----------------------------------------------------------------- public API

    async def run(
        self,
        node: NodeAddress,
        creds: SSHCredentials,
        timeouts: Timeouts,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 (the documented per-command override)
    ) -> CommandResult:
        """Run ``argv`` on ``node`` and return its result.

        The remote command is ``shlex.join(argv)`` (prefixed by ``sudo -n --`` for become=Sudo
        as a non-root user). ``input`` is sent on stdin, then EOF. ``timeout`` (default
        ``timeouts.command``) bounds the whole exec; on expiry the channel is closed and
        ``Timeout`` raised. With ``check`` a non-zero exit raises ``CommandFailed``.
        """
        return await self._run(node, creds, timeouts, argv, input=input, check=check, timeout=timeout)

    async def run_batch(
        self,
        node: NodeAddress,
        creds: SSHCredentials,
        timeouts: Timeouts,
        items: Sequence[BatchItem],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[CommandResult | OperatorError]:
        """Run ``items`` on ``node`` in order in ONE round trip (node/batch.py), up to the first that
        exits non-zero: a result per command that ran, the failed one as its ``CommandFailed``
        (stderr redacted). The observer is told each command as it starts on the node, as if sent
        alone (one after a failed one is never told). ``timeout`` bounds the whole round trip."""
        nonce = secrets.token_hex(8)
        argv, stdin = batch_command(items, nonce)
        for item in items:
            check_argv(item.argv)
        observer = self._observer

        def started(i: int) -> None:
            if observer is not None:
                observer(node.name, items[i].argv)

        sent = await self._run(node, creds, timeouts, argv, input=stdin, check=False, timeout=timeout,
                               watch=StartWatcher(nonce, started))
        try:
            parsed = parse_batch(sent.stdout, nonce, len(items))
        except BatchOutputError as exc:
            self._stats.commands_failed += 1
            raise CommandFailed(node.name, BATCH, sent.exit_status,
                                trim(redact(sent.stderr or str(exc), creds.secrets()))) from None
        results: list[CommandResult | OperatorError] = []
        for item, got in zip(items, parsed, strict=False):
            if got.exit_status != 0:
                self._stats.commands_failed += 1
                results.append(CommandFailed(node.name, item.argv[0], got.exit_status,
                                             trim(redact(got.stderr, creds.secrets() + _input_secret(item.input)))))
                break
            results.append(CommandResult(node=node.name, argv=item.argv, exit_status=0, stdout=got.stdout,
                                         stderr=got.stderr, duration=sent.duration))
        return results

    async def _run(
        self,
        node: NodeAddress,
        creds: SSHCredentials,
        timeouts: Timeouts,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109
        watch: Callable[[str], None] | None = None,
    ) -> CommandResult:
        if self._closed:
            raise RuntimeError("NodePool is closed")
        argv_t = check_argv(argv)
        command = remote_command(argv_t, become=creds.become, user=creds.user)
        limit = timeouts.command if timeout is None else timeout
        entry = self._entry(node, creds)
        entry.busy += 1
        started = time.monotonic()
        try:
            await self._retire(entry)
            for attempt in (1, 2):
                conn, client, fresh = await self._connection(entry, node, creds, timeouts)
                # Keepalives only while commands run: a dead peer is noticed within the keepalive
                # bound, and an idle connection costs nothing (at the default 5 s, an idle one sent
                # 60 keepalives per 300 s drift interval, each costlier than the interval's probe).
                conn.set_keepalive(timeouts.keepalive_interval, timeouts.keepalive_count_max)
                try:
                    # A second resident command while the shell answers one goes as an exec request
                    # (the cluster's and a site's first reads of a node at once): never queued behind it.
                    if (input is None and watch is None and self._resident is not None and entry.no_shell is not conn
                            and not entry.shell_lock.locked() and self._resident(argv_t)):
                        exit_status, stdout, stderr = await self._exec_resident(
                            conn, client, entry, node, creds, argv_t, limit
                        )
                    else:
                        exit_status, stdout, stderr = await self._exec(
                            conn, client, entry, node, argv_t, command, input, limit, watch
                        )
                except _DeadConnection as dead:
                    await self._drop(entry, conn)
                    # A peer that stopped answering (keepalive) is not retried: reconnecting would
                    # only add a connect timeout. A connection found closed or reset is retried once.
                    if fresh or attempt == 2 or is_timeout(dead.cause):
                        raise classify(node.name, dead.cause, what="opening a session") from dead.cause
                    self._stats.reconnects += 1
                    log.info(
                        "node=%s cached connection is dead (%s); reconnecting once",
                        node.name,
                        type(dead.cause).__name__,
                    )
                    continue
                break
        except NodeError as exc:
            self._stats.commands_failed += 1
            log.warning(
                "node=%s argv0=%s failed reason=%s duration=%.3f: %s",
                node.name,
                argv_t[0],
                exc.reason,
                time.monotonic() - started,
                exc.message,
            )
            raise
        finally:
            entry.busy -= 1
            entry.last_used = time.monotonic()
            if not entry.busy and entry.conn is not None and not entry.conn.is_closed():
                entry.conn.set_keepalive(0)  # idle: no keepalives until the next command
        duration = time.monotonic() - started
        log.debug("node=%s argv0=%s exit=%s duration=%.3f", node.name, argv_t[0], exit_status, duration)
        if exit_status != 0 and creds.become == "Sudo" and creds.user != "root":
            refusal = sudo_refusal(stderr)
            if refusal is not None:
                # The command never ran: report it even with check=False, so a probe's exit 1
                # is never mistaken for the probe's own answer.
                self._stats.commands_failed += 1
                log.warning("node=%s argv0=%s sudo refused to run it", node.name, argv_t[0])
                raise AuthenticationFailed(node.name, f"sudo refused to run {argv_t[0]}: {redact(refusal)}")
        if exit_status != 0 and check:
            self._stats.commands_failed += 1
            err = CommandFailed(
                node.name,
                argv_t[0],
                exit_status,
                trim(redact(stderr, creds.secrets() + _input_secret(input))),
            )
            log.info(
                "node=%s argv0=%s exit=%s duration=%.3f (command failed)",
                node.name,
                argv_t[0],
                exit_status,
                duration,
            )
            raise err
        return CommandResult(
            node=node.name,
            argv=argv_t,
            exit_status=exit_status,
            stdout=stdout,
            stderr=stderr,
            duration=duration,
        )

    def learned_host_keys(self) -> dict[tuple[str, str, int], str]:
        """(cluster, host, port) -> ``SHA256:...`` fingerprint of the host key seen on the last connect."""
        return self._hostkeys.seen()

    def host_key_fingerprint(self, node: NodeAddress) -> str | None:
        """The fingerprint this node's endpoint (cluster, host, port) presented last, if any."""
        return self._hostkeys.seen_for(node.endpoint)

    def pin_host_key(self, node: NodeAddress, fp: str) -> None:
        """Under AcceptNew, only accept ``fp`` on first contact with this endpoint (e.g. the
        fingerprint recorded in status before an operator restart, or before the address changed)."""
        self._hostkeys.pin(node.endpoint, fp)

    async def invalidate(self, node_name: str) -> None:
        """Drop every cached connection to ``node_name`` (e.g. its credentials changed)."""
        for key, entry in list(self._entries.items()):
            if key[1] == node_name:
                self._entries.pop(key, None)
                if entry.conn is not None:
                    await self._close_conn(entry.conn)
                    entry.conn = None

    async def close(self) -> None:
        """Close every connection. The pool cannot be used afterwards."""
        self._closed = True
        entries = list(self._entries.values())
        self._entries.clear()
        await asyncio.gather(
            *(self._close_conn(e.conn) for e in entries if e.conn is not None),
            return_exceptions=True,
        )

    def stats(self) -> dict[str, int]:
        s = self._stats
        return {
            "connections_open": sum(1 for e in self._entries.values() if e.conn is not None and not e.conn.is_closed()),
            "connects_in_flight": s.connects_in_flight,
            "connects_total": s.connects_total,
            "connect_failures": s.connect_failures,
            "connect_retries": s.connect_retries,
            "reconnects": s.reconnects,
            "commands_in_flight": s.commands_in_flight,
            "commands_total": s.commands_total,
            "commands_failed": s.commands_failed,
            "connections_closed_stale": s.closed_stale,
            "connections_closed_idle": s.closed_idle,
        }

    # ----------------------------------------------------------------- connections

    def _entry(self, node: NodeAddress, creds: SSHCredentials) -> _Entry:
        key: _ConnKey = (node.cluster, node.name, node.host, node.port, creds.user, self._fingerprint(creds))
        entry = self._entries.get(key)
        if entry is None:
            reserved = 1 if self._resident is not None else 0  # the resident shell's
            entry = _Entry(key=key, sessions=asyncio.Semaphore(self._sessions_per_connection - reserved))
            self._entries[key] = entry
        return entry

    def _fingerprint(self, creds: SSHCredentials) -> str:
        """``creds.fingerprint``, kept per credentials (an HMAC over the key material each command
        was a drift check's measurable share); equal credentials hash and compare cheaply."""
        fp = self._fingerprints.get(creds)
        if fp is None:
            if len(self._fingerprints) >= _KEY_CACHE_SIZE:  # rotated credentials: forget the oldest
                self._fingerprints.pop(next(iter(self._fingerprints)))
            fp = self._fingerprints[creds] = creds.fingerprint(self._salt)
        return fp

    async def _retire(self, current: _Entry) -> None:
        """Close the connections nobody should use any more: those of the same node of the same
        cluster made with other credentials or to another address (a rotated Secret, a changed
        address), and those idle for ``idle_seconds`` (a deleted cluster's). Never one in use."""
        now = time.monotonic()
        for key, entry in list(self._entries.items()):
            if entry is current or entry.busy:
                continue
            stale = key[:2] == current.key[:2]
            idle = now - entry.last_used >= self._idle_seconds
            if not (stale or idle):
                continue
            self._entries.pop(key, None)
            if entry.conn is not None:
                if stale:
                    self._stats.closed_stale += 1
                else:
                    self._stats.closed_idle += 1
                log.info("node=%s closing a cached connection (%s)", key[1], "stale credentials or address"
                         if stale else f"idle for {self._idle_seconds:g}s")
                conn, entry.conn, entry.client = entry.conn, None, None
                await self._close_conn(conn)

    async def _connection(
        self, entry: _Entry, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
    ) -> tuple[asyncssh.SSHClientConnection, _Client, bool]:
        conn, client = entry.conn, entry.client
        if conn is not None and client is not None and not conn.is_closed():
            return conn, client, False
        async with entry.lock:
            conn, client = entry.conn, entry.client
            if conn is not None and client is not None and not conn.is_closed():
                return conn, client, False
            if conn is not None:
                await self._close_conn(conn)
                entry.conn = entry.client = None
            conn, client = await self._connect(node, creds, timeouts)
            entry.conn, entry.client = conn, client
            return conn, client, True

    async def _connect(
        self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts
    ) -> tuple[asyncssh.SSHClientConnection, _Client]:
        endpoint: Endpoint = node.endpoint
        known_hosts = self._parse_known_hosts(node, creds)
        client_key = self._import_key(node, creds)
        if client_key is None and creds.password is None:
            raise AuthenticationFailed(node.name, "no private key and no password in the credentials")
        limit = self._connect_limits.setdefault((node.host, node.port), asyncio.Semaphore(self._per_node_connects))
        async with limit:
            self._stats.connects_in_flight += 1
            try:
                for attempt in range(self._connect_retries + 1):
                    clients: list[_Client] = []
                    factory = self._client_factory(clients, creds, known_hosts, endpoint)
                    started = time.monotonic()
                    try:
                        async with asyncio.timeout(timeouts.connect + timeouts.login + 1.0):
                            conn = await asyncssh.connect(
                                node.host,
                                node.port,
                                username=creds.user,
                                client_factory=factory,
                                known_hosts=known_hosts,
                                client_keys=[client_key] if client_key is not None else None,
                                public_key_auth=client_key is not None,
                                password=creds.password,
                                password_auth=creds.password is not None,
                                kbdint_auth=creds.password is not None,
                                host_based_auth=False,
                                gss_auth=False,
                                gss_kex=False,
                                encryption_algs=ENCRYPTION_ALGS,
                                agent_path=None,
                                agent_forwarding=False,
                                config=None,
                                x509_trusted_certs=None,
                                x509_trusted_cert_paths=None,
                                connect_timeout=timeouts.connect,
                                login_timeout=timeouts.login,
                                keepalive_interval=timeouts.keepalive_interval,
                                keepalive_count_max=timeouts.keepalive_count_max,
                                request_pty=False,
                            )
                    except Exception as exc:
                        detail = clients[-1].hostkey_detail if clients else ""
                        if is_handshake_reset(exc) and attempt < self._connect_retries:
                            self._stats.connect_retries += 1
                            delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt)
                            delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter)
                            log.info(
                                "node=%s connect reset during handshake (%s); retry %d in %.2fs",
                                node.name,
                                type(exc).__name__,
                                attempt + 1,
                                delay,
                            )
                            await asyncio.sleep(delay)
                            continue
                        self._stats.connect_failures += 1
                        error = classify(node.name, exc, what="connect", detail=detail)
                        log.info(
                            "node=%s connect to %s:%d failed after %.3fs: %s",
                            node.name,
                            node.host,
                            node.port,
                            time.monotonic() - started,
                            error.reason,
                        )
                        raise error from exc
                    client = clients[-1]
                    host_key = conn.get_server_host_key()
                    if host_key is not None:
                        self._hostkeys.record_seen(endpoint, host_key)
                    self._stats.connects_total += 1
                    log.info(
                        "node=%s connected to %s:%d as %s in %.3fs host_key=%s",
                        node.name,
                        node.host,
                        node.port,
                        creds.user,
                        time.monotonic() - started,
                        fingerprint(host_key) if host_key is not None else "?",
                    )
                    return conn, client
                raise AssertionError("unreachable")  # pragma: no cover
            finally:
                self._stats.connects_in_flight -= 1

    def _client_factory(
        self,
        sink: list[_Client],
        creds: SSHCredentials,
        known_hosts: asyncssh.SSHKnownHosts,
        endpoint: Endpoint,
    ) -> Callable[[], _Client]:
        def factory() -> _Client:
            client = _Client(self._hostkeys, creds, known_hosts, endpoint)
            sink.append(client)
            return client

        return factory

    def _parse_known_hosts(self, node: NodeAddress, creds: SSHCredentials) -> asyncssh.SSHKnownHosts:
        cache_key = creds.known_hosts
        parsed = self._known_hosts.get(cache_key)
        if parsed is None:
            try:
                parsed = parse_known_hosts(creds.known_hosts)
            except ValueError as exc:
                raise HostKeyMismatch(node.name, str(exc)) from None
            if len(self._known_hosts) >= _KEY_CACHE_SIZE:
                self._known_hosts.pop(next(iter(self._known_hosts)))
            self._known_hosts[cache_key] = parsed
        return parsed

    def _import_key(self, node: NodeAddress, creds: SSHCredentials) -> asyncssh.SSHKey | None:
        if creds.private_key is None:
            return None
        cache_key = creds.fingerprint(self._salt)
        key = self._private_keys.get(cache_key)
        if key is None:
            try:
                key = asyncssh.import_private_key(creds.private_key, creds.passphrase)
            except (asyncssh.KeyImportError, ValueError, TypeError) as exc:
                raise AuthenticationFailed(
                    node.name,
                    "the private key could not be loaded "
                    f"({type(exc).__name__}: {redact(str(exc), creds.secrets())[:120]})",
                ) from None
            if len(self._private_keys) >= _KEY_CACHE_SIZE:  # rotated credentials: forget the oldest
                self._private_keys.pop(next(iter(self._private_keys)))
            self._private_keys[cache_key] = key
        return key

    async def _drop(self, entry: _Entry, conn: asyncssh.SSHClientConnection) -> None:
        if entry.conn is conn:
            entry.conn = entry.client = None
        await self._close_conn(conn)

    @staticmethod
    async def _close_conn(conn: asyncssh.SSHClientConnection) -> None:
        conn.close()
        try:
            async with asyncio.timeout(2.0):
                await conn.wait_closed()
        except (TimeoutError, OSError, asyncssh.Error):
            conn.abort()

    # ----------------------------------------------------------------- commands

    async def _exec(
        self,
        conn: asyncssh.SSHClientConnection,
        client: _Client,
        entry: _Entry,
        node: NodeAddress,
        argv: tuple[str, ...],
        command: str,
        input: str | None,
        limit: float,
        watch: Callable[[str], None] | None = None,
    ) -> tuple[int, str, str]:
        """``watch``: fed the stdout as it arrives (a batch tells the observer as each of its
        commands starts); without it the observer is told ``argv`` before it is sent."""
        async with entry.sessions, self._global:
            if conn.is_closed():
                raise _DeadConnection(client.lost or asyncssh.ConnectionLost("connection closed"))
            self._stats.commands_in_flight += 1
            self._stats.commands_total += 1
            if self._observer is not None and watch is None:
                self._observer(node.name, argv)
            proc: asyncssh.SSHClientProcess[Any] | None = None
            try:
                async with asyncio.timeout(limit):
                    try:
                        proc = await conn.create_process(command, encoding="utf-8", errors="replace")
                    except (asyncssh.ChannelOpenError, asyncssh.DisconnectError, OSError, EOFError) as exc:
                        # Prefer the reason the connection died (e.g. keepalive) over the symptom.
                        raise _DeadConnection(client.lost or exc) from exc
                    try:
                        if input:
                            proc.stdin.write(input)
                        proc.stdin.write_eof()
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the command exited without reading all of its stdin
                    if watch is None:
                        stdout, stderr = await proc.communicate()
                    else:
                        stdout, stderr = await _read_watched(proc, watch)
            except TimeoutError:
                if proc is not None:
                    _kill(proc)
                else:
                    # Not even the session opened in time: the connection is unusable (keepalive
                    # may be off). Drop it so that the next command reconnects.
                    if entry.conn is conn:
                        entry.conn = entry.client = None
                    conn.abort()
                lost = client.lost
                if lost is not None and is_timeout(lost):
                    raise Timeout(node.name, f"{argv[0]}: {redact(str(lost))}") from None
                raise Timeout(node.name, f"{argv[0]} did not finish within {limit:g}s") from None
            except _DeadConnection:
                raise
            except asyncio.CancelledError:
                if proc is not None:
                    _kill(proc)  # the caller gave up (e.g. a handler timeout): close the channel
                raise
            except (asyncssh.Error, OSError, EOFError) as exc:
                raise classify(node.name, exc, what=f"running {argv[0]}") from exc
            finally:
                self._stats.commands_in_flight -= 1
            status = proc.returncode
            if status is None:
                lost = client.lost
                if lost is None and conn.is_closed():
                    lost = asyncssh.ConnectionLost("connection closed")
                if lost is not None:
                    raise classify(node.name, lost, what=f"running {argv[0]}")
                status = -1  # channel closed without exit status or signal
            return status, _as_str(stdout), _as_str(stderr)

    async def _exec_resident(
        self,
        conn: asyncssh.SSHClientConnection,
        client: _Client,
        entry: _Entry,
        node: NodeAddress,
        creds: SSHCredentials,
        argv: tuple[str, ...],
        limit: float,
    ) -> tuple[int, str, str]:
        """``argv`` in the connection's resident shell (``_Shell``), opened on first use. A shell that
        cannot be opened or dies before answering (sudo refused it, the node ended it) is closed and
        the command goes as an exec request instead: resident commands are read-only, so sending one
        again changes nothing; a connection that is gone is reported as by ``_exec``."""
        started = time.monotonic()
        async with entry.shell_lock:
            shell = entry.shell
            if shell is not None and (shell.conn is not conn or shell.proc.is_closing()):
                entry.shell = None
                shell.close()
                shell = None
            try:
                async with asyncio.timeout(limit):
                    if shell is None:
                        shell = entry.shell = await self._open_shell(conn, creds)
                    return await self._in_shell(shell, node, argv)
            except TimeoutError:
                if entry.shell is not None:
                    entry.shell.close()  # its answer is still coming, or never will: not reusable
                    entry.shell = None
                lost = client.lost
                if lost is not None and is_timeout(lost):
                    raise Timeout(node.name, f"{argv[0]}: {redact(str(lost))}") from None
                raise Timeout(node.name, f"{argv[0]} did not finish within {limit:g}s") from None
            except _ShellGone:
                if shell is None or not shell.answered:
                    entry.no_shell = conn
                if entry.shell is not None:
                    entry.shell.close()
                    entry.shell = None
                if conn.is_closed():
                    raise _DeadConnection(client.lost or asyncssh.ConnectionLost("connection closed")) from None
            except BaseException:
                if entry.shell is not None:  # cancelled mid-answer: the next command must not read its rest
                    entry.shell.close()
                    entry.shell = None
                raise
        log.info("node=%s resident shell unavailable; %s sent as an exec request", node.name, argv[0])
        return await self._exec(conn, client, entry, node, argv, remote_command(argv, become=creds.become,
                                user=creds.user), None, max(0.001, limit - (time.monotonic() - started)))

    @staticmethod
    async def _open_shell(conn: asyncssh.SSHClientConnection, creds: SSHCredentials) -> _Shell:
        try:
            proc = await conn.create_process(remote_command(("sh", "-s"), become=creds.become, user=creds.user),
                                             encoding="utf-8", errors="replace")
            # Nothing the shell itself might say is read: stderr goes nowhere, never filling the channel.
            proc.stdin.write("exec 2>/dev/null\n")
        except (asyncssh.ChannelOpenError, asyncssh.DisconnectError, OSError, EOFError) as exc:
            raise _ShellGone from exc
        return _Shell(conn=conn, proc=proc)

    async def _in_shell(self, shell: _Shell, node: NodeAddress, argv: tuple[str, ...]) -> tuple[int, str, str]:
        nonce = secrets.token_hex(8)
        end = f"\n{_SHELL_END} {nonce} "
        async with self._global:
            self._stats.commands_in_flight += 1
            self._stats.commands_total += 1
            if self._observer is not None:
                self._observer(node.name, argv)
            try:
                try:
                    # The exit status follows the command's output on a line of its own, after a
                    # nonce the command cannot know in advance.
                    shell.proc.stdin.write(shell.line(argv, nonce))
                    answer = await _answer(shell.proc, end)
                    shell.answered = True
                    return answer
                except (BrokenPipeError, ConnectionResetError, asyncssh.Error, OSError, EOFError) as exc:
                    raise _ShellGone from exc
            finally:
                self._stats.commands_in_flight -= 1


class _ShellGone(Exception):
    """The resident shell could not be opened or ended before it answered."""


# Ends a resident command's answer (followed by the command's nonce and exit status).
_SHELL_END = "@@JCOP-RESIDENT"
# Scripts a resident shell keeps as functions (the probe needs one; others beyond this run as sent).
_SHELL_FUNCTIONS = 8


async def _answer(proc: asyncssh.SSHClientProcess[Any], end: str) -> tuple[int, str, str]:
    """Read the shell's stdout up to ``end`` (with the command's nonce), then the exit status and
    ``@@``. Plain string search: asyncssh's ``readuntil`` compiles a regex per separator, and each
    separator here is new (its nonce), which cost more than the rest of the read."""
    buf, searched = "", 0
    while True:
        at = buf.find(end, searched)
        if at >= 0:
            close = buf.find("@@\n", at + len(end))
            if close >= 0:
                digits = buf[at + len(end):close]
                if not (digits.isascii() and digits.isdigit()) or close + 3 != len(buf):
                    raise _ShellGone  # not the shape the shell writes: do not trust its stream any more
                return int(digits), buf[:at], ""
        else:
            searched = max(0, len(buf) - len(end))
        chunk = await proc.stdout.read(65536)
        if not chunk:
            raise _ShellGone  # the shell ended before answering
        buf += chunk


async def _read_watched(proc: asyncssh.SSHClientProcess[Any], watch: Callable[[str], None]) -> tuple[str, str]:
    """stdout and stderr to their end, stdout fed to ``watch`` as it arrives; then the exit."""
    errors = asyncio.ensure_future(proc.stderr.read())
    try:
        chunks: list[str] = []
        while chunk := await proc.stdout.read(65536):
            chunks.append(chunk)
            watch(chunk)
        stderr = await errors
    finally:
        errors.cancel()
    await proc.wait()
    return "".join(chunks), stderr


def _kill(proc: asyncssh.SSHClientProcess[Any]) -> None:
    try:
        proc.kill()
    except (OSError, asyncssh.Error):
        pass
    proc.close()


def _as_str(data: object) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


def _input_secret(input: str | None) -> tuple[str, ...]:
    """Long stdin lines must not come back verbatim through stderr (e.g. a script echoing them)."""
    if not input:
        return ()
    return tuple(line for line in input.splitlines() if len(line.strip()) >= 16)
