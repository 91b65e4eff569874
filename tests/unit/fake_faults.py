"""Faults for the fast tier's fake nodes: the operator killed at a step boundary, a node that
stops answering, an administrator's edit of clp.conf. Each is a rule on a ``FakeRunner``.

A kill point is deterministic: the runner raises ``OperatorKilled`` (a BaseException, so nothing
in the operator catches it, as nothing survives a SIGKILL) instead of sending the Nth command of a
step; every command before it ran, nothing after it does, and no restore runs.
"""

from __future__ import annotations

from fake_nodes import FakeCluster, FakeRunner, Sent, result

from jobcenter_operator.errors import Unreachable
from jobcenter_operator.facts.clusterpro import clp_conf as read_clp_conf


class OperatorKilled(BaseException):
    """The operator process died here (SIGKILL): raised through everything."""


def kill_at(runner: FakeRunner, step: str, nth: int = 1) -> list[Sent]:
    """Die instead of sending the ``nth`` command of ``step`` (an sh wrapper's $0, e.g. ``apply``)."""
    seen: list[Sent] = []

    def die(sent: Sent) -> object:
        seen.append(sent)
        if len(seen) == nth:
            raise OperatorKilled(f"killed before {step} #{nth} on {sent.node}")
        return runner.default(sent)

    runner.on(lambda s: s.step == step, die)  # type: ignore[arg-type]
    return seen


def crash(runner: FakeRunner, node: str) -> None:
    """``node`` answers nothing any more (crashed, or its network cut)."""
    runner.on(lambda s: s.node == node, lambda s: Unreachable(node, "connection refused"))


def admin_edits_clp_conf(runner: FakeRunner, nodes: FakeCluster, *, after: str) -> None:
    """Right after the first ``after`` step, an administrator changes clp.conf (say in the WebUI)."""
    done: list[bool] = []

    def edit_then(sent: Sent) -> object:
        answer = nodes(sent)
        if not done:
            done.append(True)
            for name, f in nodes.facts.items():
                edited = f.clp_conf.text.replace("<comment/>", "<comment>edited in the WebUI</comment>", 1)
                nodes.facts[name] = f.model_copy(update={"clp_conf": read_clp_conf(edited)})
        return answer

    runner.on(lambda s: s.step == after, edit_then)  # type: ignore[arg-type]


__all__ = ["OperatorKilled", "admin_edits_clp_conf", "crash", "kill_at", "result"]
