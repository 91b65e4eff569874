"""/usr/lib/nqs/cluster/cjcmksite <virtual-host-name> <machine-id> <database-path> (node-protocol 2.2, 9)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from . import conf, guesses, local
from .runtime import NodeContext


def main(argv: list[str]) -> int:
    err = guesses.EXIT_ERROR
    if os.geteuid() != 0:
        print("cjcmksite: permission denied (must be run as root).", file=sys.stderr)
        return err
    if len(argv) != 3:
        print(guesses.MKSITE_USAGE, file=sys.stderr)
        return err
    vhost, mid, dbpath = argv
    if not mid.isdigit() or int(mid) <= 0:
        print(f"cjcmksite: invalid machine ID: {mid}", file=sys.stderr)
        return err
    if not os.path.isabs(dbpath) or not Path(dbpath).is_dir():
        print(f"cjcmksite: {dbpath}: no such directory.", file=sys.stderr)
        return err
    if (Path(dbpath) / "nqs").exists():
        print(f"cjcmksite: {dbpath}/nqs already exists.", file=sys.stderr)
        return err
    try:
        canonical = socket.gethostbyname_ex(vhost)[0]
    except OSError:
        print(f"cjcmksite: cannot resolve the virtual host name {vhost}.", file=sys.stderr)
        return err
    if canonical != vhost:
        print(f"cjcmksite: {vhost} is an alias of {canonical}; give the official host name.", file=sys.stderr)
        return err
    if local.running():
        print("cjcmksite: local daemon is running. Stop it with /usr/lib/nqs/nqsstop.", file=sys.stderr)
        return err
    conf.create_site(dbpath, vhost, int(mid), conf.install_mode())
    return 0


def main_ctx(argv: list[str], ctx: NodeContext) -> int:
    return main(argv)
