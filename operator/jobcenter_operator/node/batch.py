"""Several commands on one node in one round trip, each with its own exit status. Pure (no I/O).

``batch_command`` builds ``sh -c BATCH jcop-batch NONCE  N1 HOW1 ARGV1...  N2 HOW2 ARGV2...``: the
node runs the commands in order, each as its own argv (the script never parses a command line: it
takes the next N arguments off ``"$@"``), and stops after the first that exits non-zero, as the
executor does. Every argument arrives as a positional parameter, so the node layer's one quoting of
the argv is the only quoting there is.

Standard input: each command gets its own. HOW says where from: ``none`` (/dev/null), ``line`` (the
next line of the channel's stdin, base64: small payloads like daemon.conf) or ``rest`` (what is left
of the channel's stdin, raw: the last command's, however large). File contents therefore travel on
stdin as before, never in the argv (the audit log and ``ps`` never show them).

Output: for each command that ran, a line when it starts (the node layer tells its observer, the
audit log, as each command starts: a command after a failed one is never told), then its stdout,
stderr and exit status between marker lines that carry the nonce (as the facts probe frames its
sections)::

    @@JCOP <nonce> START <i>@@
    @@JCOP <nonce> OUT <i>@@ / <stdout> / @@JCOP <nonce> ERR <i>@@ / <stderr> / @@JCOP <nonce> END <i> <status>@@
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import OperatorError
from .types import CommandResult, NodeAddress, SSHCredentials, Timeouts

BATCH = "jcop-batch"

_SCRIPT = """\
nonce=$1; shift
o=$(mktemp) && e=$(mktemp) || exit 70
trap 'rm -f "$o" "$e"' EXIT
i=0
while [ "$#" -gt 0 ]; do
    n=$1 how=$2
    shift 2
    printf '@@JCOP %s START %d@@\n' "$nonce" "$i"
    case $how in
    line) IFS= read -r data || [ -n "$data" ] || exit 71
          printf '%s' "$data" | base64 -d | (k=$# j=0
              while [ "$j" -lt "$k" ]; do [ "$j" -lt "$n" ] && set -- "$@" "$1"; shift; j=$((j + 1)); done
              exec "$@") >"$o" 2>"$e" ;;
    rest) (k=$# j=0
              while [ "$j" -lt "$k" ]; do [ "$j" -lt "$n" ] && set -- "$@" "$1"; shift; j=$((j + 1)); done
              exec "$@") >"$o" 2>"$e" ;;
    *) (k=$# j=0
              while [ "$j" -lt "$k" ]; do [ "$j" -lt "$n" ] && set -- "$@" "$1"; shift; j=$((j + 1)); done
              exec "$@") </dev/null >"$o" 2>"$e" ;;
    esac
    rc=$?
    printf '@@JCOP %s OUT %d@@\\n' "$nonce" "$i"; if [ -s "$o" ]; then cat "$o"; fi
    printf '\\n@@JCOP %s ERR %d@@\\n' "$nonce" "$i"; if [ -s "$e" ]; then cat "$e"; fi
    printf '\\n@@JCOP %s END %d %d@@\\n' "$nonce" "$i" "$rc"
    [ "$rc" -eq 0 ] || exit 0
    shift "$n"
    i=$((i + 1))
done
"""


@dataclass(frozen=True)
class BatchItem:
    argv: tuple[str, ...]
    input: str | None = None


@dataclass(frozen=True)
class ItemResult:
    exit_status: int
    stdout: str
    stderr: str


class BatchOutputError(ValueError):
    """The node's answer does not have the shape the batch script produces."""


def batch_command(items: Sequence[BatchItem], nonce: str) -> tuple[tuple[str, ...], str | None]:
    """The argv and the stdin that run ``items`` in order in one round trip."""
    if not nonce.isalnum():
        raise ValueError("nonce must be alphanumeric")
    if not items:
        raise ValueError("an empty batch")
    last_input = max((i for i, item in enumerate(items) if item.input is not None), default=None)
    argv: list[str] = ["sh", "-c", _SCRIPT, BATCH, nonce]
    lines: list[str] = []
    for i, item in enumerate(items):
        if not item.argv:
            raise ValueError("an empty command in a batch")
        how = "none" if item.input is None else "rest" if i == last_input else "line"
        if how == "line":
            lines.append(base64.b64encode((item.input or "").encode()).decode() + "\n")
        argv += [str(len(item.argv)), how, *item.argv]
    stdin = "".join(lines) + (items[last_input].input or "") if last_input is not None else None
    return tuple(argv), stdin


def items_of(argv: Sequence[str]) -> tuple[tuple[str, ...], ...] | None:
    """The commands of a batch's argv (None: ``argv`` is not a batch)."""
    if len(argv) < 5 or tuple(argv[:2]) != ("sh", "-c") or argv[3] != BATCH:
        return None
    out: list[tuple[str, ...]] = []
    rest = list(argv[5:])
    while rest:
        n = int(rest[0])
        out.append(tuple(rest[2:2 + n]))
        rest = rest[2 + n:]
    return tuple(out)


class StartWatcher:
    """Fed the batch's stdout as it arrives; calls ``on_start(i)`` once as each command starts.
    Markers are found by plain string search (each batch has its own nonce: a regex would be
    compiled per batch)."""

    def __init__(self, nonce: str, on_start: Callable[[int], None]) -> None:
        self._nonce = nonce
        self._on_start = on_start
        self._text = ""
        self._told = 0

    def __call__(self, chunk: str) -> None:
        self._text += chunk
        while True:
            marker = f"@@JCOP {self._nonce} START {self._told}@@\n"
            at = self._text.find(marker)
            if at < 0:
                break
            self._text = self._text[at + len(marker):]
            self._told += 1
            self._on_start(self._told - 1)
        # keep only what may still hold the start of a marker cut by the chunk's end
        self._text = self._text[-64:]


def parse_batch(stdout: str, nonce: str, count: int) -> list[ItemResult]:
    """The results of the commands that ran, in order: all ``count``, or up to the first that
    failed (the batch stops there). Command i's output is what lies between its OUT, ERR and END
    markers (the first of each after the one before: plain string search, no regex per nonce)."""
    results: list[ItemResult] = []
    pos = 0
    while True:
        i = len(results)
        out, err, end = (f"@@JCOP {nonce} OUT {i}@@\n", f"\n@@JCOP {nonce} ERR {i}@@\n",
                         f"\n@@JCOP {nonce} END {i} ")
        at = stdout.find(out, pos)
        if at < 0:
            break
        at_err = stdout.find(err, at + len(out))
        at_end = stdout.find(end, at_err + len(err)) if at_err >= 0 else -1
        close = stdout.find("@@\n", at_end + len(end)) if at_end >= 0 else -1
        status = stdout[at_end + len(end):close] if close >= 0 else ""
        if not (status.isascii() and status.isdigit()):
            raise BatchOutputError(f"batch output: command {i} has no complete result")
        results.append(ItemResult(exit_status=int(status), stdout=stdout[at + len(out):at_err],
                                  stderr=stdout[at_err + len(err):at_end]))
        pos = close + 3
    if stdout.find(f"@@JCOP {nonce} OUT ", pos) >= 0:
        raise BatchOutputError(f"batch output: a command after {len(results)} out of order")
    if len(results) > count or (len(results) < count and (not results or results[-1].exit_status == 0)):
        raise BatchOutputError(f"batch output: {len(results)} results for {count} commands")
    return results


@runtime_checkable
class BatchRunner(Protocol):
    """A Runner that can also send several commands to one node in one round trip."""

    async def run(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, argv: Sequence[str], *,
                  input: str | None = None, check: bool = True,
                  timeout: float | None = None) -> CommandResult: ...  # noqa: ASYNC109

    async def run_batch(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts,
                        items: Sequence[BatchItem], *,
                        timeout: float | None = None) -> list[CommandResult | OperatorError]: ...  # noqa: ASYNC109


async def run_batch(runner: object, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts,
                    items: Sequence[BatchItem], *,
                    timeout: float | None = None) -> list[CommandResult | OperatorError]:  # noqa: ASYNC109
    """``items`` in one round trip when ``runner`` can (a BatchRunner), else one command at a time;
    either way up to the first that fails, which is returned as its error (CommandFailed, or for one
    command at a time any OperatorError). An error of the round trip itself (the node unreachable,
    the round trip timed out) is raised: which commands ran is then unknown."""
    if isinstance(runner, BatchRunner):
        return await runner.run_batch(node, creds, timeouts, items, timeout=timeout)
    results: list[CommandResult | OperatorError] = []
    for item in items:
        try:
            results.append(await runner.run(node, creds, timeouts, item.argv, input=item.input,  # type: ignore[attr-defined]
                                            timeout=timeout))
        except OperatorError as failed:
            results.append(failed)
            break
    return results
