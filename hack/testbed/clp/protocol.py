"""Newline-delimited JSON over the cluster daemon's unix socket (one request, one reply)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


def request(sock_path: Path, msg: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(json.dumps(msg).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    if not buf:
        raise ConnectionError("cluster daemon closed the connection without a reply")
    reply: dict[str, Any] = json.loads(buf)
    return reply
