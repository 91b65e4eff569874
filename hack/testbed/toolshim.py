"""How a simulated tool invoked on a node gets executed: build the C shim, pick the dispatch.

``resident`` (default when a C compiler exists): each tool path holds the compiled ``toolshim.c``,
which hands the command to the node's resident helper (``toolsd``); no Python start-up per command.
``direct`` (``JCOP_TESTBED_DISPATCH=direct``, or no compiler): each tool path holds the two-line sh
wrapper that starts ``python -m hack.testbed.nodetools`` per command. The direct wrappers are
installed in both modes under DIRECT_DIR: the shim falls back to them when the helper is not
reachable, tools in ``nodetools.DIRECT_ONLY`` always use them, and tests compare both paths.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .config import state_root

SOURCE = Path(__file__).with_name("toolshim.c")
DIRECT_DIR = "/usr/lib/jcb-testbed/direct"  # inside a node; the shim has it compiled in
DISPATCH_FILE = "/usr/lib/jcb-testbed/dispatch"  # inside a node: "resident" or "direct"
DISPATCHES = ("resident", "direct")
SOCKET_PATH = "/run/jcb-toolsd.sock"  # inside a node (private /run tmpfs); compiled into the shim too


def wanted_dispatch() -> str:
    value = os.environ.get("JCOP_TESTBED_DISPATCH", "resident")
    if value not in DISPATCHES:
        raise ValueError(f"JCOP_TESTBED_DISPATCH={value!r}: expected one of {DISPATCHES}")
    return value


def build_shim(cache: Path | None = None) -> Path | None:
    """The compiled shim (built once per source version, shared by all beds), or None without a compiler."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    source = SOURCE.read_bytes()
    cache = cache or state_root() / ".toolshim"
    out = cache / f"toolshim-{hashlib.sha256(source).hexdigest()[:16]}"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(tmp), str(SOURCE)], check=True,
                   capture_output=True)
    tmp.replace(out)  # atomic: beds coming up at once never see a half-written shim
    return out
