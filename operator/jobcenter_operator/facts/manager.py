"""CLUSTERPRO's manager services on one node: which are installed, and whether a restart the
operator owes them is pending.

Pure module. After a configuration push NEC restarts the manager services so they load it
(``clpcl -r --web --alert``; X4.2+ adds ``--ib --api``: node-protocol 5.1, 8, 10; S2, S4). The
version is not read from a version string (no source shows one): X4.2 added the services
InformationBase and API, installed as the systemd units ``clusterpro_ib`` and ``clusterpro_api``
(node-protocol 4.1; S6), so the units that exist say which services there are to restart.

Which unit files exist is read from systemd's unit search path (systemd.unit(5)) with the shell's
own file tests, not by asking ``systemctl is-enabled``: the answer is the same (systemd loads a unit
from the first directory holding its file; a symlink to /dev/null in /etc or /run masks it), costs
no process on every facts read, and does not depend on how a systemd version words a missing unit.
"""

from __future__ import annotations

from ..frozen import Frozen
from ..paths import MANAGER_RESTART_DIR
from .sections import Section, SectionOutput

# The units whose presence differs between versions (node-protocol 4.1).
OPTIONAL_UNITS = ("clusterpro_ib", "clusterpro_api")

# systemd's system unit search path, highest priority first (systemd.unit(5): local configuration,
# runtime, local installs, the distribution's packages; /lib where it is not merged into /usr/lib).
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system")


def manager_services_section(unit_dirs: tuple[str, ...] = UNIT_DIRS) -> Section:
    """"unit <name> installed|masked|not-found" per optional unit, from the first of ``unit_dirs``
    holding its file (masked: a link to /dev/null or an empty file, as systemd reads them), then
    "pending" when the operator's restart marker of the group is here. No process is started
    (tests pass other directories)."""
    return Section(
        "manager_services",
        f"""\
    for u in {" ".join(OPTIONAL_UNITS)}; do
        state=not-found
        for d in {" ".join(unit_dirs)}; do
            f="$d/$u.service"
            if [ "$f" -ef /dev/null ] || {{ [ -f "$f" ] && [ ! -s "$f" ]; }}; then state=masked; break; fi
            if [ -e "$f" ]; then state=installed; break; fi
        done
        printf 'unit %s %s\\n' "$u" "$state"
    done
    case "$group" in ""|*/*) return 0 ;; esac
    if [ -e "{MANAGER_RESTART_DIR}/$group" ]; then echo pending; fi
    return 0""",
    )


MANAGER_SERVICES = manager_services_section()

# States of a unit that is not there to restart: no file on the search path, or masked by the
# administrator (clpcl -r could not start it).
_ABSENT = frozenset({"", "not-found", "masked"})


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
