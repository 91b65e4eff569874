"""The operator's kopf handlers with the fake nodes of the fast tier as their pool: handler wiring
against the API stand-in without the test bed (no root, no SSH).

Usage: python tests/integration/fake_operator.py SENT_LOG   (KUBECONFIG points at the stand-in)
Every command the handlers send is appended to SENT_LOG as one JSON line (node, step, argv).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # fake_nodes, plan_factory

import kopf
from fake_nodes import FakeRunner, fake_runner
from plan_factory import CLASSIC, cluster

import jobcenter_operator.handlers  # noqa: F401  (registers the handlers)
from jobcenter_operator.node import CommandResult, NodeAddress


class FakePool:
    """What the handlers use of a NodePool, over a FakeRunner."""

    def __init__(self, runner: FakeRunner, log: Path) -> None:
        self.runner, self.log = runner, log

    async def run(self, node: NodeAddress, *args: Any, **kwargs: Any) -> CommandResult:
        try:
            return await self.runner.run(node, *args, **kwargs)
        finally:
            sent = self.runner.sent[-1]
            with self.log.open("a") as f:
                f.write(json.dumps({"node": sent.node, "step": sent.step, "argv": list(sent.argv)}) + "\n")

    def stats(self) -> dict[str, int]:
        return {"commands_total": len(self.runner.sent)}

    def host_key_fingerprint(self, node: NodeAddress) -> str | None:
        return None

    def pin_host_key(self, node: NodeAddress, fingerprint: str) -> None:
        raise AssertionError("no host key was recorded")

    async def close(self) -> None:
        return None


async def main(log: Path) -> None:
    runner, _ = fake_runner(CLASSIC, cluster())
    await kopf.operator(standalone=True, namespaces=["default"], memo=kopf.Memo(pool=FakePool(runner, log)))


if __name__ == "__main__":
    kopf.configure(verbose=False)
    asyncio.run(main(Path(sys.argv[1])))
