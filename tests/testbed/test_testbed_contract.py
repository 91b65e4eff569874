"""node-protocol section 9: the simulated commands' results, messages and exit codes."""

from __future__ import annotations

from typing import Any

import pytest

from hack.testbed import api

pytestmark = pytest.mark.root


def sh(info: dict[str, Any], node: str, script: str) -> tuple[int, str, str]:
    r = api.exec_on(info["name"], node, ["/bin/sh", "-c", script])
    return r["exitStatus"], r["stdout"], r["stderr"]


def test_jobcenter_commands(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    # vendor default daemon.conf: only the commented sample
    rc, out, _ = sh(info, "clu1", "cat /usr/lib/nqs/rc/daemon.conf")
    assert "# local_daemon=SITE" in out
    assert not [ln for ln in out.splitlines() if ln.startswith("local_daemon")]
    rc, out, _ = sh(info, "clu1", "cat /usr/lib/nqs/VERSION")
    assert "VERSION=R16.2" in out and "MODE=CLASSIC" in out
    # the local site runs (PPID 1, not under cjcpw)
    local = [p for p in api.node_processes(info["name"], "clu1")]
    assert {p["comm"] for p in local} >= {"nqsdaemon", "jnwcaster"} and all(p["ppid"] == 1 for p in local)
    mk = "/usr/lib/nqs/cluster/cjcmksite"
    assert sh(info, "clu1", f"{mk} cluv 114")[0] == 1
    assert sh(info, "clu1", f"{mk} cluv abc /mnt/sdb2")[0] == 1
    assert sh(info, "clu1", f"{mk} cluv 114 /mnt/nodir")[0] == 1
    rc, _, err = sh(info, "clu1", f"{mk} cluv 114 /mnt/sdb2")
    assert rc == 1 and "local daemon is running" in err
    assert sh(info, "clu1", "/usr/lib/nqs/nqsstop && /usr/lib/nqs/nqsstop")[0] == 0
    assert api.node_processes(info["name"], "clu1") == []
    cjcpw = "/usr/lib/nqs/cluster/cjcpw"
    rc, _, err = sh(info, "clu1", f"{cjcpw} cluv /mnt/sdb2")
    assert rc == 1 and "nqs not found" in err  # site missing: immediate failure
    assert sh(info, "clu1", f"{mk} cluv 114 /mnt/sdb2")[0] == 0
    rc, _, err = sh(info, "clu1", f"{mk} cluv 114 /mnt/sdb2")
    assert rc == 1 and "already exists" in err
    assert "machine_id=114" in sh(info, "clu1", "cat /mnt/sdb2/nqs/daemon.conf")[1]
    assert sh(info, "clu1", f"{cjcpw} -stop cluv")[0] == 0  # not running: idempotent
    # -c: start and return 0; the processes stay; a second start is refused
    assert sh(info, "clu1", f"{cjcpw} -c cluv /mnt/sdb2")[0] == 0
    names = [p["comm"] for p in api.node_processes(info["name"], "clu1")]
    assert sorted(names) == sorted(["nqsdaemon", "jnwcaster", "jnwcaster", "jnwengine", "sclaunchd", "comagent",
                                    "jcdbs", "jnwlauncher"])
    rc, _, err = sh(info, "clu1", f"{cjcpw} cluv /mnt/sdb2")
    assert rc == 1 and "already running" in err
    assert sh(info, "clu1", "/usr/lib/nqs/cluster/cjcls") == (0, "cluv RUNNING\n", "")
    assert sh(info, "clu1", f"{cjcpw} -stop cluv")[0] == 0
    assert api.node_processes(info["name"], "clu1") == []
    # resident: a killed child makes cjcpw stop the others and exit non-zero
    rc, _, err = sh(info, "clu1", f"( sleep 0.5; pkill -x jcdbs ) & {cjcpw} cluv /mnt/sdb2")
    assert rc == 1 and "jcdbs" in err
    assert api.node_processes(info["name"], "clu1") == []
    # the standby does not hold the FIP: the site cannot start there (after a failover it could)
    assert sh(info, "clu2", f"{cjcpw} cluv /mnt/sdb2")[0] == 1
    # local_daemon=OFF: nqsstart starts nothing
    sh(info, "clu2", "/usr/lib/nqs/nqsstop; echo local_daemon=OFF >> /usr/lib/nqs/rc/daemon.conf")
    assert sh(info, "clu2", "/usr/lib/nqs/nqsstart")[0] == 0
    assert api.node_processes(info["name"], "clu2") == []


def test_clusterpro_commands(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    rc, out, _ = sh(info, "clu2", "clpgrp -n failover-jc")
    assert (rc, out) == (0, "clu1\n")
    rc, _, err = sh(info, "clu1", "clpgrp -s nosuchgroup")
    assert rc != 0 and "Invalid group name" in err
    rc, _, err = sh(info, "clu1", "clpgrp -s failover-jc")
    assert rc != 0 and "already been started" in err
    rc, out, _ = sh(info, "clu2", "clpstat")
    assert "  Cluster : cluster" in out and "   *clu2 ............: Online" in out
    assert "    failover-jc .....: Online" in out and "      current        : clu1" in out
    rc, out, _ = sh(info, "clu1", "clpstat -g")
    assert "failover-jc[o]" in next(ln for ln in out.splitlines() if "server0 [o]" in ln)
    # move and back
    assert sh(info, "clu1", "clpgrp -m failover-jc")[1] == "Command succeeded.\n"
    assert sh(info, "clu1", "clpgrp -n failover-jc")[1] == "clu2\n"
    assert api.status(info["name"])["floatingIPHolder"] == "clu2"
    assert sh(info, "clu1", "clpgrp -m failover-jc -a clu1")[0] == 0
    # cluster stop / start on all servers
    rc, out, _ = sh(info, "clu1", "clpcl -t -a")
    assert rc == 0 and out == "Stop clu1 : Command succeeded.\nStop clu2 : Command succeeded.\n"
    rc, out, _ = sh(info, "clu1", "clpstat")
    assert "Offline" in out and "current        : None" in out
    rc, out, _ = sh(info, "clu1", "clpcl -s -a")
    assert rc == 0 and out == "Start clu1 : Command succeeded.\nStart clu2 : Command succeeded.\n"
    assert sh(info, "clu1", "clpgrp -n failover-jc")[1] == "clu1\n"
    # clpcfctrl: pull, invalid XML, unknown references, missing dir
    assert sh(info, "clu1", "mkdir /root/c && clpcfctrl --pull -x /root/c && test -x "
                            "/root/c/scripts/failover-jc/exec-jc/start.sh")[0] == 0
    rc, _, err = sh(info, "clu1", "cp -r /root/c /root/bad && echo '<root><oops>' > /root/bad/clp.conf && "
                                  "clpcfctrl --push -x /root/bad")
    assert rc != 0 and "Command failed.(code:" in err
    rc, _, err = sh(info, "clu1", "sed 's/<depend name=\"disk-jc\"/<depend name=\"nosuch\"/' /root/c/clp.conf "
                                  "> /root/bad/clp.conf && clpcfctrl --push -x /root/bad")
    assert rc != 0 and "nosuch" in err
    assert sh(info, "clu1", "clpcfctrl --pull -x /root/missing")[0] != 0
    # unchanged config pushes fine while online; --push without -x takes the installed files
    assert sh(info, "clu1", "clpcfctrl --push -x /root/c")[0] == 0
    assert sh(info, "clu1", "clpcfctrl --push")[0] == 0
    assert sh(info, "clu2", "clplogcmd -m 'hello from a script' -l warn")[0] == 0
    assert "warn clu2 1 hello from a script" in sh(info, "clu2", "cat /opt/nec/clusterpro/log/alert.log")[1]


def test_faults_slow_and_fail_command(testbed_cluster: Any) -> None:
    import time

    info = testbed_cluster(mode="classic")
    api.fault(info["name"], "fail-command", "clu1", "clpstat")
    rc, _, err = sh(info, "clu1", "clpstat")
    assert rc != 0 and "simulated failure" in err
    assert sh(info, "clu2", "clpstat")[0] == 0
    api.fault(info["name"], "slow", "clu2", "0.5")
    t0 = time.monotonic()
    assert sh(info, "clu2", "clpgrp -n failover-jc")[0] == 0
    assert time.monotonic() - t0 >= 0.5
    api.fault(info["name"], "heal", "clu1")
    api.fault(info["name"], "heal", "clu2")
    assert sh(info, "clu1", "clpstat")[0] == 0


def test_agent_systemctl_semantics(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="standard-agent", database_path="/mnt/jobagdb")
    unit = info["agent"]["unit"]
    assert sh(info, "clu1", f"systemctl is-active -q {unit}")[0] == 3
    rc, _, err = sh(info, "clu1", "systemctl start jcexecutor_agent_99.service")
    assert rc == 5 and "not found" in err
    assert sh(info, "clu1", "systemctl frobnicate x")[0] == 1
    # the instance data is on the switched disk: not startable on the standby
    assert sh(info, "clu2", f"systemctl start {unit}")[0] != 0
    assert sh(info, "clu1", f"systemctl start {unit} && systemctl is-active -q {unit}")[0] == 0
    procs = api.node_processes(info["name"], "clu1")
    assert [p["args"] for p in procs] == ["/usr/lib/nqs/jcexecutor/jcexecutor_agent 1"]
    assert sh(info, "clu1", f"systemctl disable {unit}; systemctl is-enabled {unit}")[1] == "disabled\n"
