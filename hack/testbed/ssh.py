"""asyncssh helpers for tests: strict host-key checking with the bed's generated known_hosts."""

from __future__ import annotations

from typing import Any

import asyncssh


async def connect(info: dict[str, Any], host: str) -> asyncssh.SSHClientConnection:
    """``host``: a node name (clu1), a node address, or the floating IP."""
    addr = next((n["address"] for n in info["nodes"] if n["name"] == host), host)
    return await asyncssh.connect(addr, port=22, username=info["user"], client_keys=[info["privateKeyFile"]],
                                  known_hosts=info["knownHostsFile"], connect_timeout=10)


async def run(conn: asyncssh.SSHClientConnection, command: str, limit: float = 60) -> tuple[int, str, str]:
    r = await conn.run(command, check=False, timeout=limit)
    return int(r.exit_status if r.exit_status is not None else -1), str(r.stdout), str(r.stderr)
