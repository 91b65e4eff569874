"""The commands that suspend and resume the cluster around a configuration push. Pure.

node-protocol 5.1/8/10 (S2, S4, S12): on a running cluster NEC applies a configuration as
``clpcl --suspend`` -> ``clpcfctrl --push -l -x <dir>`` -> ``clpcl -r --web --alert`` on every
server (X4.2+: also ``--ib --api``; ``-a``: every server, from the node that pushed) so the manager
services load it -> ``clpcl --resume``. A per-group marker
(``SUSPEND_MARKER_DIR/<group>``, holding the node that suspends) is written on every reachable node
before the suspend and removed after the resume, so a run killed in between leaves evidence on
whichever node survives, and the next run resumes the cluster (plan/apply_sequence.py). Same rules
as plan/commands.py: argv lists, user values as positional parameters, ``$0`` names the step.
"""

from __future__ import annotations

from collections.abc import Collection

from ..paths import CLPCL, CLPSTAT, MANAGER_RESTART_DIR, SUSPEND_MARKER_DIR
from .model import Command

# $1 = group, $2 = marker dir, $3 = the node that suspends.
_MARK = """\
mkdir -p "$2" && printf '%s\\n' "$3" >"$2/$1"
"""
# $1 = group, $2 = marker dir.
_CLEAR = """\
rm -f "$2/$1"
"""
# The marker first; a suspend that fails leaves no marker here (the cluster is not ours to resume).
# $1 = group, $2 = marker dir, $3 = this node.
_SUSPEND = f"""\
mkdir -p "$2" && printf '%s\\n' "$3" >"$2/$1" || exit 1
out=$({CLPCL} --suspend 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then rm -f "$2/$1"; fi
printf '%s\\n' "$out" >&2
exit "$rc"
"""
# The marker goes once the cluster is resumed, or once clpstat no longer shows it suspended (a
# resume that reports an error for a cluster already running is not a reason to keep it).
# $1 = group, $2 = marker dir.
_RESUME = f"""\
out=$({CLPCL} --resume 2>&1)
rc=$?
if [ "$rc" -eq 0 ] || ! {CLPSTAT} 2>/dev/null | grep -q ': Suspend'; then rm -f "$2/$1"; rc=0; fi
printf '%s\\n' "$out" >&2
exit "$rc"
"""

# The restart marker first, removed once the services restarted: a restart that fails is tried
# again by a later run (facts/manager.py reads the marker). $1 = group, $2 = marker dir, then the
# clpcl -r options.
_RESTART = f"""\
group=$1 dir=$2; shift 2
mkdir -p "$dir" && : >"$dir/$group" || exit 1
out=$({CLPCL} -r -a "$@" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then rm -f "$dir/$group"; fi
printf '%s\\n' "$out" >&2
exit "$rc"
"""
# clpcl -r's option per manager service (node-protocol 5.3): WebManager and alert sync on every
# version; InformationBase and API where their units are installed (X4.2+, facts/manager.py).
_ALWAYS = ("--web", "--alert")
_OPTIONAL = (("clusterpro_ib", "--ib"), ("clusterpro_api", "--api"))


def manager_restart_options(units: Collection[str]) -> tuple[str, ...]:
    """``clpcl -r``'s options for a node with the optional manager ``units`` installed."""
    return (*_ALWAYS, *(option for unit, option in _OPTIONAL if unit in units))


# The markers are part of the suspend: marked disruptive so the disruption gate (plan/disruption.py)
# holds or runs them together with it (a marker run without its suspend would be cleared and
# written again on every run while the suspend waits for a window).
def mark_suspended(group: str, by: str) -> Command:
    return Command(argv=("sh", "-c", _MARK, "marksuspend", group, SUSPEND_MARKER_DIR, by), disruptive=True)


def clear_suspend_marker(group: str) -> Command:
    return Command(argv=("sh", "-c", _CLEAR, "clearsuspend", group, SUSPEND_MARKER_DIR), disruptive=True)


def suspend_cluster(group: str, node: str) -> Command:
    # Disruptive: while suspended no monitor runs and no failover happens (issue 17's gate).
    return Command(argv=("sh", "-c", _SUSPEND, "suspendcluster", group, SUSPEND_MARKER_DIR, node), disruptive=True)


def resume_cluster(group: str) -> Command:
    return Command(argv=("sh", "-c", _RESUME, "resumecluster", group, SUSPEND_MARKER_DIR), disruptive=True)


def restart_manager_services(group: str, units: Collection[str]) -> Command:
    # Not disruptive: JobCenter, the failover groups and the monitors do not notice (the Cluster
    # WebUI reconnects). Inside a suspended push the gate holds it with the markers of its node.
    return Command(argv=("sh", "-c", _RESTART, "restartmanager", group, MANAGER_RESTART_DIR,
                         *manager_restart_options(units)))
