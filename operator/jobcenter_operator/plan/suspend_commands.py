"""The commands that suspend and resume the cluster around a configuration push. Pure.

node-protocol 5.1/10 (S4, S12): on a running cluster NEC applies a configuration as
``clpcl --suspend`` -> ``clpcfctrl --push -l -x <dir>`` -> ``clpcl --resume``. A per-group marker
(``SUSPEND_MARKER_DIR/<group>``, holding the node that suspends) is written on every reachable node
before the suspend and removed after the resume, so a run killed in between leaves evidence on
whichever node survives, and the next run resumes the cluster (plan/apply_sequence.py). Same rules
as plan/commands.py: argv lists, user values as positional parameters, ``$0`` names the step.
"""

from __future__ import annotations

from ..paths import CLPCL, CLPSTAT, SUSPEND_MARKER_DIR
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
