"""CLUSTERPRO on one node: cluster status, where the group runs, the live clp.conf, installed scripts.

Pure module. Formats: node-protocol 5.4 (``clpgrp -n``) and 5.5 (``clpstat``). ``clpstat --long``
prints names whole (the default layout cuts them at 16 characters, node-protocol 10); a product
without ``--long`` falls back to the default layout. The parsers do not depend on column widths
(names may be cut or padded): they split at the first ``:``. clp.conf travels base64-encoded, so
its bytes arrive as they are on the node whatever its declared charset (ASCII, EUC-JP, UTF-8).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import shlex
from collections import OrderedDict

from pydantic import Field

from ..frozen import Frozen
from ..paths import (
    BACKUP_ROOT,
    CLP_CONF,
    CLPGRP,
    CLPSTAT,
    MANAGED_BY,
    SCRIPTS_ROOT,
    STOP_MARKER_DIR,
    SUSPEND_MARKER_DIR,
)
from ..xml_spans import XmlError, decode_document
from .cluster_config import ClpConfInvalid, ClusterConfig, parse_cluster_config
from .sections import Section, SectionOutput

CLPSTAT_SECTION = Section("clpstat", f"    {CLPSTAT} --long || {CLPSTAT}")
# clpgrp -n prints the server where the group is online; empty (any exit) when it is offline.
GROUP_NODE = Section(
    "clpgrp",
    f"""\
    [ -n "$group" ] || return 3
    {CLPGRP} -n "$group\"""",
)
# The live clp.conf, base64 (its bytes whatever its charset). ``$clp_sha``: the sha256 of the copy
# the operator already holds for this node; while the file still has it, only that digest comes
# back (``unchanged <sha256>``: no base64 text starts so), not the file.
CLP_CONF_SECTION = Section(
    "clp_conf",
    f"""\
    if [ -n "$clp_sha" ]; then
        set -- $(sha256sum {CLP_CONF} 2>/dev/null)
        if [ "$1" = "$clp_sha" ]; then echo "unchanged $1"; return 0; fi
    fi
    base64 {CLP_CONF}""",
)
UNCHANGED = "unchanged "
# The operator writes this marker (the node's name) before it stops a group and removes it once the
# group is started again: a group found offline with the marker was stopped by an interrupted run.
STOP_MARKER = Section(
    "stop_marker",
    f"""\
    case "$group" in ""|*/*) return 3 ;; esac
    [ -e "{STOP_MARKER_DIR}/$group" ] || return 1  # the usual answer, without starting cat
    cat "{STOP_MARKER_DIR}/$group\"""",
)
# Written on every reachable node before the operator suspends the cluster, removed after the
# resume: found while the cluster is suspended, it means a run was killed in between.
SUSPEND_MARKER = Section(
    "suspend_marker",
    f"""\
    case "$group" in ""|*/*) return 3 ;; esac
    [ -e "{SUSPEND_MARKER_DIR}/$group" ] || return 1  # the usual answer, without starting cat
    cat "{SUSPEND_MARKER_DIR}/$group\"""",
)
# sha256 of the installed exec scripts and genw.sh, one "<hash>  <path>" line per existing file,
# and "managed  <path>" for each that is the operator's (of any version: it carries MANAGED_BY).
# One sha256sum and one grep for all the files: every facts read runs this.
SCRIPT_HASHES = Section(
    "script_hashes",
    f"""\
    [ -n "$group" ] && [ -n "$exec_rsc" ] || return 3
    set --
    for f in "{SCRIPTS_ROOT}/$group/$exec_rsc/start.sh" \\
             "{SCRIPTS_ROOT}/$group/$exec_rsc/stop.sh" \\
             "{SCRIPTS_ROOT}/monitor.s/$monitor/genw.sh"; do
        if [ -f "$f" ]; then set -- "$@" "$f"; fi
    done
    [ "$#" -gt 0 ] || return 0
    sha256sum "$@"
    grep -lxF {shlex.quote(MANAGED_BY)} "$@" | while IFS= read -r f; do echo "managed  $f"; done
    return 0""",
)


# clp.conf as it was before the operator's first push (kept by ApplyClusterConfig), when asked for.
BACKUP_CONF = Section(
    "backup_conf",
    f"""\
    [ -n "$backup" ] || return 3
    case "$group" in ""|*/*) return 3 ;; esac
    base64 "{BACKUP_ROOT}/$group/clp.conf\"""",
)


class GroupState(Frozen):
    name: str
    state: str  # Online, Offline, Online Pending, ...
    current: str | None  # server the group is on, None when offline


class ClusterStatus(Frozen):
    running: bool  # clpstat answered and the servers are not all Offline (Suspend counts as up)
    suspended: bool = False  # clpcl --suspend is in effect (servers show Suspend)
    cluster_name: str | None = None
    local_server: str | None = None  # the server clpstat ran on (marked with *)
    servers: dict[str, str] = Field(default_factory=dict)  # server -> Online/Offline/...
    groups: dict[str, GroupState] = Field(default_factory=dict)
    # monitor (whole with --long; cut to 16 characters by the default layout) -> Normal/Error/...
    monitors: dict[str, str] = Field(default_factory=dict)

    def monitor_state(self, name: str) -> str | None:
        """The state of monitor ``name``; clpstat cuts names of 16+ characters to 16."""
        if name in self.monitors:
            return self.monitors[name]
        cut = name[:16]
        return self.monitors.get(cut) if len(name) > 16 else None


def _name_and_value(line: str) -> tuple[str, str]:
    left, _, right = line.partition(":")
    name = left.strip().rstrip(".").strip()
    return name, right.strip()


def parse_clpstat(out: SectionOutput) -> ClusterStatus:
    if out.exit_status != 0 or "CLUSTER STATUS" not in out.stdout:
        return ClusterStatus(running=False)
    cluster_name = None
    local = None
    servers: dict[str, str] = {}
    groups: dict[str, GroupState] = {}
    monitors: dict[str, str] = {}
    block = ""
    group: str | None = None
    for line in out.stdout.splitlines():
        stripped = line.strip()
        if stripped.startswith("Cluster :"):
            cluster_name = stripped.partition(":")[2].strip()
            continue
        if stripped in ("<server>", "<group>", "<monitor>"):
            block, group = stripped, None
            continue
        if not stripped or stripped.startswith("="):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if block == "<server>" and indent <= 4 and ":" in line:
            marked = stripped.startswith("*")
            name, value = _name_and_value(stripped.lstrip("*"))
            servers[name] = value.split()[0] if value else ""
            if marked:
                local = name
        elif block == "<group>" and ":" in line:
            name, value = _name_and_value(stripped)
            if indent <= 4:
                group = name
                groups[name] = GroupState(name=name, state=_status_word(value), current=None)
            elif group is not None and name == "current":
                current = value.split()[0] if value else "None"
                groups[group] = groups[group].model_copy(update={"current": None if current == "None" else current})
        elif block == "<monitor>" and ":" in line:
            name, value = _name_and_value(stripped)
            monitors[name] = _status_word(value)
    running = any(state in ("Online", "Suspend") for state in servers.values())
    suspended = any(state == "Suspend" for state in servers.values())
    return ClusterStatus(running=running, suspended=suspended, cluster_name=cluster_name, local_server=local,
                         servers=servers, groups=groups, monitors=monitors)


def _status_word(value: str) -> str:
    # The status column may be two words ("Online Pending"); the comment follows after 2+ spaces.
    return value.split("  ")[0].strip() if value else ""


def parse_clpgrp(out: SectionOutput) -> str | None:
    """The server the group runs on, or None when it is offline (empty output, any exit status)."""
    if out.exit_status != 0:
        return None
    words = out.stdout.split()
    return words[0] if len(words) == 1 else None


class ClpConf(Frozen):
    present: bool
    text: str = ""  # decoded in ``encoding``; encode it back with xml_spans.encode_document
    encoding: str = "UTF-8"  # what the XML declaration names
    sha256: str | None = None
    file_sha256: str | None = None  # of the file's bytes as read from the node (the probe's ``$clp_sha``)
    config: ClusterConfig | None = None  # the text read once (None: absent or unreadable)
    invalid: str | None = None  # why the text cannot be read as a CLUSTERPRO configuration


def _base64(out: SectionOutput) -> bytes | None:
    try:
        return base64.b64decode("".join(out.stdout.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_clp_conf(out: SectionOutput, known: ClpConf | None = None) -> ClpConf:
    """``known``: the copy whose digest the probe was given (``$clp_sha``); an ``unchanged`` answer
    is that copy, itself. An ``unchanged`` naming another digest is no copy this parse holds."""
    if out.exit_status != 0:
        return ClpConf(present=False)
    if out.stdout.startswith(UNCHANGED):
        digest = out.stdout[len(UNCHANGED):].strip()
        if known is not None and known.file_sha256 is not None and digest == known.file_sha256:
            return known
        return ClpConf(present=True, invalid="clp.conf: the probe reported it unchanged from a copy not held here")
    data = _base64(out)
    if data is None:
        return ClpConf(present=True, invalid="clp.conf: the probe's copy is not base64")
    return clp_conf_bytes(data)


# clp.conf as read before, by the sha256 of its bytes, most recent last: a node whose clp.conf did not
# change is not parsed again (a drift check's largest parse). The models are frozen, so sharing one is
# safe; the nodes of one cluster share theirs. Bounded (about one entry per cluster in use).
_READ: OrderedDict[bytes, ClpConf] = OrderedDict()
READ_CACHE_SIZE = 256


def clp_conf_bytes(data: bytes) -> ClpConf:
    """A present clp.conf from its bytes, decoded in the charset its declaration names."""
    key = hashlib.sha256(data).digest()
    known = _READ.get(key)
    if known is not None:
        _READ.move_to_end(key)
        return known
    read = _clp_conf_bytes(data).model_copy(update={"file_sha256": key.hex()})
    _READ[key] = read
    if len(_READ) > READ_CACHE_SIZE:
        _READ.popitem(last=False)
    return read


def _clp_conf_bytes(data: bytes) -> ClpConf:
    try:
        text, encoding = decode_document(data)
    except XmlError as exc:
        return ClpConf(present=True, sha256=hashlib.sha256(data).hexdigest(), invalid=f"clp.conf: {exc}")
    return clp_conf(text, encoding)


def clp_conf(text: str, encoding: str = "UTF-8") -> ClpConf:
    """A present clp.conf with its text read into the typed model."""
    try:
        config, invalid = parse_cluster_config(text), None
    except ClpConfInvalid as exc:
        config, invalid = None, str(exc)
    return ClpConf(present=True, text=text, encoding=encoding, sha256=hashlib.sha256(text.encode()).hexdigest(),
                   config=config, invalid=invalid)


def parse_script_hashes(out: SectionOutput) -> dict[str, str]:
    """Installed script path relative to the scripts root (``<group>/<exec>/start.sh``) -> sha256."""
    hashes: dict[str, str] = {}
    if out.exit_status != 0:
        return hashes
    prefix = SCRIPTS_ROOT + "/"
    for line in out.stdout.splitlines():
        digest, _, path = line.partition("  ")
        if len(digest) == 64 and path.startswith(prefix):
            hashes[path[len(prefix):]] = digest
    return hashes


def parse_managed_scripts(out: SectionOutput) -> frozenset[str]:
    """Installed scripts (relative to the scripts root) that are the operator's: see SCRIPT_HASHES."""
    if out.exit_status != 0:
        return frozenset()
    prefix = SCRIPTS_ROOT + "/"
    return frozenset(path[len(prefix):] for tag, _, path in (line.partition("  ") for line in out.stdout.splitlines())
                     if tag == "managed" and path.startswith(prefix))


def parse_stop_marker(out: SectionOutput) -> str | None:
    """The node the operator stopped the group on, if a run was interrupted before restarting it."""
    if out.exit_status != 0:
        return None
    words = out.stdout.split()
    return words[0] if len(words) == 1 else None


def parse_suspend_marker(out: SectionOutput) -> str | None:
    """The node that suspended the cluster for this group, if a run was killed before resuming it."""
    return parse_stop_marker(out)


def parse_backup_conf(out: SectionOutput) -> str | None:
    """The backed-up clp.conf (decoded in its declared charset), or None when there is none here
    (or it was not asked for)."""
    data = _base64(out) if out.exit_status == 0 else None
    if not data:
        return None
    try:
        return decode_document(data)[0]
    except XmlError:
        return None
