"""CLUSTERPRO's manager services on one node: which are installed, and whether a restart the
operator owes them is pending.

Pure module. After a configuration push NEC restarts the manager services so they load it
(``clpcl -r --web --alert``; X4.2+ adds ``--ib --api``: node-protocol 5.1, 8, 10; S2, S4). The
version is not read from a version string (no source shows one): X4.2 added the services
InformationBase and API, installed as the systemd units ``clusterpro_ib`` and ``clusterpro_api``
(node-protocol 4.1; S6), so the units that exist say which services there are to restart.
"""

from __future__ import annotations

from ..frozen import Frozen
from ..paths import MANAGER_RESTART_DIR, SYSTEMCTL
from .sections import Section, SectionOutput

# The units whose presence differs between versions (node-protocol 4.1).
OPTIONAL_UNITS = ("clusterpro_ib", "clusterpro_api")

# "unit <name> <is-enabled word>" per optional unit (systemctl prints a word even on a non-zero
# exit; nothing, or "not-found", for a unit systemd does not know), then "pending" when the
# operator's restart marker of the group is here.
MANAGER_SERVICES = Section(
    "manager_services",
    f"""\
    for u in {" ".join(OPTIONAL_UNITS)}; do
        printf 'unit %s %s\\n' "$u" "$({SYSTEMCTL} is-enabled "$u.service" 2>/dev/null | head -n 1)"
    done
    case "$group" in ""|*/*) return 0 ;; esac
    if [ -e "{MANAGER_RESTART_DIR}/$group" ]; then echo pending; fi
    return 0""",
)

# is-enabled words of a unit that is not there to restart: unknown to systemd, or masked by the
# administrator (clpcl -r could not start it).
_ABSENT = frozenset({"", "not-found", "masked", "masked-runtime"})


class ManagerServices(Frozen):
    units: frozenset[str] = frozenset()  # the OPTIONAL_UNITS installed here
    restart_pending: bool = False  # an earlier restart after a push failed, or never ran


def parse_manager_services(out: SectionOutput) -> ManagerServices:
    if out.exit_status != 0:
        return ManagerServices()
    units: set[str] = set()
    pending = False
    for line in out.stdout.splitlines():
        words = line.split()
        if words == ["pending"]:
            pending = True
        elif len(words) >= 2 and words[0] == "unit" and words[1] in OPTIONAL_UNITS:
            state = words[2] if len(words) > 2 else ""
            if state not in _ABSENT:
                units.add(words[1])
    return ManagerServices(units=frozenset(units), restart_pending=pending)
