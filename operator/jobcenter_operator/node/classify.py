"""Map asyncssh / OS exceptions onto the domain errors of ``errors.py``."""

from __future__ import annotations

import asyncio
import errno
import socket

import asyncssh

from ..errors import AuthenticationFailed, HostKeyMismatch, NodeError, Timeout, Unreachable
from .redact import redact

_KEEPALIVE_HINT = "keepalive"
_LOGIN_TIMEOUT_HINT = "login timeout"


def _text(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    return redact(msg)[:200]


def is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, asyncssh.ConnectionLost | asyncssh.DisconnectError):
        msg = str(exc).lower()
        return _KEEPALIVE_HINT in msg or _LOGIN_TIMEOUT_HINT in msg
    return isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT


def is_handshake_reset(exc: BaseException) -> bool:
    """A connect dropped during the handshake, as sshd's MaxStartups does under a burst.

    Worth a (bounded) retry. Timeouts are not resets.
    """
    if is_timeout(exc):
        return False
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return True
    if isinstance(exc, asyncssh.ConnectionLost):
        return True
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.code in (asyncssh.DISC_TOO_MANY_CONNECTIONS, asyncssh.DISC_CONNECTION_LOST)
    return isinstance(exc, asyncio.IncompleteReadError)


def classify(node: str, exc: BaseException, *, what: str = "connect", detail: str = "") -> NodeError:
    """Return the domain error for ``exc`` (raised while doing ``what`` on ``node``)."""
    extra = f" ({detail})" if detail else ""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return HostKeyMismatch(node, f"host key not trusted: {_text(exc)}{extra}")
    if isinstance(exc, asyncssh.KeyExchangeFailed) and "host key" in str(exc).lower():
        return HostKeyMismatch(node, f"no host key of a trusted type offered: {_text(exc)}")
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthenticationFailed(node, f"authentication refused: {_text(exc)}")
    if is_timeout(exc):
        return Timeout(node, f"{what} timed out: {_text(exc)}{extra}")
    if isinstance(exc, socket.gaierror):
        return Unreachable(node, f"cannot resolve host: {_text(exc)}")
    if isinstance(exc, ConnectionRefusedError):
        return Unreachable(node, f"connection refused{extra}")
    if isinstance(exc, OSError) and exc.errno in (
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
    ):
        return Unreachable(node, f"{what} failed: {_text(exc)}")
    if isinstance(exc, asyncssh.ChannelOpenError):
        return Unreachable(node, f"cannot open a session: {_text(exc)}")
    if isinstance(exc, asyncssh.Error | OSError | EOFError | asyncio.IncompleteReadError):
        return Unreachable(node, f"{what} failed: {type(exc).__name__}: {_text(exc)}{extra}")
    return Unreachable(node, f"{what} failed: {type(exc).__name__}: {_text(exc)}{extra}")
