"""Context of a node tool: which bed and node it runs on, simulated delays and injected faults."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import BedRecord, faults_file


@dataclass
class NodeContext:
    cluster_dir: Path
    node: str
    bed: BedRecord

    @classmethod
    def from_env(cls) -> NodeContext:
        d = Path(os.environ["JCB_CLUSTER_DIR"])
        return cls(d, os.environ["JCB_NODE"], BedRecord.load_dir(d))


def apply_faults(ctx: NodeContext, tool: str, argv: list[str] | None = None) -> None:
    """`fault slow` / `fault fail-command` (see api.fault) act here, before the tool runs. A
    fail-command entry is a tool name, or a tool and the first arguments it fails with
    ("clpcl -r": only the restart fails)."""
    try:
        faults = json.loads(faults_file(ctx.cluster_dir).read_text())
    except (OSError, ValueError):
        return
    delay = float(faults.get("slow", {}).get(ctx.node, 0))
    if delay > 0:
        time.sleep(delay)
    called = [tool, *(argv or [])]
    for entry in faults.get("failCommand", {}).get(ctx.node, []):
        words = entry.split()
        if called[:len(words)] == words:
            print(f"{tool}: simulated failure (test-bed fault fail-command)", file=sys.stderr)
            sys.exit(1)
