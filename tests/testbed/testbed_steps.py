"""The vendor guide's steps as an administrator (or the operator) types them, over real SSH."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncssh

from hack.testbed.clp import edit
from hack.testbed.ssh import connect, run

CLASSIC_NAMES = {"cjcpw", "nqsdaemon", "jnwcaster", "jnwengine", "sclaunchd", "comagent", "jcdbs", "jnwlauncher"}
STANDARD_NAMES = {"cjcpw", "jcexecutor_mana", "jcexecutor_webs", "nats_start", "jnwcaster", "jnwengine",
                  "sclaunchd", "comagent", "jcdbs", "jnwlauncher", "jcwebserver"}  # comm is cut at 15 chars

# node-protocol 3.1, with the two pitfalls fixed (ASCII -stop, a command in the else branch)
START_SH = """#! /bin/sh
if [ "$CLP_EVENT" = "START" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "NORMAL CJCPW STARTUP"
    /usr/lib/nqs/cluster/cjcpw {vhost} {db}
  fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "FAILOVER CJCPW STARTUP"
    /usr/lib/nqs/cluster/cjcpw {vhost} {db}
  fi
else
  echo "NO_CLP"
fi
echo "EXIT"
exit 0
"""
STOP_SH = START_SH.replace("STARTUP", "STOP").replace("cjcpw {vhost} {db}", "cjcpw -stop {vhost}")
# The guide's printed sample: nothing but a comment in the else branch (a shell syntax error).
VENDOR_PRINTED_START_SH = START_SH.replace('  echo "NO_CLP"\n', "  #NO_CLP\n").replace('echo "EXIT"', "#EXIT")


async def wait_for(cond: Callable[[], Awaitable[bool]], limit: float, what: str) -> None:
    """Bounded poll loop (never a fixed sleep standing in for a condition)."""
    deadline = time.monotonic() + limit
    while not await cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(0.1)


async def processes(conn: asyncssh.SSHClientConnection) -> list[dict[str, Any]]:
    rc, out, _ = await run(conn, "ps -eo pid=,ppid=,comm=,args=")
    assert rc == 0
    procs = []
    for line in out.splitlines():
        pid, ppid, comm, args = [*line.split(None, 3), ""][:4]
        procs.append({"pid": int(pid), "ppid": int(ppid), "comm": comm, "args": args})
    return procs


def cluster_site(procs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """cjcpw and everything below it (the cluster site), by PPID."""
    top = [p for p in procs if p["comm"] == "cjcpw"]
    if not top:
        return []
    site, pids = list(top), {p["pid"] for p in top}
    changed = True
    while changed:
        changed = False
        for p in procs:
            if p["ppid"] in pids and p["pid"] not in pids:
                site.append(p)
                pids.add(p["pid"])
                changed = True
    return site


async def sftp_write(conn: asyncssh.SSHClientConnection, path: str, text: str, mode: int = 0o755) -> None:
    async with conn.start_sftp_client() as sftp:
        await sftp.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        async with sftp.open(path, "w") as f:
            await f.write(text)
        await sftp.chmod(path, mode)


async def sftp_read(conn: asyncssh.SSHClientConnection, path: str) -> str:
    async with conn.start_sftp_client() as sftp:
        async with sftp.open(path, "r") as f:
            return str(await f.read())


async def active_node(conn: asyncssh.SSHClientConnection, group: str) -> str:
    rc, out, err = await run(conn, f"clpgrp -n {group}")
    assert rc == 0, err
    return out.strip()


async def set_local_daemon_and_stop(conn: asyncssh.SSHClientConnection, value: str = "SITE") -> None:
    """Guide 2.3: local_daemon=SITE in daemon.conf, then nqsstop (both nodes)."""
    rc, _, err = await run(conn, f"printf 'local_daemon={value}\\n' >> /usr/lib/nqs/rc/daemon.conf && "
                                 "/usr/lib/nqs/nqsstop")
    assert rc == 0, err


async def apply_exec_config(conn: asyncssh.SSHClientConnection, info: dict[str, Any], start_sh: str,
                            stop_sh: str, *, act_sync: str = "0",
                            pidw: dict[str, str] | None = None) -> tuple[int, str]:
    """Guide 2.6 / node-protocol 7.1 step 8: scripts + async exec + PID monitor, then clpcfctrl --push."""
    d = "/root/jccfg"
    rc, _, err = await run(conn, f"rm -rf {d} && mkdir {d} && clpcfctrl --pull -x {d}")
    assert rc == 0, err
    xml = await sftp_read(conn, f"{d}/clp.conf")
    ex = info["execResource"]
    xml = edit.set_path(xml, f"resource/exec@{ex}/parameters/act/sync", act_sync)
    if pidw is not None:
        xml = edit.set_path(xml, "monitor/pidw@pidw-jc/target", ex)
        xml = edit.set_path(xml, "monitor/pidw@pidw-jc/relation/type", "rsc")
        xml = edit.set_path(xml, "monitor/pidw@pidw-jc/relation/name", ex)
        for k, v in pidw.items():
            xml = edit.set_path(xml, f"monitor/pidw@pidw-jc/{k}", v)
    await sftp_write(conn, f"{d}/clp.conf", xml, 0o644)
    sdir = f"{d}/scripts/{info['failoverGroup']}/{ex}"
    await sftp_write(conn, f"{sdir}/start.sh", start_sh)
    await sftp_write(conn, f"{sdir}/stop.sh", stop_sh)
    rc, out, err = await run(conn, f"clpcfctrl --push -x {d}")
    return rc, out + err


async def classic_procedure(info: dict[str, Any], *, pidw: dict[str, str] | None = None) -> dict[str, Any]:
    """node-protocol 7.1 steps 4-9 over SSH. Returns connections by node name and the active node."""
    conns = {n["name"]: await connect(info, n["name"]) for n in info["nodes"]}
    group, vhost, db = info["failoverGroup"], info["virtualHost"], info["databasePath"]
    # 4. both nodes
    for c in conns.values():
        await set_local_daemon_and_stop(c)
    # 5. active node only
    active = await active_node(conns["clu1"], group)
    ca = conns[active]
    rc, _, err = await run(ca, f"/usr/lib/nqs/cluster/cjcmksite {vhost} {info['machineId']} {db}")
    assert rc == 0, err
    rc, out, _ = await run(ca, f"ls {db}")
    assert out.split() == ["nqs"]
    # 6. start the site by hand in the foreground, check from a second session, stop it
    fg = await ca.create_process(f"/usr/lib/nqs/cluster/cjcpw {vhost} {db}")

    async def site_up() -> bool:
        return len(cluster_site(await processes(ca))) >= 2

    await wait_for(site_up, 10, "the hand-started cluster site")
    rc, _, err = await run(ca, f"/usr/lib/nqs/cluster/cjcpw -stop {vhost}")
    assert rc == 0, err
    done = await asyncio.wait_for(fg.wait(), 30)
    assert done.exit_status == 0
    assert cluster_site(await processes(ca)) == []
    # 7. stop the failover group
    rc, out, err = await run(ca, f"clpgrp -t {group}")
    assert rc == 0, err
    # 8. scripts + configuration; the PID monitor is added, so the cluster is suspended around the
    # push (node-protocol 9; the bed's default strict-apply refuses it otherwise)
    fmt = {"vhost": vhost, "db": db}
    assert (await run(ca, "clpcl --suspend"))[0] == 0
    rc, out = await apply_exec_config(ca, info, START_SH.format(**fmt), STOP_SH.format(**fmt),
                                      pidw=pidw if pidw is not None else {})
    assert rc == 0, out
    assert (await run(ca, "clpcl --resume"))[0] == 0
    # 9. start the group
    rc, out, err = await run(ca, f"clpgrp -s {group}")
    assert rc == 0, err
    return {"conns": conns, "active": active}
