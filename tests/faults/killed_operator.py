"""An operator process that SIGKILLs itself at a deterministic point: right before the ``nth``
command of ``step`` goes to a node (the pool's observer sees every command just before it is sent).

    python -m tests.faults.killed_operator CELL.json STEP NTH

CELL.json holds the bed's ``up`` document, the site spec (API spelling) and the known_hosts text.
The process reconciles the site through a real NodePool and dies by SIGKILL at the kill point
(exit -9 for the parent); if the point never comes it exits 3.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from jobcenter_operator.api import JobCenterSiteSpec
from jobcenter_operator.node import NodePool
from jobcenter_operator.plan.commands import unbounded
from jobcenter_operator.reconcile import reconcile_site

from .harness import access_for


def main(doc: dict[str, Any], step: str, nth: int) -> int:
    seen = 0

    def observe(node: str, argv: tuple[str, ...]) -> None:
        nonlocal seen
        own = unbounded(tuple(argv))
        if (own[:2] == ("sh", "-c") and own[3:4] == (step,)) or own[:1] == (step,):
            seen += 1
            if seen == nth:
                os.kill(os.getpid(), signal.SIGKILL)

    async def run() -> None:
        pool = NodePool(observer=observe)
        spec = JobCenterSiteSpec.model_validate(doc["site"])
        await reconcile_site(pool, access_for(doc["bed"], doc["knownHosts"].encode()), spec, enforce=True,
                             settle_timeout=30, settle_interval=0.2)

    asyncio.run(run())
    return 3


if __name__ == "__main__":
    sys.exit(main(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2], int(sys.argv[3])))
