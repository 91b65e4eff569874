"""Building the remote command string: argv quoted once, nothing concatenated."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from .types import Become

SUDO_PREFIX: tuple[str, ...] = ("sudo", "-n", "--")

_MODE = re.compile(r"^[0-7]{3,4}$")
_OWNER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$")

# Writes stdin atomically to "$1" with mode "$2" (and owner "$3" if given): temp file in the same
# directory, then rename. The script is constant; the path, mode and owner are separate arguments.
_WRITE_SCRIPT = (
    'set -e; t=$(mktemp "$1.tmp.XXXXXX"); trap \'rm -f "$t"\' EXIT; '
    'cat > "$t"; chmod "$2" "$t"; '
    'if [ -n "$3" ]; then chown "$3" "$t"; fi; '
    'mv -f "$t" "$1"; trap - EXIT'
)


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


def write_file_argv(path: str, mode: str = "0644", owner: str | None = None) -> list[str]:
    """argv that writes its stdin to ``path`` atomically with ``mode`` (and ``owner``).

    Use with ``NodePool.run(..., input=content)``. The path is passed as an argument, never
    spliced into the script.
    """
    if not path.startswith("/") or "\x00" in path or path.endswith("/"):
        raise ValueError(f"path must be an absolute file path: {path!r}")
    if not _MODE.match(mode):
        raise ValueError(f"mode must be octal like 0644: {mode!r}")
    if owner is not None and not _OWNER.match(owner):
        raise ValueError(f"owner must be user or user:group: {owner!r}")
    return ["sh", "-c", _WRITE_SCRIPT, "sh", path, mode, owner or ""]


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
