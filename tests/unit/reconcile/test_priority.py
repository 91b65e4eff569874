"""The one bound on commands in flight (node.limit): a new site's commands go before queued drift
checks, against the fake nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fake_nodes import FakeRunner, Sent, access, fake_runner
from plan_factory import CLASSIC, NODES, apply, cluster

from jobcenter_operator.node import CommandLimit, Limited, Priority, drift_checking
from jobcenter_operator.plan import plan_site
from jobcenter_operator.reconcile import reconcile_site

ACCESS = access(NODES)


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (they only need the loop, no time)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never came true")


def logged(name: str, runner: FakeRunner, log: list[tuple[str, Sent]]) -> FakeRunner:
    """``runner``, with every command it answers appended to the shared ``log`` under ``name``."""
    answer = runner.default

    def default(sent: Sent) -> object:
        log.append((name, sent))
        return answer(sent)

    runner.default = default  # type: ignore[assignment]
    return runner


async def test_a_new_sites_first_command_is_sent_before_queued_drift_checks() -> None:
    limit, log = CommandLimit(1), []  # type: ignore[var-annotated]
    converged = apply(CLASSIC, cluster(), plan_site(CLASSIC, NODES, cluster()).actions)
    release = asyncio.Event()

    async def busy() -> None:  # one command in flight: everything else queues
        async with limit.slot():
            await release.wait()

    holder = asyncio.create_task(busy())
    await until(lambda: limit.in_flight == 1)
    drift = [asyncio.create_task(reconcile_site(Limited(logged(f"old{i}", fake_runner(CLASSIC, converged)[0], log),
                                                        limit), ACCESS, CLASSIC, enforce=True, drift_check=True))
             for i in range(3)]
    await until(lambda: limit.waiting(Priority.DRIFT) == 3 * len(NODES))
    new = asyncio.create_task(reconcile_site(Limited(logged("new", fake_runner(CLASSIC, cluster())[0], log), limit),
                                             ACCESS, CLASSIC, enforce=True, settle_interval=0))
    await until(lambda: limit.waiting(Priority.CHANGE) == len(NODES))
    release.set()
    await asyncio.gather(holder, *drift, new)

    order = [name for name, _ in log]
    assert order[:len(NODES)] == ["new"] * len(NODES), order
    assert all(s.is_probe for _, s in log[:len(NODES)]), "the new site's facts probes first"
    assert new.result().error is None and new.result().plan is not None and new.result().plan.converged
    assert all(t.result().error is None for t in drift)


async def test_waiters_of_one_priority_are_served_in_their_order_and_the_bound_holds() -> None:
    limit, served = CommandLimit(2), []  # type: ignore[var-annotated]
    release = asyncio.Event()

    async def command(name: str, priority: Priority) -> None:
        async with limit.slot(priority):
            served.append(name)
            assert limit.in_flight <= 2
            await release.wait()

    first = [asyncio.create_task(command(f"busy{i}", Priority.CHANGE)) for i in range(2)]
    await until(lambda: limit.in_flight == 2)
    queued = [asyncio.create_task(command(n, p)) for n, p in
              (("d1", Priority.DRIFT), ("c1", Priority.CHANGE), ("d2", Priority.DRIFT), ("c2", Priority.CHANGE))]
    await until(lambda: limit.waiting() == 4)
    release.set()
    await asyncio.gather(*first, *queued)
    assert served == ["busy0", "busy1", "c1", "c2", "d1", "d2"]
    assert limit.in_flight == 0


async def test_a_cancelled_waiter_gives_its_place_up_and_drift_checking_is_scoped() -> None:
    limit = CommandLimit(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with limit.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await until(lambda: limit.in_flight == 1)
    with drift_checking():
        waiter = asyncio.create_task(hold())  # the task copies the context: a drift check's command
    await until(lambda: limit.waiting(Priority.DRIFT) == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limit.waiting() == 0
    release.set()
    await holder
    assert limit.in_flight == 0
    with pytest.raises(ValueError, match=">= 1"):
        CommandLimit(0)
