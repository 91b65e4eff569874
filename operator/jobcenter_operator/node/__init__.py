"""SSH layer: the only user of asyncssh in the project.

``NodePool`` runs argv lists on cluster nodes over SSH with pinned host keys, cached
connections, bounded concurrency and timeouts; failures surface as the domain errors of
``jobcenter_operator.errors`` (Unreachable, Timeout, AuthenticationFailed, HostKeyMismatch,
CommandFailed).
"""

from .batch import BatchItem, BatchRunner, run_batch
from .command import check_argv, effective_argv, remote_command, sudo_refusal
from .limit import CommandLimit, Limited, Priority, drift_checking
from .pool import NodePool, Observer
from .redact import redact, trim
from .types import Become, CommandResult, HostKeyPolicy, NodeAddress, SSHCredentials, Timeouts

__all__ = [
    "BatchItem",
    "BatchRunner",
    "Become",
    "CommandLimit",
    "CommandResult",
    "HostKeyPolicy",
    "Limited",
    "NodeAddress",
    "NodePool",
    "Observer",
    "Priority",
    "SSHCredentials",
    "Timeouts",
    "check_argv",
    "drift_checking",
    "effective_argv",
    "redact",
    "remote_command",
    "run_batch",
    "sudo_refusal",
    "trim",
]
