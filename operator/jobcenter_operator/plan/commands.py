"""The commands the plan's actions run, one builder per kind. Pure.

Every command is an argv list; user values (virtual host, paths, group names) are separate argv
elements, and where a small sh wrapper is needed its text is a constant that refers to them only
as positional parameters. The node layer quotes the argv once (``shlex.join``); nothing here
builds a shell string out of user input. A wrapper's ``$0`` names the step (``stopgroup``,
``cjcmksite``...), so an audit line says what it was.
"""

from __future__ import annotations

import base64
import io
import tarfile
from collections.abc import Mapping

from ..paths import (
    BACKUP_ROOT,
    CJCMKSITE,
    CLPCFCTRL,
    CLPGRP,
    LOCAL_DAEMON_CONF,
    NQSSTART,
    NQSSTOP,
    STOP_MARKER_DIR,
    SYSTEMCTL,
    agent_unit,
)
from .model import Command

# Exit codes of the guards below, so the executor can tell "refused by the guard" from a failure.
GUARD_SITE_EXISTS = 17
GUARD_NOT_ACTIVE = 18

# cjcmksite, guarded at the last moment: never where <dbpath>/nqs exists, never on a node that
# does not hold the failover group right now (the plan checked both; the guard closes the race).
_CREATE_SITE = f"""\
[ -e "$3/nqs" ] && {{ echo "cjcmksite refused: $3/nqs already exists" >&2; exit {GUARD_SITE_EXISTS}; }}
[ "$({CLPGRP} -n "$4" 2>/dev/null)" = "$5" ] || {{ echo "cjcmksite refused: $4 is not online here" >&2; \
exit {GUARD_NOT_ACTIVE}; }}
exec {CJCMKSITE} "$1" "$2" "$3"
"""

# Stop/start a group, leaving a marker while it is stopped: if the operator dies in between, the
# next run finds the group offline *with* the marker and starts it again (facts.clusterpro).
# clpgrp's output is collected first: a client that disappears must not SIGPIPE the bookkeeping.
# $1 = group, $2 = this node (stop) / marker dir (start), $3 = marker dir (stop).
_STOP_GROUP = f"""\
mkdir -p "$3" && printf '%s\\n' "$2" >"$3/$1" || exit 1
out=$({CLPGRP} -t "$1" 2>&1)
rc=$?
# A failed stop keeps the marker unless the group is verifiably still online.
if [ "$rc" -ne 0 ] && [ -n "$({CLPGRP} -n "$1" 2>/dev/null)" ]; then rm -f "$3/$1"; fi
printf '%s\\n' "$out" >&2
exit "$rc"
"""
_START_GROUP = f"""\
out=$({CLPGRP} -s "$1" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] || [ -n "$({CLPGRP} -n "$1" 2>/dev/null)" ]; then rm -f "$2/$1"; fi
printf '%s\\n' "$out" >&2
exit "$rc"
"""

# Pull the whole current configuration (clpcfctrl --push takes a complete configuration
# directory: every group's scripts), overlay the files sent on stdin (base64 tar), keep a
# one-time backup of the configuration as it was before the operator's first push, push, clean
# up. $1 = backup dir.
_APPLY_CONFIG = f"""\
set -e
d=$(mktemp -d /tmp/jcop-config.XXXXXX)
trap 'rm -rf "$d"' EXIT
{CLPCFCTRL} --pull -x "$d" >/dev/null
if [ ! -e "$1/clp.conf" ]; then
    mkdir -p "$1"
    cp -a "$d/." "$1/"
fi
base64 -d | tar -x -C "$d" -f -
{CLPCFCTRL} --push -x "$d"
"""

# Replace a file's content atomically, keeping its mode and owner. $1 = path, stdin = content.
_WRITE_FILE = """\
set -e
t=$(mktemp "$1.jcop.XXXXXX")
trap 'rm -f "$t"' EXIT
cat >"$t"
if [ -e "$1" ]; then chmod --reference="$1" "$t"; chown --reference="$1" "$t"; fi
mv -f "$t" "$1"
trap - EXIT
"""


# Deletion: pull the whole configuration, put back the site's original scripts from the backup,
# drop a genw.sh the original did not have, replace clp.conf (stdin), push.
# $1 = backup dir, $2 = group, $3 = exec resource, $4 = monitor.
_RESTORE_CONFIG = f"""\
set -e
d=$(mktemp -d /tmp/jcop-restore.XXXXXX)
trap 'rm -rf "$d"' EXIT
{CLPCFCTRL} --pull -x "$d" >/dev/null
cat >"$d/clp.conf"
for f in start.sh stop.sh; do
    if [ -f "$1/scripts/$2/$3/$f" ]; then cp -p "$1/scripts/$2/$3/$f" "$d/scripts/$2/$3/$f"; fi
done
if [ ! -e "$1/scripts/monitor.s/$4" ]; then rm -rf "$d/scripts/monitor.s/$4"; fi
{CLPCFCTRL} --push -x "$d"
"""


def backup_dir(group: str) -> str:
    """Where ApplyClusterConfig keeps the configuration as it was before the operator's first push."""
    return f"{BACKUP_ROOT}/{group}"


def set_local_daemon(daemon_conf: str) -> Command:
    """Write the whole new daemon.conf."""
    return Command(argv=("sh", "-c", _WRITE_FILE, "sh", LOCAL_DAEMON_CONF), input=daemon_conf)


def stop_local_site() -> Command:
    # Disruptive: the node's local site stops running jobs (issue 17); starting it is not.
    return Command(argv=(NQSSTOP,), disruptive=True)


def start_local_site() -> Command:
    return Command(argv=(NQSSTART,))


def create_site(virtual_host: str, machine_id: int, database_path: str, group: str, node: str) -> Command:
    """cjcmksite VHOST ID DBPATH, refused on the node unless ``group`` is online on ``node``."""
    return Command(argv=("sh", "-c", _CREATE_SITE, "cjcmksite", virtual_host, str(machine_id), database_path,
                         group, node), disruptive=True)


def stop_group(group: str, node: str) -> Command:
    return Command(argv=("sh", "-c", _STOP_GROUP, "stopgroup", group, node, STOP_MARKER_DIR), disruptive=True)


def start_group(group: str) -> Command:
    return Command(argv=("sh", "-c", _START_GROUP, "startgroup", group, STOP_MARKER_DIR), disruptive=True)


def apply_config(group: str, clp_conf: str, scripts: Mapping[str, str]) -> Command:
    """Push clp.conf and the scripts (config-dir relative path -> content) with clpcfctrl."""
    return Command(argv=("sh", "-c", _APPLY_CONFIG, "apply", backup_dir(group)),
                   input=config_archive(clp_conf, scripts))


def restore_config(group: str, exec_resource: str, monitor: str, clp_conf: str) -> Command:
    """Push ``clp_conf`` with the exec resource's scripts and the monitor's as the backup has them."""
    return Command(argv=("sh", "-c", _RESTORE_CONFIG, "restore", backup_dir(group), group, exec_resource, monitor),
                   input=clp_conf)


def disable_agent_unit(instance_id: str) -> Command:
    return Command(argv=(SYSTEMCTL, "disable", agent_unit(instance_id)))


def config_archive(clp_conf: str, scripts: Mapping[str, str]) -> str:
    """A base64 tar of a clpcfctrl configuration directory (deterministic: fixed mtimes, sorted)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content, mode in [("clp.conf", clp_conf, 0o644)] + [
            (p, c, 0o755) for p, c in sorted(scripts.items())
        ]:
            data = content.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()
