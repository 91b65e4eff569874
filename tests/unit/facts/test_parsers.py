"""Fact parsers against outputs in the formats of node-protocol.md (recorded transcripts)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from plan_factory import AGENT, CLASSIC, MANAGER

from jobcenter_operator.facts import agent, clusterpro, jobcenter, network, processes
from jobcenter_operator.facts.sections import SectionOutput
from jobcenter_operator.paths import MANAGED_BY, SCRIPTS_ROOT
from jobcenter_operator.render.scripts import scripts_for


def ok(text: str) -> SectionOutput:
    return SectionOutput(stdout=text, exit_status=0)


CLPSTAT_RUNNING = """\
 ========================  CLUSTER STATUS  ===========================
  Cluster : cluster
  <server>
   *clu1 ............: Online           Primary server
      lankhb1        : Normal           Kernel Mode LAN Heartbeat
    clu2 ............: Online           Secondary server
      lankhb1        : Normal           Kernel Mode LAN Heartbeat
  <group>
    failover-jc .....: Online           Group for JobCenter
      current        : clu1
      disk-jc        : Online
      exec-jc        : Online
      fip-jc         : Online
    failover-other ..: Offline
      current        : None
      exec-other     : Offline
  <monitor>
    pidw-jc          : Normal
    userw            : Normal           User mode monitor
 =====================================================================
"""

CLPSTAT_STOPPED = """\
 ========================  CLUSTER STATUS  ===========================
  Cluster : cluster
  <server>
   *clu1 ............: Offline          Primary server
      lankhb1        : Offline          Kernel Mode LAN Heartbeat
    clu2 ............: Offline          Secondary server
  <group>
    failover-jc .....: Offline
      current        : None
 =====================================================================
"""


def test_clpstat_running_cluster() -> None:
    status = clusterpro.parse_clpstat(ok(CLPSTAT_RUNNING))
    assert status.running
    assert status.cluster_name == "cluster"
    assert status.local_server == "clu1"
    assert status.servers == {"clu1": "Online", "clu2": "Online"}
    assert status.groups["failover-jc"].state == "Online"
    assert status.groups["failover-jc"].current == "clu1"
    assert status.groups["failover-other"].state == "Offline"
    assert status.groups["failover-other"].current is None
    assert status.monitors == {"pidw-jc": "Normal", "userw": "Normal"}
    assert status.monitor_state("pidw-jc") == "Normal" and status.monitor_state("genw-x") is None


def test_clpstat_stopped_cluster_and_daemon_down() -> None:
    stopped = clusterpro.parse_clpstat(ok(CLPSTAT_STOPPED))
    assert not stopped.running
    assert stopped.groups["failover-jc"].current is None
    down = clusterpro.parse_clpstat(SectionOutput("Could not connect to the server.", 1))
    assert not down.running and down.groups == {}


def test_clpgrp_n() -> None:
    assert clusterpro.parse_clpgrp(ok("clu2\n")) == "clu2"
    assert clusterpro.parse_clpgrp(ok("")) is None
    assert clusterpro.parse_clpgrp(SectionOutput("", 1)) is None


def test_script_hashes() -> None:
    digest = "a" * 64
    out = ok(
        f"{digest}  /opt/nec/clusterpro/scripts/failover-jc/exec-jc/start.sh\n"
        f"{'b' * 64}  /opt/nec/clusterpro/scripts/monitor.s/genw-jcag/genw.sh\n"
    )
    assert clusterpro.parse_script_hashes(out) == {
        "failover-jc/exec-jc/start.sh": digest,
        "monitor.s/genw-jcag/genw.sh": "b" * 64,
    }


# ps -eo pid=,ppid=,args= on an active node with a local site (PPID 1) and the cluster site under cjcpw.
PS_ACTIVE = """\
      1       0 sshd: /usr/sbin/sshd -D -f /x/sshd_config [listener] 0 of 10-100 startups
     40       1 NQS nqsdaemon
     41       1 /usr/lib/nqs/jnwcaster
     42      41 /usr/lib/nqs/jnwcaster
    100      99 /bin/sh /opt/nec/clusterpro/scripts/failover-jc/exec-jc/start.sh
    101     100 /usr/lib/nqs/cluster/cjcpw cluv /mnt/sdb2
    102     101 NQS nqsdaemon
    103     101 /usr/lib/nqs/jnwcaster
    104     103 /usr/lib/nqs/jnwcaster
    105     101 /usr/lib/nqs/gui/bin/jnwengine
    106     101 /usr/lib/nqs/gui/bin/sclaunchd
    107     101 /usr/lib/nqs/combase/comagent
    108     101 /usr/lib/nqs/gui/bin/jcdbs
    109     101 /usr/lib/nqs/gui/bin/jnwlauncher
    120      1 ps -eo pid=,ppid=,args=
"""


def test_process_table_splits_cluster_site_from_local_site() -> None:
    table = processes.parse_ps(ok(PS_ACTIVE))
    sites = table.sites()
    assert len(sites) == 1
    site = sites[0]
    assert (site.cjcpw_pid, site.resident, site.virtual_host, site.database_path) == (101, True, "cluv", "/mnt/sdb2")
    assert site.names() == processes.CLASSIC_SITE
    assert processes.missing_processes(site.names(), processes.CLASSIC_SITE) == []
    assert sorted(p.name for p in table.outside_sites()) == ["jnwcaster", "jnwcaster", "nqsdaemon"]


def test_missing_processes_counts_instances() -> None:
    found = Counter({"jnwcaster": 1, "nqsdaemon": 1})
    missing = processes.missing_processes(found, processes.CLASSIC_SITE)
    assert missing.count("jnwcaster") == 1
    assert "nqsdaemon" not in missing
    assert len(missing) == 7 - 1


def test_cjcpw_stop_and_dash_c_are_recognised() -> None:
    table = processes.parse_ps(
        ok("  5 1 /usr/lib/nqs/cluster/cjcpw -stop cluv\n  6 1 /usr/lib/nqs/cluster/cjcpw -c cluv /mnt/sdb2\n")
    )
    [site] = table.sites()
    assert site.cjcpw_pid == 6 and not site.resident


def test_daemon_conf_and_install() -> None:
    conf = jobcenter.parse_daemon_conf(ok("# sample\n# local_daemon=SITE\nlocal_daemon=off\n"))
    assert conf.present and conf.local_daemon == "OFF"
    assert jobcenter.parse_daemon_conf(ok("# local_daemon=SITE\n")).local_daemon is None
    assert not jobcenter.parse_daemon_conf(SectionOutput("", 1)).present
    install = jobcenter.parse_install(ok("VERSION=R16.2\nMODE=CLASSIC\n"))
    assert (install.installed, install.version, install.mode) == (True, "R16.2", "CLASSIC")
    assert not jobcenter.parse_install(SectionOutput("", 3)).installed


def test_site_conf() -> None:
    site = jobcenter.parse_site_conf(ok("# daemon.conf of the cluster site\nsite_name=cluv\nmachine_id=114\n"))
    assert (site.present, site.virtual_host, site.machine_id) == (True, "cluv", 114)
    assert not jobcenter.parse_site_conf(SectionOutput("", 4)).present


def test_network() -> None:
    addrs = network.parse_ip_addr(
        ok(
            "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
            "2: eth0    inet 10.200.1.11/24 brd 10.200.1.255 scope global eth0\\       valid_lft forever\n"
            "2: eth0    inet 10.200.1.100/24 scope global secondary eth0\\       valid_lft forever\n"
        )
    )
    assert addrs == {"127.0.0.1", "10.200.1.11", "10.200.1.100"}
    mounts = network.parse_mounts(ok("36 25 0:31 / /mnt/sdb2 rw,relatime shared:1 - ext4 /dev/sdb2 rw\n"))
    assert "/mnt/sdb2" in mounts
    res = network.parse_resolution(
        ok("10.200.1.100    STREAM cluv\n10.200.1.100    DGRAM\n10.200.1.100    RAW\n"),
        ok("10.200.1.100    cluv cluv.example.test\n"),
    )
    assert (res.forward, res.canonical, res.reverse) == (("10.200.1.100",), "cluv", "cluv")
    missing = network.parse_resolution(SectionOutput("", 2), SectionOutput("", 2))
    assert missing.forward == () and missing.reverse is None


JCAGCTRL = """\
INSTANCE ID                           NAME             AGENT NAME    ACTIVE  ENABLE
3f0c2a9e-1111-2222-3333-444455556666  clusterinstance  jcagcluster   true    true
1                                     other            jcagcluster   FALSE   true
"""


def test_jcagctrl_by_header_names() -> None:
    installed, rows = agent.parse_jcagctrl(ok(JCAGCTRL))
    assert installed
    assert [(r.instance_id, r.name, r.agent_name, r.active, r.enable) for r in rows] == [
        ("3f0c2a9e-1111-2222-3333-444455556666", "clusterinstance", "jcagcluster", True, True),
        ("1", "other", "jcagcluster", False, True),
    ]
    # Columns in another order and case still parse.
    shuffled = "enable  Active  Name  Instance ID\ntrue    false   x     7\n"
    [row] = agent.parse_jcagctrl(ok(shuffled))[1]
    assert (row.instance_id, row.name, row.active, row.enable) == ("7", "x", False, True)
    assert agent.parse_jcagctrl(SectionOutput("", 127)) == (False, ())


def test_agent_unit() -> None:
    assert agent.parse_agent_unit(ok("inactive\ndisabled\n")) == ("inactive", "disabled")


def test_clpstat_monitor_names_cut_to_16_characters() -> None:
    text = CLPSTAT_RUNNING.replace("    pidw-jc          : Normal", "    genw-jcag-cluste : Error")
    status = clusterpro.parse_clpstat(ok(text))
    assert status.monitor_state("genw-jcag-clusterinstance") == "Error"


def test_install_mode_comes_from_version_else_from_the_installed_daemons() -> None:
    from jobcenter_operator.facts.jobcenter import parse_install
    from jobcenter_operator.facts.sections import SectionOutput

    with_file = parse_install(SectionOutput("VERSION=R16.2\nMODE=CLASSIC\n\n@installed jcexecutor_manager\n", 0))
    assert (with_file.mode, with_file.mode_from) == ("CLASSIC", "VERSION")
    classic = parse_install(SectionOutput("\n@installed nqsdaemon\n", 0))
    assert (classic.installed, classic.mode, classic.mode_from) == (True, "CLASSIC", "daemons")
    standard = parse_install(SectionOutput("\n@installed jcexecutor_manager\n", 0))
    assert standard.mode == "STANDARD"
    both = parse_install(SectionOutput("\n@installed nqsdaemon\n@installed jcexecutor_manager\n", 0))
    assert (both.mode, both.mode_from) == (None, None)


def test_clp_conf_travels_as_bytes_in_its_declared_charset() -> None:
    import base64

    from jobcenter_operator.facts.clusterpro import parse_clp_conf
    from jobcenter_operator.facts.sections import SectionOutput
    from jobcenter_operator.xml_spans import encode_document

    text = ('<?xml version="1.0" encoding="EUC-JP"?>\n<root><cluster><name>c</name><comment>'
            '\u696d\u52d9\u30af\u30e9\u30b9\u30bf</comment></cluster></root>\n')
    data = text.encode("euc_jp")
    conf = parse_clp_conf(SectionOutput(base64.encodebytes(data).decode(), 0))
    assert (conf.encoding, conf.text, conf.invalid) == ("EUC-JP", text, None)
    assert encode_document(conf.text, conf.encoding) == data
    bad = parse_clp_conf(SectionOutput(base64.encodebytes(b'<?xml version="1.0" encoding="ASCII"?>\n\xff').decode(),
                                       0))
    assert bad.present and bad.config is None and "ASCII" in (bad.invalid or "")


def test_clpstat_long_layout_names_whole_and_a_suspended_cluster() -> None:
    from jobcenter_operator.facts.clusterpro import parse_clpstat
    from jobcenter_operator.facts.sections import SectionOutput

    group, monitor = "failover-jobcenter-cluster-site", "pidw-jobcenter-cluster-site-mon"
    long = (" ========================  CLUSTER STATUS  ===========================\n"
            "  Cluster : cluster\n  <server>\n"
            f"   *clu1 {'.' * 28}: Suspend          Primary server\n"
            f"    clu2 {'.' * 28}: Suspend          Secondary server\n"
            f"  <group>\n    {group} ..: Online\n      current{' ' * 25}: clu1\n"
            f"  <monitor>\n    {monitor}   : Normal\n")
    status = parse_clpstat(SectionOutput(long, 0))
    assert status.running and status.suspended and status.local_server == "clu1"
    assert status.groups[group].current == "clu1" and status.monitor_state(monitor) == "Normal"
    # The default layout cuts names to 16: a cut monitor name still matches the whole one.
    cut = long.replace(f"    {monitor}   :", f"    {monitor[:16]} :").replace("Suspend ", "Online  ")
    status = parse_clpstat(SectionOutput(cut, 0))
    assert status.running and not status.suspended and status.monitor_state(monitor) == "Normal"


def test_jcagctrl_blocks_layout_is_unreadable_not_a_table() -> None:
    from jobcenter_operator.facts.agent import jcagctrl_readable, parse_jcagctrl
    from jobcenter_operator.facts.sections import SectionOutput

    blocks = SectionOutput("[clusterinstance]\n  Instance ID   : 1\n  Agent Name    : jcagcluster\n"
                           "  Status        : ACTIVE\n  Enabled       : YES\n", 0)
    assert parse_jcagctrl(blocks) == (True, ()) and not jcagctrl_readable(blocks)
    table = SectionOutput("INSTANCE ID  NAME             AGENT NAME   ACTIVE  ENABLE\n"
                          "1            clusterinstance  jcagcluster  true    true\n", 0)
    installed, rows = parse_jcagctrl(table)
    assert installed and jcagctrl_readable(table) and rows[0].instance_id == "1" and rows[0].active


def test_the_operators_scripts_of_any_version_are_told_from_the_administrators(tmp_path: Path) -> None:
    """The section run by a real shell: a script carrying MANAGED_BY is the operator's, whatever its
    version (another body, the same first comment line); the administrator's own is not."""
    root = tmp_path / "scripts"
    exec_dir, monitor_dir = root / "failover-jc" / "exec-jc", root / "monitor.s" / "genw-jc"
    exec_dir.mkdir(parents=True)
    monitor_dir.mkdir(parents=True)
    (exec_dir / "start.sh").write_text(f"#! /bin/sh\n# start.sh of an exec resource.\n{MANAGED_BY}\necho v0\n")
    (exec_dir / "stop.sh").write_text("#! /bin/sh\n# my own stop, mentioning jobcenter-operator\nexit 0\n")
    (monitor_dir / "genw.sh").write_text(f"#! /bin/sh\n  {MANAGED_BY}\n")  # not the whole line: not ours
    body = clusterpro.SCRIPT_HASHES.body.replace(SCRIPTS_ROOT, str(root))
    script = f"f() {{\n{body}\n}}\ngroup=failover-jc exec_rsc=exec-jc monitor=genw-jc\nf"
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    out = SectionOutput(done.stdout.replace(str(root), SCRIPTS_ROOT), done.returncode)
    assert clusterpro.parse_managed_scripts(out) == {"failover-jc/exec-jc/start.sh"}
    assert set(clusterpro.parse_script_hashes(out)) == {
        "failover-jc/exec-jc/start.sh", "failover-jc/exec-jc/stop.sh", "monitor.s/genw-jc/genw.sh"}
    assert clusterpro.parse_managed_scripts(SectionOutput("managed  /elsewhere/x.sh\n", 0)) == frozenset()
    assert clusterpro.parse_managed_scripts(SectionOutput(done.stdout, 3)) == frozenset()


def test_every_rendered_script_carries_the_managed_line() -> None:
    for spec in (CLASSIC, MANAGER, AGENT):
        for path, content in scripts_for(spec).items():
            assert MANAGED_BY in content.splitlines(), path


def test_clp_conf_unchanged_is_the_copy_whose_digest_the_probe_was_given() -> None:
    import base64
    import hashlib

    from jobcenter_operator.facts.clusterpro import parse_clp_conf
    from jobcenter_operator.facts.sections import SectionOutput

    text = ('<?xml version="1.0" encoding="EUC-JP"?>\n<root><cluster><name>c</name><comment>'
            '\u696d\u52d9</comment></cluster></root>\n')
    data = text.encode("euc_jp")
    read = parse_clp_conf(SectionOutput(base64.encodebytes(data).decode(), 0))
    # the digest of the bytes on the node (what sha256sum prints there), not of the decoded text
    assert read.file_sha256 == hashlib.sha256(data).hexdigest() != read.sha256
    again = parse_clp_conf(SectionOutput(f"unchanged {read.file_sha256}\n", 0), read)
    assert again is read and again.text == text and again.encoding == "EUC-JP"
    for known in (None, read.model_copy(update={"file_sha256": "0" * 64})):
        odd = parse_clp_conf(SectionOutput(f"unchanged {read.file_sha256}\n", 0), known)
        assert odd.present and odd.config is None and "not held here" in (odd.invalid or "")
    assert not parse_clp_conf(SectionOutput("", 1), read).present, "gone since: absent, whatever was known"


def test_mounts_as_the_probe_sends_them_the_mount_point_alone() -> None:
    # MOUNTS cuts field 5 of mountinfo on the node; escapes as the kernel writes them
    assert network.parse_mounts(ok("/\n/mnt/sdb2\n/mnt/with\\040space\n\n")) == {"/", "/mnt/sdb2", "/mnt/with space"}
    full = "36 25 0:31 / /mnt/with\\040space rw,relatime shared:1 - ext4 /dev/sdb2 rw\n"
    assert network.parse_mounts(ok(full)) == {"/mnt/with space"}, "a whole mountinfo line still reads"


def test_site_trees_are_the_same_walked_through_a_parent_index() -> None:
    """sites() walks a children-by-parent index built once (it scanned the whole table per process:
    quadratic on a node running hundreds); same trees, same order, as the scan gave."""
    import random

    from jobcenter_operator.facts.processes import Process, ProcessTable

    def scanned(table: ProcessTable, pid: int) -> list[Process]:  # the former walk, one scan per process
        found, todo = [], [pid]
        while todo:
            parent = todo.pop()
            for child in [p for p in table.processes if p.ppid == parent]:
                found.append(child)
                todo.append(child.pid)
        return found

    rng = random.Random(15)  # noqa: S311 (a seeded table, not a secret)
    for _ in range(50):
        rows: list[Process] = []
        for pid in rng.sample(range(2, 5000), 300):
            parent = rng.choice([1, *(r.pid for r in rows)]) if rows else 1
            args = rng.choice(["/usr/lib/nqs/cluster/cjcpw cluv /mnt/sdb2", "/usr/lib/nqs/jnwcaster", "NQS nqsdaemon",
                               "sshd: root@notty", "/usr/lib/nqs/cluster/cjcpw -stop cluv /mnt/sdb2"])
            rows.append(Process(pid=pid, ppid=parent, args=args))
        rng.shuffle(rows)
        table = ProcessTable(processes=tuple(rows))
        trees = table.sites()
        assert [t.cjcpw_pid for t in trees] == [p.pid for p in rows if p.args.startswith(
            "/usr/lib/nqs/cluster/cjcpw cluv")]
        for tree in trees:
            assert list(tree.processes) == scanned(table, tree.cjcpw_pid)
        assert table.descendants(1) == scanned(table, 1)
