"""The process table of a node, split into the cluster sites (trees under a cjcpw) and the rest.

Pure module. node-protocol 2.5: a cluster site's daemons are children of its ``cjcpw`` (the second
``jnwcaster`` is a child of the first), which is how they are told apart from the local site's
daemons when both run on one node. With ``cjcpw -c`` (no process monitoring) cjcpw returns and
its daemons have no cjcpw parent: they are told apart by evidence that does not depend on the
parent, their working directory below the site's database path (``SITE_CWD``: the daemons of a
site work in its database on the switched disk; the test bed models the same). Inputs:
``ps -eo pid,ppid,args`` and the PIDs whose cwd is below ``<databasePath>``.
"""

from __future__ import annotations

from collections import Counter

from ..frozen import Frozen
from ..paths import CJCPW
from .sections import Section, SectionOutput

# -ww: args whole, whatever width ps would guess without a terminal (it may cut at 80 columns, which
# would cut a cjcpw's operands). Without the probe's own processes: their args hold the nonce (and
# the whole script, a few KB a line, once per subshell); they are never JobCenter's. Nor ps's own
# line (its args are exactly PS_ARGS, a new PID each time): a converged node then answers the
# same bytes every drift check, which shared_facts.parse does not parse again.
PS_ARGS = "ps -ww -eo pid=,ppid=,args="
PS = Section("ps", f'    {PS_ARGS} | grep -vF -e "$nonce" -e "{PS_ARGS}"')
# PIDs whose working directory is the database path or below it (3: no database path asked for).
# One ls for all processes (no fork per process: the probe stays cheap on a busy node); LC_ALL=C
# gives ls -l its fixed columns: mode links owner group size month day time LINK -> TARGET.
SITE_CWD = Section(
    "site_cwd",
    """\
    [ -n "$dbpath" ] || return 3
    ls -l /proc/[0-9]*/cwd 2>/dev/null | while read -r _ _ _ _ _ _ _ _ link _ target; do
        case "$target" in "$dbpath"|"$dbpath"/*) p=${link#/proc/}; echo "${p%/cwd}" ;; esac
    done
    return 0""",
)


# Required resident processes of a cluster site besides cjcpw itself, with their counts.
CLASSIC_SITE = Counter(
    {"nqsdaemon": 1, "jnwcaster": 2, "jnwengine": 1, "sclaunchd": 1, "comagent": 1, "jcdbs": 1, "jnwlauncher": 1}
)
STANDARD_MANAGER_SITE = Counter(
    {
        "jcexecutor_manager": 1,
        "jcexecutor_webserver": 1,
        "nats_start": 1,
        "jnwcaster": 2,
        "jnwengine": 1,
        "sclaunchd": 1,
        "comagent": 1,
        "jcdbs": 1,
        "jnwlauncher": 1,
        "jcwebserver": 1,
    }
)
# Names that belong to JobCenter at all (a site of either mode, or the local site).
JOBCENTER_NAMES = frozenset(CLASSIC_SITE) | frozenset(STANDARD_MANAGER_SITE) | {"cjcpw"}
_DAEMONS = JOBCENTER_NAMES - {"cjcpw"}


class Process(Frozen):
    pid: int
    ppid: int
    args: str

    @property
    def name(self) -> str:
        """The daemon's name: basename of the program (Linux shows nqsdaemon as ``NQS nqsdaemon``)."""
        words = self.args.split(None, 2)  # the program and, after NQS, its name: no more
        if not words:
            return ""
        if words[0] == "NQS" and len(words) > 1:
            return words[1].rsplit("/", 1)[-1]
        return words[0].rsplit("/", 1)[-1]


class SiteTree(Frozen):
    """One running cluster site: its cjcpw and every process below it."""

    cjcpw_pid: int
    resident: bool  # started without -c (cjcpw monitors its children)
    virtual_host: str | None
    database_path: str | None
    processes: tuple[Process, ...]  # descendants of cjcpw, not cjcpw itself

    def names(self) -> Counter[str]:
        return Counter(p.name for p in self.processes)


class ProcessTable(Frozen):
    processes: tuple[Process, ...]
    in_database: frozenset[int] = frozenset()  # PIDs working below the site's database path

    def children(self, pid: int) -> list[Process]:
        return [p for p in self.processes if p.ppid == pid]

    def _by_parent(self) -> dict[int, list[Process]]:
        """Children by parent PID, in table order: one pass (a node runs hundreds of processes)."""
        index: dict[int, list[Process]] = {}
        for p in self.processes:
            index.setdefault(p.ppid, []).append(p)
        return index

    def descendants(self, pid: int, by_parent: dict[int, list[Process]] | None = None) -> list[Process]:
        index = self._by_parent() if by_parent is None else by_parent
        found: list[Process] = []
        todo = [pid]
        while todo:
            for child in index.get(todo.pop(), ()):
                found.append(child)
                todo.append(child.pid)
        return found

    def sites(self) -> list[SiteTree]:
        """Every running cjcpw that starts (not stops) a site, with its process tree."""
        trees = []
        by_parent: dict[int, list[Process]] | None = None
        for p in self.processes:
            if not p.args.startswith(CJCPW):  # most of a node's processes: no split
                continue
            words = p.args.split()
            if not words or words[0] != CJCPW or "-stop" in words[1:]:
                continue
            operands = [w for w in words[1:] if not w.startswith("-")]
            by_parent = self._by_parent() if by_parent is None else by_parent
            trees.append(
                SiteTree(
                    cjcpw_pid=p.pid,
                    resident="-c" not in words[1:],
                    virtual_host=operands[0] if operands else None,
                    database_path=operands[1] if len(operands) > 1 else None,
                    processes=tuple(self.descendants(p.pid, by_parent)),
                )
            )
        inside = {q.pid for t in trees for q in t.processes} | {t.cjcpw_pid for t in trees}
        unparented = tuple(p for p in self.processes if p.pid in self.in_database and p.pid not in inside
                           and p.name in _DAEMONS)
        if unparented:
            # A site started with cjcpw -c: its daemons work in the database, without a cjcpw above.
            trees.append(SiteTree(cjcpw_pid=0, resident=False, virtual_host=None, database_path=None,
                                  processes=unparented))
        return trees

    def outside_sites(self) -> list[Process]:
        """JobCenter daemons not under any cjcpw: the local site (or a site started with -c)."""
        sites = self.sites()
        inside = {p.pid for t in sites for p in t.processes} | {t.cjcpw_pid for t in sites}
        return [p for p in self.processes if p.pid not in inside and p.name in _DAEMONS]


def parse_ps(out: SectionOutput) -> ProcessTable:
    processes = []
    for line in out.stdout.splitlines():
        fields = line.split(None, 2)
        if len(fields) < 2 or not fields[0].isdigit() or not fields[1].isdigit():
            continue
        processes.append(Process(pid=int(fields[0]), ppid=int(fields[1]), args=fields[2] if len(fields) > 2 else ""))
    return ProcessTable(processes=tuple(processes))


def parse_site_cwd(out: SectionOutput) -> frozenset[int]:
    if out.exit_status != 0:
        return frozenset()
    return frozenset(int(word) for word in out.stdout.split() if word.isdigit())


def missing_processes(found: Counter[str], expected: Counter[str]) -> list[str]:
    """Expected names short of their count, one entry per missing instance, in a stable order."""
    missing: list[str] = []
    for name in sorted(expected):
        missing.extend([name] * max(0, expected[name] - found.get(name, 0)))
    return missing
