"""Entry point of every simulated product command inside a node.

Two ways in, running the same ``run(tool, argv)``: the direct wrapper (two lines of sh that run
``python -m hack.testbed.nodetools <tool> <args>`` with JCB_CLUSTER_DIR / JCB_NODE set), and the
node's resident helper (``toolsd``), which forks per command instead of starting Python. See
``node_fs.install_tools`` for which path each tool gets.
"""

from __future__ import annotations

import importlib
import sys

from .jc.runtime import NodeContext, apply_faults

# tool -> (module, function); imported lazily: every command start costs Python start-up time
JC_TOOLS = {
    "cjcmksite": ("mksite", "main_ctx"),
    "cjcpw": ("cjcpw", "main"),
    "cjcls": ("cjcls", "main"),
    "nqsstart": ("local", "nqsstart"),
    "nqsstop": ("local", "nqsstop"),
    "jcagctrl": ("agent", "jcagctrl"),
    "systemctl": ("agent", "systemctl"),
}
CLP_TOOLS = ("clpcfctrl", "clpgrp", "clpcl", "clpstat", "clpmonctrl")
LOCAL_CLP_TOOLS = {"clplogcmd": ("logcmd", "main")}  # node-local, no cluster daemon involved
# Wrapper install paths (inside the node) of each tool.
TOOL_PATHS = {
    "cjcmksite": "/usr/lib/nqs/cluster/cjcmksite",
    "cjcpw": "/usr/lib/nqs/cluster/cjcpw",
    "cjcls": "/usr/lib/nqs/cluster/cjcls",
    "clplogcmd": "/usr/sbin/clplogcmd",
    "nqsstart": "/usr/lib/nqs/nqsstart",
    "nqsstop": "/usr/lib/nqs/nqsstop",
    "jcagctrl": "/usr/bin/jcagctrl",
    "systemctl": "/usr/bin/systemctl",
    **{t: f"/usr/sbin/{t}" for t in CLP_TOOLS},
}


# Tools that must stay a process of their caller's tree: a resident `cjcpw V P` is the async exec
# resource's start script's child (pidw watches it, stop kills what is left of that tree).
DIRECT_ONLY = ("cjcpw",)


def preload() -> None:
    """Import every tool's module (the resident helper does this once, before it forks)."""
    from .clp import client  # noqa: F401

    for module, _ in JC_TOOLS.values():
        importlib.import_module(f".jc.{module}", __package__)
    for module, _ in LOCAL_CLP_TOOLS.values():
        importlib.import_module(f".clp.{module}", __package__)


def run(tool: str, argv: list[str]) -> int:
    """Run one simulated command in this process (it may raise SystemExit, as a fault does)."""
    # look like the real command in ps -ef / pgrep -x, not like "python3 -m hack.testbed..."
    from .jc.procs import become

    become(" ".join([TOOL_PATHS.get(tool, tool), *argv]), tool)
    ctx = NodeContext.from_env()
    apply_faults(ctx, tool, argv)
    if tool in JC_TOOLS:
        module, func = JC_TOOLS[tool]
        rc: int = getattr(importlib.import_module(f".jc.{module}", __package__), func)(argv, ctx)
        return rc
    if tool in LOCAL_CLP_TOOLS:
        module, func = LOCAL_CLP_TOOLS[tool]
        rc2: int = getattr(importlib.import_module(f".clp.{module}", __package__), func)(argv, ctx)
        return rc2
    if tool in CLP_TOOLS:
        from .clp import client

        return client.main(tool, argv, ctx)
    print(f"unknown test-bed tool {tool}", file=sys.stderr)
    return 127


def main() -> int:
    return run(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
