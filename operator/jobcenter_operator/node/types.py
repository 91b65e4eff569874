"""Plain value types of the SSH layer (no I/O)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Literal

HostKeyPolicy = Literal["Strict", "AcceptNew"]
Become = Literal["None", "Sudo"]


@dataclass(frozen=True)
class NodeAddress:
    """Where a node is reached. ``name`` is the CLUSTERPRO server name."""

    name: str
    host: str
    port: int = 22
    # The ClusterproCluster this node belongs to ("namespace/name"; "" outside the operator). Host
    # keys are remembered per (cluster, host, port): two clusters that name their nodes alike never
    # share fingerprints, and one cluster's trust on first use never vouches for another's.
    cluster: str = ""

    @property
    def endpoint(self) -> tuple[str, str, int]:
        """What a host key belongs to: (cluster, host, port), never the node's name."""
        return (self.cluster, self.host, self.port)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. A cut network surfaces within ``connect`` (new connections) or
    ``keepalive_interval * (keepalive_count_max + 1)`` / ``command`` (existing ones)."""

    connect: float = 10
    login: float = 15
    command: float = 120
    keepalive_interval: float = 5
    keepalive_count_max: int = 3

    def __post_init__(self) -> None:
        if min(self.connect, self.login, self.command) <= 0:
            raise ValueError("connect, login and command timeouts must be > 0")
        if self.keepalive_interval < 0 or self.keepalive_count_max < 1:
            raise ValueError("keepalive_interval must be >= 0 (0 = off) and keepalive_count_max >= 1")

    @property
    def keepalive_bound(self) -> float:
        """Upper bound for noticing a dead peer on an established connection."""
        return self.keepalive_interval * (self.keepalive_count_max + 1)


@dataclass(frozen=True, repr=False)
class SSHCredentials:
    """SSH credentials from the cluster's Secret. Key material lives in memory only.

    ``repr``/``str`` never show the private key, the passphrase or the password.
    """

    user: str
    private_key: bytes | None = field(default=None, compare=True)
    passphrase: str | None = None
    password: str | None = None
    known_hosts: str = ""
    host_key_policy: HostKeyPolicy = "Strict"
    become: Become = "None"

    def __repr__(self) -> str:
        return (
            f"SSHCredentials(user={self.user!r}, "
            f"private_key={'<redacted>' if self.private_key else None}, "
            f"passphrase={'<redacted>' if self.passphrase else None}, "
            f"password={'<redacted>' if self.password else None}, "
            f"known_hosts=<{len(self.known_hosts.splitlines())} lines>, "
            f"host_key_policy={self.host_key_policy!r}, become={self.become!r})"
        )

    __str__ = __repr__

    def fingerprint(self, salt: bytes) -> str:
        """A salted digest identifying these credentials (for cache keys; not reversible)."""
        mac = hmac.new(salt, digestmod=hashlib.sha256)
        for part in (
            self.user.encode(),
            self.private_key or b"",
            (self.passphrase or "").encode(),
            (self.password or "").encode(),
            self.known_hosts.encode(),
            self.host_key_policy.encode(),
        ):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()[:32]

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in logs or errors (used by ``redact``)."""
        out: list[str] = []
        if self.passphrase:
            out.append(self.passphrase)
        if self.password:
            out.append(self.password)
        return tuple(out)


@dataclass(frozen=True)
class CommandResult:
    """Outcome of one remote command. ``exit_status`` is negative (-signal) if it was killed."""

    node: str
    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_status == 0
