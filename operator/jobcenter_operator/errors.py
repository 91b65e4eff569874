"""Domain errors shared by every layer.

Pure module (no I/O, no kopf, no asyncssh). Only ``handlers.py`` maps these onto kopf's
TemporaryError / PermanentError; everything below it raises these.

Two families:
- ``TransientError``: retrying later may succeed (node unreachable, timeout, a command that failed).
- ``PermanentError``: nothing changes until a human or a new spec/Secret does (bad spec,
  authentication refused, host key mismatch, a preflight conflict).
Each error carries a stable CamelCase ``reason`` used verbatim in status conditions and Events:
its class's, or the one given to its constructor; never assigned to an instance afterwards.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error this operator raises on purpose."""

    reason: str = "Error"
    transient: bool = True

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class TransientError(OperatorError):
    """Retry with backoff."""

    transient = True


class PermanentError(OperatorError):
    """Do not retry until the spec or the referenced Secret changes."""

    transient = False


class InvalidSpec(PermanentError):
    reason = "InvalidSpec"


class CheckFailed(OperatorError):
    """A preflight check of the plan failed: nothing was changed. Transient when waiting may fix
    it (group offline), permanent when a human must act (a foreign site at the database path)."""

    def __init__(self, reason: str, message: str, *, permanent: bool) -> None:
        super().__init__(message, reason=reason)
        self.transient = not permanent


class NodeError(OperatorError):
    """An error tied to one node; ``node`` is the CLUSTERPRO server name."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"{node}: {message}")
        self.node = node


class Unreachable(NodeError, TransientError):
    reason = "Unreachable"


class Timeout(NodeError, TransientError):
    reason = "Timeout"


class CommandFailed(NodeError, TransientError):
    """A remote command exited non-zero. ``stderr`` is trimmed and never holds secrets we sent."""

    reason = "CommandFailed"

    def __init__(self, node: str, argv0: str, exit_status: int | None, stderr: str) -> None:
        super().__init__(node, f"{argv0} exited {exit_status}: {stderr}".rstrip(": "))
        self.argv0 = argv0
        self.exit_status = exit_status
        self.stderr = stderr


class ApplyRefused(NodeError, TransientError):
    """``clpcfctrl --push`` exited non-zero: the product refused or failed the push, so every node
    keeps the configuration it had. ``output`` is what clpcfctrl printed (its reason)."""

    reason = "ApplyRefused"

    def __init__(self, node: str, exit_status: int | None, output: str) -> None:
        super().__init__(node, f"clpcfctrl --push exited {exit_status}: {output}".rstrip(": "))
        self.exit_status = exit_status
        self.output = output


class AuthenticationFailed(NodeError, PermanentError):
    reason = "AuthenticationFailed"


class HostKeyMismatch(NodeError, PermanentError):
    reason = "HostKeyMismatch"
