"""/usr/lib/nqs/cluster/cjcmksite <virtual-host-name> <machine-id> <database-path> (node-protocol 2.2, 9).

Texts and exit codes of the failures are GUESSes (jc/guesses.py JC_ERRORS, variant axis jc-errors).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ..config import BedRecord
from . import conf, guesses, local
from .runtime import NodeContext


def main(argv: list[str], bed: BedRecord) -> int:
    variant = bed.variant("jc-errors")

    def fail(key: str, **values: object) -> int:
        code, text = guesses.jc_error(variant, key, tool="cjcmksite", usage=guesses.MKSITE_USAGE, **values)
        print(text, file=sys.stderr)
        return code

    if os.geteuid() != 0:
        return fail("not_root")
    if len(argv) != 3:
        return fail("usage")
    vhost, mid, dbpath = argv
    if not mid.isdigit() or int(mid) <= 0:
        return fail("bad_machine_id", mid=mid)
    if not os.path.isabs(dbpath) or not Path(dbpath).is_dir():
        return fail("no_dir", dbpath=dbpath)
    if (Path(dbpath) / "nqs").exists():
        return fail("exists", dbpath=dbpath)
    try:
        canonical = socket.gethostbyname_ex(vhost)[0]
    except OSError:
        return fail("unresolved", vhost=vhost)
    if canonical != vhost:
        return fail("alias", vhost=vhost, canonical=canonical)
    if local.running():
        return fail("local_running")
    conf.create_site(dbpath, vhost, int(mid), conf.install_mode(bed),
                     identity_keys=bed.has("site-identity-keys"))
    return 0


def main_ctx(argv: list[str], ctx: NodeContext) -> int:
    return main(argv, ctx.bed)
