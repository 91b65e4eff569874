"""The floor: a straight asyncssh script that brings fresh beds to the operator's end state.

One connection per node (strict host keys, the bed's known_hosts), all nodes of all clusters at
once, and the fewest round trips: one read per node (daemon.conf, and on the node holding the
group its clp.conf and which node that is), then one write per node: daemon.conf, local site
restarted with local_daemon=SITE, and on the active node cjcmksite, group stop, clpcfctrl push,
group start, all in one shell command. The content is the operator's own pure rendering
(render.clp_conf, render.scripts, render.daemon_conf), so the end state is the same by
construction, and ``verify`` checks it on the nodes (it runs for every runner, outside the timing).

``steady``: the same read-back a drift check needs (daemon.conf, group owner, clp.conf and script
digests, the process table), one command per node over warm connections.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import resource
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import asyncssh
import yaml

from hack.testbed.clp.conf import CODECS
from hack.testbed.config import BedRecord
from hack.testbed.node_fs import clp_charset, initial_clp_conf
from hack.testbed.ssh import connect

from . import operator_run, procstat

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "operator") not in sys.path:
    sys.path.insert(0, str(REPO / "operator"))

from jobcenter_operator.api.site import JobCenterSiteSpec  # noqa: E402
from jobcenter_operator.render import clp_conf, daemon_conf, scripts  # noqa: E402

DAEMON_CONF = "/usr/lib/nqs/rc/daemon.conf"
SEP = "\n--jcb-floor--\n"

READ = f"""cat {DAEMON_CONF}; printf '{SEP}'; g=$(/usr/sbin/clpgrp -n "$1"); printf '%s{SEP}' "$g"
if [ "$g" = "$(hostname)" ]; then
  d=$(mktemp -d); /usr/sbin/clpcfctrl --pull -x "$d" >/dev/null; cat "$d/clp.conf"; rm -rf "$d"
fi
"""
# $1 = daemon.conf content; on the active node also $2 vhost, $3 machine id, $4 db path, $5 group;
# stdin = base64 tar of the configuration files to overlay
WRITE_STANDBY = f"""set -e; printf '%s' "$1" > {DAEMON_CONF}; /usr/lib/nqs/nqsstop; /usr/lib/nqs/nqsstart"""
WRITE_ACTIVE = f"""set -e; printf '%s' "$1" > {DAEMON_CONF}; /usr/lib/nqs/nqsstop
/usr/lib/nqs/cluster/cjcmksite "$2" "$3" "$4"
/usr/sbin/clpgrp -t "$5" >/dev/null
d=$(mktemp -d); /usr/sbin/clpcfctrl --pull -x "$d" >/dev/null; base64 -d | tar -x -C "$d" -f -
/usr/sbin/clpcl --suspend >/dev/null; /usr/sbin/clpcfctrl --push -x "$d" >/dev/null; rm -rf "$d"
/usr/sbin/clpcl --resume >/dev/null
/usr/sbin/clpgrp -s "$5" >/dev/null
/usr/lib/nqs/nqsstart"""
STEADY = f"""cat {DAEMON_CONF}; /usr/sbin/clpgrp -n "$1"; md5sum /opt/nec/clusterpro/etc/clp.conf \
/opt/nec/clusterpro/scripts/"$1"/*/*.sh; ps -eo pid=,ppid=,comm=,args="""


def _q(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def site_spec(doc: dict[str, Any]) -> JobCenterSiteSpec:
    """The JobCenterSiteSpec the operator is given for this bed (operator_run.manifests)."""
    site = next(d for d in yaml.safe_load_all(operator_run.manifests([doc])) if d["kind"] == "JobCenterSite")
    return JobCenterSiteSpec.model_validate(site["spec"])


def rendered(doc: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The clp.conf (from the bed's fresh one) and the exec scripts the operator renders for this bed."""
    spec = site_spec(doc)
    bed = BedRecord.load(doc["name"])
    fresh = initial_clp_conf(bed).decode(CODECS[clp_charset(bed).lower()])  # the bytes on the nodes, as text
    return clp_conf.configure_site(fresh, spec), scripts.scripts_for(spec)


def archive(xml: str, files: dict[str, str]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content, mode in [("clp.conf", xml, 0o644)] + [(p, c, 0o755) for p, c in sorted(files.items())]:
            data = content.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


class Counter:
    commands = 0


async def _run(conn: asyncssh.SSHClientConnection, script: str, args: list[str], counter: Counter,
               stdin: str | None = None) -> str:
    counter.commands += 1
    r = await conn.run("sh -c " + _q(script) + " floor " + " ".join(_q(a) for a in args), input=stdin,
                       check=False, timeout=120)
    if r.exit_status != 0:
        raise RuntimeError(f"floor command failed ({r.exit_status}): {r.stderr!r}")
    return str(r.stdout)


async def converge_cluster(doc: dict[str, Any], conns: dict[str, asyncssh.SSHClientConnection],
                           counter: Counter) -> None:
    spec = site_spec(doc)
    group = doc["failoverGroup"]
    reads = await asyncio.gather(*(_run(conns[n["name"]], READ, [group], counter) for n in doc["nodes"]))
    parsed = {n["name"]: r.split(SEP) for n, r in zip(doc["nodes"], reads, strict=True)}
    active = next(iter(parsed.values()))[1].strip()

    async def write(node: str) -> None:
        current, _, xml = parsed[node]
        conf = daemon_conf.set_local_daemon(current, daemon_conf.local_daemon_value(spec.local_daemon))
        if node != active:
            await _run(conns[node], WRITE_STANDBY, [conf], counter)
            return
        tar = archive(clp_conf.configure_site(xml, spec), scripts.scripts_for(spec))
        await _run(conns[node], WRITE_ACTIVE, [conf, doc["virtualHost"], str(doc["machineId"]), doc["databasePath"],
                                               group], counter, stdin=tar)

    await asyncio.gather(*(write(n["name"]) for n in doc["nodes"]))


async def _connect_all(docs: list[dict[str, Any]]) -> list[dict[str, asyncssh.SSHClientConnection]]:
    async def one(doc: dict[str, Any]) -> dict[str, asyncssh.SSHClientConnection]:
        conns = await asyncio.gather(*(connect(doc, n["name"]) for n in doc["nodes"]))
        return {n["name"]: c for n, c in zip(doc["nodes"], conns, strict=True)}

    return list(await asyncio.gather(*(one(d) for d in docs)))


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Window:
    """Counters at the start of a measured window; ``close`` gives what happened in it."""

    def __init__(self, beds: list[BedRecord], counter: Counter) -> None:
        self.beds, self.counter = beds, counter
        counter.commands = 0
        self.t0, self.cpu0, self.bed0 = time.monotonic(), _cpu_self(), procstat.bed_cpu_seconds(beds)
        self.net0, self.logins0 = procstat.veth_bytes(beds), operator_run.sshd_logins(beds)

    def close(self, sites: int) -> dict[str, Any]:
        wall, cpu = time.monotonic() - self.t0, _cpu_self() - self.cpu0
        bed, net = procstat.bed_cpu_seconds(self.beds) - self.bed0, procstat.veth_bytes(self.beds) - self.net0
        logins = operator_run.sshd_logins(self.beds) - self.logins0
        nodes = sum(len(b.nodes) for b in self.beds)
        return {"wall_s": wall, "commands_per_node": self.counter.commands / nodes,
                "round_trips_per_node": self.counter.commands / nodes,  # one exec per command
                "handshakes_per_node": logins / nodes, "kbytes_per_node": net / 1024 / nodes,
                "cpu_per_site_ms": cpu * 1000 / sites, "runner_cpu_s": cpu, "bed_cpu_s": bed,
                "bed_share": bed / (bed + cpu) if bed + cpu > 0 else None}


async def _converge(docs: list[dict[str, Any]], steady: bool) -> dict[str, Any]:
    """Converge (timed from before the connections are made), verify (not timed) and, with
    ``steady``, then one read-back per node over the same warm connections (timed on its own,
    under the key "steady")."""
    beds = [BedRecord.load(d["name"]) for d in docs]
    counter = Counter()
    window = Window(beds, counter)
    all_conns = await _connect_all(docs)
    try:
        await asyncio.gather(*(converge_cluster(d, c, counter) for d, c in zip(docs, all_conns, strict=True)))
        result = window.close(len(docs))
        result["end_state_wait_s"] = await verify(docs)  # the site's processes may still be starting
        if steady:
            window = Window(beds, counter)
            await asyncio.gather(*(_run(c[n["name"]], STEADY, [d["failoverGroup"]], counter)
                                   for d, c in zip(docs, all_conns, strict=True) for n in d["nodes"]))
            result["steady"] = window.close(len(docs))
    finally:
        for conns in all_conns:
            for c in conns.values():
                c.close()
    return result


def run(docs: list[dict[str, Any]], steady: bool = False) -> dict[str, Any]:
    return asyncio.run(_converge(docs, steady))


# --------------------------------------------------------------------------- the end state


def _digest(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - compared with md5sum's output


async def verify(docs: list[dict[str, Any]], within: float = 30.0) -> float:
    """The end state the operator's site Ready stands for, checked on every node of every bed:
    daemon.conf and clp.conf as the operator renders them, the site's scripts, the group online
    on the active node with the cluster site under cjcpw there, the local site running everywhere.

    Read again (bounded) until it holds: the floor's commands return once the group start returned,
    while the cluster site's processes under cjcpw may still be coming up. Returns how long after
    the first read of a node that was not yet in the end state it was (the longest such wait; 0 when
    every node was there at the first read). Not part of any timed window."""
    t0 = time.monotonic()
    waited = 0.0
    for doc in docs:
        want_conf, want_scripts = rendered(doc)
        for n in doc["nodes"]:
            conn = await connect(doc, n["name"])
            try:
                first, reads = time.monotonic(), 0
                while True:
                    r = await conn.run("sh -c " + _q(STEADY) + " v " + _q(doc["failoverGroup"]), check=False)
                    out = str(r.stdout)
                    problems = _end_state_problems(doc, n["name"], out, want_conf, want_scripts)
                    if not problems:
                        if reads:
                            waited = max(waited, time.monotonic() - first)
                        break
                    reads += 1
                    if time.monotonic() - t0 > within:
                        raise AssertionError(f"{doc['name']}/{n['name']}: not in the end state: {problems}\n"
                                             f"{out[:2000]}")
                    await asyncio.sleep(0.1)  # the next read of a bounded wait for the end state
            finally:
                conn.close()
    return waited


def _end_state_problems(doc: dict[str, Any], node: str, out: str, want_conf: str,
                        want_scripts: dict[str, str]) -> list[str]:
    fresh = daemon_conf.set_local_daemon(_vendor_daemon_conf(), "SITE")
    problems = []
    if not out.startswith(fresh):
        problems.append("daemon.conf")
    if f"{_digest(want_conf)}  /opt/nec/clusterpro/etc/clp.conf" not in out:
        problems.append("clp.conf")
    for path, text in want_scripts.items():
        if f"{_digest(text)}  /opt/nec/clusterpro/{path}" not in out:
            problems.append(path)
    comms = [line.split(None, 3)[2] for line in out.splitlines() if len(line.split(None, 3)) >= 3
             and line.split(None, 3)[0].isdigit()]
    if node == doc["activeNode"] and "cjcpw" not in comms:
        problems.append("no cjcpw on the active node")
    if node != doc["activeNode"] and "cjcpw" in comms:
        problems.append("cjcpw on the standby")
    # jnwengine runs in every site set (classic and standard): the local site's, plus the
    # cluster site's on the active node
    if comms.count("jnwengine") < (2 if node == doc["activeNode"] else 1):
        problems.append("local site (or cluster site) not running")
    return problems


def _vendor_daemon_conf() -> str:
    from hack.testbed.jc import guesses

    return guesses.DEFAULT_DAEMON_CONF
