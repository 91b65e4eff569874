"""The operator's one bound on commands in flight on all nodes, with new work before drift checks.

No I/O and no asyncssh: ``Limited`` wraps any Runner (the NodePool in production, the fake nodes in
tests). A command waits for one of ``limit`` slots (its connect, if the connection is new, included);
a waiting command of a create, an update or a requested reconcile goes before every waiting drift
check (first come, first served within each), so a new site is never queued behind a round of drift
checks of hundreds of nodes. A run marks itself a drift check with ``drift_checking()`` (reconcile.py).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from enum import IntEnum
from typing import Protocol

from ..errors import OperatorError
from .batch import BatchItem, run_batch
from .types import CommandResult, NodeAddress, SSHCredentials, Timeouts


class Priority(IntEnum):
    CHANGE = 0  # create, update, resume, a requested reconcile, a deletion
    DRIFT = 1  # a timer's drift check


_PRIORITY: ContextVar[Priority] = ContextVar("jcop_command_priority", default=Priority.CHANGE)


@contextmanager
def drift_checking() -> Iterator[None]:
    """The commands sent within are a drift check's: they wait behind every other run's."""
    token = _PRIORITY.set(Priority.DRIFT)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def current_priority() -> Priority:
    return _PRIORITY.get()


class CommandLimit:
    """A semaphore of ``limit`` slots that hands a freed slot to the best waiter: the lowest
    priority value, then the earliest."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the limit of commands in flight must be >= 1")
        self.limit = limit
        self._free = limit
        self._order = itertools.count()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []

    @property
    def in_flight(self) -> int:
        return self.limit - self._free

    def waiting(self, priority: Priority | None = None) -> int:
        return sum(1 for p, _, f in self._waiters if not f.done() and (priority is None or p == priority))

    @asynccontextmanager
    async def slot(self, priority: Priority | None = None) -> AsyncIterator[None]:
        await self._acquire(current_priority() if priority is None else priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: Priority) -> None:
        if self._free > 0 and not any(not f.done() for _, _, f in self._waiters):
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot goes straight to the waiter
                return
        self._free += 1


class _Runner(Protocol):
    async def run(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts, argv: Sequence[str], *,
                  input: str | None = None, check: bool = True,
                  timeout: float | None = None) -> CommandResult: ...  # noqa: ASYNC109


class Limited:
    """A Runner whose commands take a slot of ``limit`` first."""

    def __init__(self, runner: _Runner, limit: CommandLimit) -> None:
        self._runner, self.limit = runner, limit

    async def run(
        self,
        node: NodeAddress,
        creds: SSHCredentials,
        timeouts: Timeouts,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> CommandResult:
        async with self.limit.slot():
            return await self._runner.run(node, creds, timeouts, argv, input=input, check=check, timeout=timeout)

    async def run_batch(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts,
                        items: Sequence[BatchItem], *,
                        timeout: float | None = None) -> list[CommandResult | OperatorError]:  # noqa: ASYNC109
        """One slot for the round trip (the inner runner sends it as one, if it can)."""
        async with self.limit.slot():
            return await run_batch(self._runner, node, creds, timeouts, items, timeout=timeout)
