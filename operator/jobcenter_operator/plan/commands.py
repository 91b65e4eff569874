"""The commands the plan's actions run, one builder per kind. Pure.

Every command is an argv list; user values (virtual host, paths, group names) are separate argv
elements, and where a small sh wrapper is needed its text is a constant that refers to them only
as positional parameters. The node layer quotes the argv once (``shlex.join``); nothing here
builds a shell string out of user input. A wrapper's ``$0`` names the step (``stopgroup``,
``cjcmksite``...), so an audit line says what it was.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

from ..paths import (
    BACKUP_ROOT,
    CJCMKSITE,
    CLPCFCTRL,
    CLPGRP,
    LOCAL_DAEMON_CONF,
    NQSSTART,
    NQSSTOP,
    OPERATOR_STATE,
    STOP_MARKER_DIR,
    SYSTEMCTL,
    agent_unit,
)
from ..xml_spans import encode_document
from .model import Command

# Exit codes of the guards below, so the executor can tell "refused by the guard" from a failure
# (each command lists its own in ``Command.refusals``).
GUARD_SITE_EXISTS = 17
GUARD_NOT_ACTIVE = 18
GUARD_CONCURRENT_EDIT = 19
GUARD_NOT_MOUNTED = 20

# cjcmksite, guarded at the last moment: never onto a database path that is not a mounted file
# system (the site would land on the root disk), never where <dbpath>/nqs exists (a dangling
# symlink counts: it is somebody's site on a disk not mounted), never on a node that does not hold
# the failover group right now (the plan checked these; the guard closes the race).
_CREATE_SITE = f"""\
mountpoint -q "$3" || {{ echo "cjcmksite refused: $3 is not a mounted file system" >&2; \
exit {GUARD_NOT_MOUNTED}; }}
if [ -e "$3/nqs" ] || [ -L "$3/nqs" ]; then echo "cjcmksite refused: $3/nqs already exists" >&2; \
exit {GUARD_SITE_EXISTS}; fi
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

# The stop marker on a node other than the one stopping the group (the stopping node writes its own
# in _STOP_GROUP), and its removal. $1 = group, $2 = the stopping node (mark) / marker dir (clear),
# $3 = marker dir (mark).
_MARK_STOPPED = """\
mkdir -p "$3" && printf '%s\\n' "$2" >"$3/$1"
"""
_CLEAR_MARKER = """\
rm -f "$2/$1"
"""

# Pull the whole current configuration (clpcfctrl --push takes a complete configuration
# directory: every group's scripts), overlay the files sent on stdin (base64 tar), keep a
# one-time backup of the configuration as it was before the operator's first push, push, clean
# up. The pulled clp.conf must be the one the plan was made from: an edit made since (an
# administrator in the WebUI) is never overwritten. $1 = backup dir, $2 = sha256 of the plan's clp.conf.
_SAME_AS_PLANNED = f"""\
if [ "$(sha256sum <"$d/clp.conf" | cut -d' ' -f1)" != "$2" ]; then
    echo "ConcurrentEdit: clp.conf changed since the plan was made; nothing was pushed" >&2
    exit {GUARD_CONCURRENT_EDIT}
fi
"""
_APPLY_CONFIG = f"""\
set -e
d=$(mktemp -d /tmp/jcop-config.XXXXXX)
trap 'rm -rf "$d"' EXIT
{CLPCFCTRL} --pull -x "$d" >/dev/null
{_SAME_AS_PLANNED}if [ ! -e "$1/clp.conf" ]; then
    mkdir -p "$1"
    cp -a "$d/." "$1/"
fi
base64 -d | tar -x -C "$d" -f -
{CLPCFCTRL} --push -l -x "$d"
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
# $1 = backup dir, $2 = sha256 of the plan's clp.conf, $3 = group, $4 = exec resource, $5 = monitor.
_RESTORE_CONFIG = f"""\
set -e
d=$(mktemp -d /tmp/jcop-restore.XXXXXX)
trap 'rm -rf "$d"' EXIT
{CLPCFCTRL} --pull -x "$d" >/dev/null
{_SAME_AS_PLANNED}base64 -d >"$d/clp.conf"
for f in start.sh stop.sh; do
    if [ -f "$1/scripts/$3/$4/$f" ]; then cp -p "$1/scripts/$3/$4/$f" "$d/scripts/$3/$4/$f"; fi
done
if [ ! -e "$1/scripts/monitor.s/$5" ]; then rm -rf "$d/scripts/monitor.s/$5"; fi
{CLPCFCTRL} --push -l -x "$d"
"""


# Every action runs bounded on the node and under the node's operator lock (issue 12): sshd does
# not signal a root session whose client went away, so a timed-out push or cjcmksite would race the
# restore and the next run; ``timeout -k`` ends it on the node. ``flock`` on one lock file per node
# keeps two operator processes, or two ClusterproClusters naming the same servers, from acting on
# one node at once; a lock not had within LOCK_WAIT_SECONDS is NodeBusy.
# Each action names its operator process (``holder_identity``: replica and pid). The holder writes
# itself into LOCK_HOLDER once it has the lock; an action that finds the lock taken appends a line
# to LOCK_LOG naming itself and the holder, before it waits ("wait") and again if it gives up
# ("busy"). Two processes never both act (the lock), and a second one coming at all is on record:
# the node-side lock seeing a second holder is what the sharded replicas must never cause (issue 16).
# timeout(1) runs as a child (not exec'd): past the grace it SIGKILLs its own process group, itself
# included, and the shell then exits 137 (EXIT_KILLED) rather than dying of the signal.
# $1 = lock dir, $2 = lock wait, $3 = kill grace, $4 = limit, $5 = holder identity, then the action's argv.
BOUNDED = "jcop-bounded"
LOCK_FILE = f"{OPERATOR_STATE}/lock"
LOCK_HOLDER = f"{OPERATOR_STATE}/lock.holder"
LOCK_LOG = f"{OPERATOR_STATE}/lock.log"
LOCK_WAIT_SECONDS = 30
KILL_GRACE_SECONDS = 5
EXIT_NODE_BUSY = 75
EXIT_TIMED_OUT = 124  # timeout(1): the command ran out of time and was sent SIGTERM
EXIT_KILLED = 137  # timeout(1) -k: it ignored SIGTERM and was killed
_BOUNDED_SETTINGS = 5  # $1-$5 above
_BOUNDED = f"""\
[ -d "$1" ] || mkdir -p "$1" || exit 1
lock=$1/lock wait=$2 grace=$3 limit=$4 me=$5
shift 5
exec 9>>"$lock" || exit 1
if ! flock -n 9; then
    printf '%s wait %s held-by %s\\n' "$(date +%s.%N)" "$me" "$(cat "$lock.holder" 2>/dev/null || echo -)" \
        >>"$lock.log"
    flock -w "$wait" 9 || {{
        printf '%s busy %s held-by %s\\n' "$(date +%s.%N)" "$me" "$(cat "$lock.holder" 2>/dev/null || echo -)" \
            >>"$lock.log"
        exit {EXIT_NODE_BUSY}
    }}
fi
printf '%s\\n' "$me" >"$lock.holder"
timeout -k "$grace" "$limit" "$@"
"""
_IDENTITY_UNSAFE = re.compile(r"[^A-Za-z0-9._:@-]")


def holder_identity(replica: str, pid: int) -> str:
    """How an operator process names itself to the node lock: ``replica:pid`` (one token: the lock
    log is split on blanks)."""
    return _IDENTITY_UNSAFE.sub("_", f"{replica or '-'}:{pid}")


def bounded(argv: tuple[str, ...], limit: float, holder: str = "-") -> tuple[str, ...]:
    """``argv`` run under the node lock held by ``holder`` and killed on the node after ``limit`` seconds."""
    return ("sh", "-c", _BOUNDED, BOUNDED, OPERATOR_STATE, str(LOCK_WAIT_SECONDS), str(KILL_GRACE_SECONDS),
            f"{limit:g}", holder, *argv)


def bounded_budget(limit: float) -> float:
    """How long the operator waits for a bounded command: the lock, the limit and the kill."""
    return LOCK_WAIT_SECONDS + limit + KILL_GRACE_SECONDS + 5


def unbounded(argv: tuple[str, ...]) -> tuple[str, ...]:
    """The action's own argv inside ``bounded`` (the argv itself when it is not bounded)."""
    return argv[4 + _BOUNDED_SETTINGS:] if argv[:2] == ("sh", "-c") and argv[3:4] == (BOUNDED,) else argv


def bounded_holder(argv: tuple[str, ...]) -> str | None:
    """The holder identity a bounded argv carries (None when it is not bounded)."""
    return argv[8] if argv[:2] == ("sh", "-c") and argv[3:4] == (BOUNDED,) and len(argv) > 8 else None


@dataclass(frozen=True)
class Contention:
    """One line of a node's LOCK_LOG: ``waiter`` found the lock held by ``holder`` (``busy``: it
    gave up after LOCK_WAIT_SECONDS)."""

    at: str
    waiter: str
    holder: str
    busy: bool

    @property
    def second_process(self) -> bool:
        """Another operator process than the holder came for the lock (a holder of "-": unknown)."""
        return self.waiter != self.holder


def lock_contention(log: str) -> list[Contention]:
    """The contention a node's LOCK_LOG records, oldest first (lines not in its format skipped)."""
    found = []
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[1] in ("wait", "busy") and parts[3] == "held-by":
            found.append(Contention(at=parts[0], waiter=parts[2], holder=parts[4], busy=parts[1] == "busy"))
    return found


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
                         group, node), disruptive=True,
                   refusals=((GUARD_NOT_MOUNTED, "DiskNotMounted"), (GUARD_SITE_EXISTS, "SiteExists"),
                             (GUARD_NOT_ACTIVE, "GroupMoved")))


def stop_group(group: str, node: str) -> Command:
    return Command(argv=("sh", "-c", _STOP_GROUP, "stopgroup", group, node, STOP_MARKER_DIR), disruptive=True)


def mark_group_stopped(group: str, stopping_node: str) -> Command:
    return Command(argv=("sh", "-c", _MARK_STOPPED, "markstop", group, stopping_node, STOP_MARKER_DIR))


def clear_stop_marker(group: str) -> Command:
    return Command(argv=("sh", "-c", _CLEAR_MARKER, "clearmark", group, STOP_MARKER_DIR))


def start_group(group: str) -> Command:
    return Command(argv=("sh", "-c", _START_GROUP, "startgroup", group, STOP_MARKER_DIR), disruptive=True)


def apply_config(group: str, clp_conf: str, scripts: Mapping[str, str], planned_from: str,
                 encoding: str = "UTF-8") -> Command:
    """Push clp.conf (written in ``encoding``, its declared charset) and the scripts (config-dir
    relative path -> content) with clpcfctrl, unless the cluster's clp.conf is no longer
    ``planned_from`` (ConcurrentEdit)."""
    return Command(argv=("sh", "-c", _APPLY_CONFIG, "apply", backup_dir(group), sha256_text(planned_from, encoding)),
                   input=config_archive(encode_document(clp_conf, encoding), scripts),
                   refusals=((GUARD_CONCURRENT_EDIT, "ConcurrentEdit"),))


def restore_config(group: str, exec_resource: str, monitor: str, clp_conf: str, planned_from: str,
                   encoding: str = "UTF-8") -> Command:
    """Push ``clp_conf`` with the exec resource's scripts and the monitor's as the backup has them,
    unless the cluster's clp.conf is no longer ``planned_from`` (ConcurrentEdit)."""
    data = base64.b64encode(encode_document(clp_conf, encoding)).decode()
    return Command(argv=("sh", "-c", _RESTORE_CONFIG, "restore", backup_dir(group), sha256_text(planned_from, encoding),
                         group, exec_resource, monitor),
                   input=data, refusals=((GUARD_CONCURRENT_EDIT, "ConcurrentEdit"),))


def sha256_text(text: str, encoding: str = "UTF-8") -> str:
    """The sha256 of the file as the node holds it: ``text`` written in its declared charset."""
    return hashlib.sha256(encode_document(text, encoding)).hexdigest()


def disable_agent_unit(instance_id: str) -> Command:
    return Command(argv=(SYSTEMCTL, "disable", agent_unit(instance_id)))


def config_archive(clp_conf: bytes | str, scripts: Mapping[str, str]) -> str:
    """A base64 tar of a clpcfctrl configuration directory (deterministic: fixed mtimes, sorted).
    clp.conf goes in as the bytes given (already in its declared charset)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content, mode in [("clp.conf", clp_conf, 0o644)] + [
            (p, c, 0o755) for p, c in sorted(scripts.items())
        ]:
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()
