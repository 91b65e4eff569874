"""Host key policy: Strict (the Secret's known_hosts only) and AcceptNew (trust on first use).

AcceptNew trusts the key a host presents on first contact only if the Secret's known_hosts has
no entry for that host; the key is then remembered per endpoint (cluster, host, port) for the life
of the pool and enforced on every later connection, also across reconnects. What was seen is kept
per endpoint too (never per node name: two clusters may both call their nodes clu1). A fingerprint recorded
earlier (e.g. in the resource status before an operator restart) can be pinned with ``pin``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import asyncssh

from .types import HostKeyPolicy

Endpoint = tuple[str, str, int]  # (cluster, host, port): NodeAddress.endpoint


def fingerprint(key: asyncssh.SSHKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a public key."""
    return key.get_fingerprint("sha256")


def parse_known_hosts(text: str) -> asyncssh.SSHKnownHosts:
    """Parse OpenSSH known_hosts text (may be empty). Raises ValueError when malformed."""
    try:
        return asyncssh.import_known_hosts(text)
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise ValueError(f"known_hosts could not be parsed: {exc}") from None


def has_entry(known_hosts: asyncssh.SSHKnownHosts, host: str, addr: str, port: int) -> bool:
    """Whether known_hosts says anything (keys, CA keys, revocations) about this host."""
    match = asyncssh.match_known_hosts(known_hosts, host, addr, None if port == 22 else port)
    return any(len(part) > 0 for part in match[:3])


@dataclass
class Decision:
    accepted: bool
    detail: str


class HostKeyStore:
    """Fingerprints seen and keys learned under AcceptNew, per endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # callbacks run in the event loop; cheap guard anyway
        self._learned: dict[Endpoint, asyncssh.SSHKey] = {}
        self._pinned: dict[Endpoint, str] = {}
        self._seen: dict[Endpoint, str] = {}

    def pin(self, endpoint: Endpoint, fp: str) -> None:
        with self._lock:
            self._pinned[endpoint] = fp

    def record_seen(self, endpoint: Endpoint, key: asyncssh.SSHKey) -> None:
        with self._lock:
            self._seen[endpoint] = fingerprint(key)

    def seen(self) -> dict[Endpoint, str]:
        with self._lock:
            return dict(self._seen)

    def seen_for(self, endpoint: Endpoint) -> str | None:
        with self._lock:
            return self._seen.get(endpoint)

    def decide_untrusted(
        self,
        policy: HostKeyPolicy,
        known_hosts: asyncssh.SSHKnownHosts,
        endpoint: Endpoint,
        host: str,
        addr: str,
        port: int,
        key: asyncssh.SSHKey,
    ) -> Decision:
        """Called for a key that the Secret's known_hosts does not trust."""
        fp = fingerprint(key)
        if policy != "AcceptNew":
            if has_entry(known_hosts, host, addr, port):
                return Decision(False, f"host key {fp} does not match known_hosts")
            return Decision(False, f"host not in known_hosts (presented {fp})")
        if has_entry(known_hosts, host, addr, port):
            return Decision(False, f"host key {fp} does not match known_hosts")
        with self._lock:
            learned = self._learned.get(endpoint)
            if learned is not None:
                if learned == key:
                    return Decision(True, "matches the key learned on first contact")
                return Decision(False, f"host key changed: learned {fingerprint(learned)}, presented {fp}")
            pinned = self._pinned.get(endpoint)
            if pinned is not None and pinned != fp:
                return Decision(False, f"host key changed: pinned {pinned}, presented {fp}")
            self._learned[endpoint] = key
            return Decision(True, f"accepted new host key {fp} (AcceptNew)")
