"""Building the remote command string: argv quoted once, nothing concatenated."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from .types import Become

SUDO_PREFIX: tuple[str, ...] = ("sudo", "-n", "--")


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Validate an argv list (non-empty, strings, no NUL) and return it as a tuple."""
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a sequence of strings, not a single string")
    out = tuple(argv)
    if not out:
        raise ValueError("argv must not be empty")
    for arg in out:
        if not isinstance(arg, str):
            raise TypeError(f"argv elements must be str, got {type(arg).__name__}")
        if "\x00" in arg:
            raise ValueError("argv elements must not contain NUL bytes")
    return out


def effective_argv(argv: Sequence[str], *, become: Become, user: str) -> tuple[str, ...]:
    """The argv actually run on the node: prefixed by ``sudo -n --`` for become=Sudo as non-root."""
    out = check_argv(argv)
    if become == "Sudo" and user != "root":
        return SUDO_PREFIX + out
    return out


def remote_command(argv: Sequence[str], *, become: Become = "None", user: str = "root") -> str:
    """The exact string sent in the SSH exec request: ``shlex.join`` of the effective argv."""
    return shlex.join(effective_argv(argv, become=become, user=user))


# sudo's own refusals (English messages; a non-English remote locale is not recognised and the
# failure then surfaces as CommandFailed). With ``sudo -n`` the command itself never ran.
_SUDO_REFUSALS = (
    "sudo: a password is required",
    "sudo: a terminal is required",
    "is not in the sudoers file",
    "is not allowed to execute",
    "may not run sudo on",
    "sudo: command not found",
    "sudo: not found",
)


def sudo_refusal(stderr: str) -> str | None:
    """The line in which sudo refused to run the command, if it did."""
    for line in stderr.splitlines():
        text = line.strip()
        if any(marker in text for marker in _SUDO_REFUSALS):
            return text[:200]
    return None
