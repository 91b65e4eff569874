"""Every alternative of a guessed format brings a bed up and shows its difference
(hack/testbed/variants.py; `python -m hack.testbed up --variant NAME`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from testbed_config import group, installed_conf, pull, push, sh, wait

from hack.testbed import api, variants
from hack.testbed.clp import edit

pytestmark = pytest.mark.root

Info = dict[str, Any]
CJCPW = "/usr/lib/nqs/cluster/cjcpw"
MKSITE = "/usr/lib/nqs/cluster/cjcmksite"


def _stop_local(info: Info) -> None:
    assert sh(info, "clu1", "/usr/lib/nqs/nqsstop")[0] == 0


def _no_identity(info: Info) -> None:
    text = sh(info, "clu1", "cat /mnt/sdb2/nqs/daemon.conf")[1]
    assert "site_name=" not in text and "machine_id=" not in text
    _stop_local(info)
    assert sh(info, "clu1", f"{CJCPW} -c cluv /mnt/sdb2")[0] == 0  # the site still starts


def _no_version(info: Info) -> None:
    assert sh(info, "clu1", "test -e /usr/lib/nqs/VERSION")[0] != 0
    assert sh(info, "clu1", "test -x /usr/lib/nqs/nqsdaemon && test -x /usr/lib/nqs/cluster/cjcpw")[0] == 0


def _jcagctrl_blocks(info: Info) -> None:
    out = sh(info, "clu1", "jcagctrl list")[1]
    assert "[clusterinstance]" in out and "Instance ID   : 1" in out and "INSTANCE ID" not in out


def _jc_errors_alt(info: Info) -> None:
    rc, _, err = sh(info, "clu1", f"{MKSITE} cluv 114 /mnt/sdb2")
    assert rc == 7 and err == "ERROR: cjcmksite: NQS daemon is active.\n"
    assert sh(info, "clu1", f"{MKSITE} cluv 114")[0] == 2


def _stop_idle_fails(info: Info) -> None:
    rc, _, err = sh(info, "clu1", f"{CJCPW} -stop cluv")
    assert rc == 1 and "not running" in err


def _nqsstart_strict(info: Info) -> None:
    rc, _, err = sh(info, "clu1", "/usr/lib/nqs/nqsstart")
    assert rc == 1 and "already running" in err


def _cjcls_table(info: Info) -> None:
    out = sh(info, "clu1", "/usr/lib/nqs/cluster/cjcls -a")[1]
    assert out.splitlines()[0].startswith("SITE NAME") and "LOCAL" in out


def _agent_anywhere(info: Info) -> None:
    # the standby has no data disk mounted, the unit starts all the same
    assert sh(info, "clu2", f"systemctl start {info['agent']['unit']}")[0] == 0


def _ppid_tree(info: Info) -> None:
    _stop_local(info)
    assert sh(info, "clu1", f"nohup {CJCPW} cluv /mnt/sdb2 >/dev/null 2>&1 &")[0] == 0

    def site() -> list[dict[str, Any]]:
        return [p for p in api.node_processes(info["name"], "clu1") if p["comm"] != "cjcpw"]

    wait(lambda: len(site()) == 8, 20, "the site's 8 daemons")
    [cjcpw] = [p["pid"] for p in api.node_processes(info["name"], "clu1") if p["comm"] == "cjcpw"]
    procs = site()
    assert [p["comm"] for p in procs if p["ppid"] == cjcpw] == ["nqsdaemon"]
    assert len([p for p in procs if p["ppid"] == cjcpw or p["ppid"] in {q["pid"] for q in procs}]) == 8


def _isolation_shutdown(info: Info) -> None:
    api.fault(info["name"], "cut-network", "clu1")
    wait(lambda: not api.status(info["name"])["nodeState"]["clu1"]["alive"], 20, "clu1 to shut down")
    wait(lambda: group(info)["current"] == "clu2" and group(info)["status"] == "Online", 30, "the failover")


def _seen_server(info: Info, node: str) -> str:
    p = api.node_path(info["name"], node, "/opt/nec/clusterpro/log/exec-jc.log")
    return [ln for ln in p.read_text().splitlines() if ln.startswith("SEEN")][-1]


def _push_echo(info: Info, conf: bytes | None = None) -> None:
    start = '#!/bin/sh\necho "SEEN SERVER=$CLP_SERVER DISK=$CLP_DISK"\nexit 0\n'
    assert sh(info, "clu1", "clpgrp -t failover-jc")[0] == 0
    rc, out = push(info, conf or pull(info), {"failover-jc/exec-jc/start.sh": start})
    assert rc == 0, out


def _clp_server_priority(info: Info) -> None:
    conf = pull(info)
    conf = edit.set_path(conf, "group@failover-jc/policy@clu2/order", "0")
    conf = edit.set_path(conf, "group@failover-jc/policy@clu1/order", "1")
    _push_echo(info, conf)
    assert sh(info, "clu1", "clpgrp -s failover-jc -h clu1")[0] == 0
    assert _seen_server(info, "clu1") == "SEEN SERVER=HOME DISK=SUCCESS"  # default: OTHER (policy says clu2)


def _clp_disk_error_word(info: Info) -> None:
    _push_echo(info)
    api.fault(info["name"], "disk-failure", "clu1")
    assert sh(info, "clu1", "clpgrp -s failover-jc")[0] == 0
    assert _seen_server(info, "clu1") == "SEEN SERVER=HOME DISK=ERROR"


def _clp_messages_alt(info: Info) -> None:
    rc, _, err = sh(info, "clu1", "clpgrp -s nosuchgroup")
    assert rc == 1 and err.startswith("INVALID GROUP NAME")
    rc, out = push(info, b"<root><oops>")
    assert rc == 1 and "Command failed.(code:1)" in out


def _clpstat_guessed_alt(info: Info) -> None:
    assert "  userw (Normal)" in sh(info, "clu1", "clpstat -m")[1]
    assert "    lankhb1          Normal" in sh(info, "clu1", "clpstat -n")[1]


def _strict_apply(info: Info) -> None:
    conf = edit.set_path(pull(info), "monitor/genw@genw-x/parameters/path", "genw.sh")
    rc, out = push(info, conf, {"monitor.s/genw-x/genw.sh": "#!/bin/sh\nexit 0\n"})
    assert rc == 12 and "Suspend the cluster" in out


def _apply_lenient(info: Info) -> None:
    # Suspending alone is enough to change an online group's scripts (strict-apply: code 15).
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    rc, out = push(info, pull(info), {"failover-jc/exec-jc/start.sh": "#!/bin/sh\nexit 0\n"})
    assert rc == 0, out
    assert sh(info, "clu1", "clpcl --resume")[0] == 0


def _x41(info: Info) -> None:
    rc, out, err = sh(info, "clu1", "systemctl is-enabled clusterpro_ib.service")
    assert rc != 0 and out == "" and "does not exist" in err
    assert sh(info, "clu1", "systemctl is-enabled clusterpro_webmgr.service")[1] == "enabled\n"
    rc, _, err = sh(info, "clu1", "clpcl -r --web --alert --ib --api")
    assert rc == 1 and "--ib" in err
    assert sh(info, "clu1", "clpcl -r --web --alert")[0] == 0


def _webui_from_file(info: Info) -> None:
    # The save starts from the installed file even though WebManager was not restarted after the push.
    _push_interval(info, 7)
    api.fault(info["name"], "webui-save", "clu1")
    assert b"<interval>7</interval>" in installed_conf(info, "clu2")


def _push_interval(info: Info, interval: int) -> None:
    """A monitor change pushed the documented way, without the manager services' restart."""
    conf = edit.set_path(pull(info), "monitor/userw@userw/polling/interval", str(interval))
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    rc, out = push(info, conf)
    assert rc == 0, out
    assert sh(info, "clu1", "clpcl --resume")[0] == 0


def _euc_jp(info: Info) -> None:
    assert installed_conf(info, "clu2").startswith(b'<?xml version="1.0" encoding="EUC-JP"?>')


CHECKS: dict[str, tuple[dict[str, Any], Callable[[Info], None]]] = {
    "no-site-identity-keys": ({"state": "site-exists"}, _no_identity),
    "no-version-file": ({}, _no_version),
    "jcagctrl-blocks": ({"mode": "standard-agent", "database_path": "/mnt/jobagdb"}, _jcagctrl_blocks),
    "jc-errors-alt": ({}, _jc_errors_alt),
    "cjcpw-stop-idle-fails": ({}, _stop_idle_fails),
    "nqsstart-strict": ({}, _nqsstart_strict),
    "cjcls-table": ({}, _cjcls_table),
    "agent-starts-anywhere": ({"mode": "standard-agent", "database_path": "/mnt/jobagdb"}, _agent_anywhere),
    "ppid-tree": ({"state": "site-exists"}, _ppid_tree),
    "isolation-shutdown": ({}, _isolation_shutdown),
    "clp-server-priority": ({}, _clp_server_priority),
    "clp-disk-error-word": ({}, _clp_disk_error_word),
    "clp-messages-alt": ({}, _clp_messages_alt),
    "clpstat-guessed-alt": ({}, _clpstat_guessed_alt),
    "apply-lenient": ({}, _apply_lenient),
    "clp-conf-euc-jp": ({}, _euc_jp),
    "clp-x41": ({}, _x41),
    "webui-from-file": ({}, _webui_from_file),
}


def test_every_alternative_has_a_check() -> None:
    assert sorted(CHECKS) == sorted(c for a in variants.AXES for c in a.choices[1:])
    assert variants.normalize(["all"]) == [a.choices[1] for a in variants.AXES]
    assert variants.normalize(["apply-lenient", "strict-apply"]) == ["strict-apply"]  # last one per axis wins
    with pytest.raises(ValueError, match="unknown variant"):
        variants.normalize(["no-such-variant"])


@pytest.mark.parametrize("variant", sorted(CHECKS))
def test_variant_brings_a_bed_up(testbed_cluster: Any, variant: str) -> None:
    options, check = CHECKS[variant]
    info = testbed_cluster(variants=[variant], **options)
    axis = variants.axis_of(variant).name
    assert info["variants"][axis] == variant
    assert sh(info, "clu1", "clpstat")[0] == 0
    check(info)


@pytest.mark.parametrize("mode", ["classic", "standard"])
def test_all_variants_bed(testbed_cluster: Any, mode: str) -> None:
    info = testbed_cluster(mode=mode, variants=["all"])
    assert all(v != a.choices[0] for a in variants.AXES for k, v in info["variants"].items() if k == a.name)
    rc, out, _ = sh(info, "clu2", "clpstat")
    assert rc == 0 and "Online" in out
    assert all(g["activeNode"] == "clu1" for g in info["groups"])
    assert sh(info, "clu1", "test -e /usr/lib/nqs/VERSION")[0] != 0


def test_the_default_bed_applies_the_products_strict_rules(testbed_cluster: Any) -> None:
    info = testbed_cluster()
    assert info["variants"]["apply"] == "strict-apply"
    _strict_apply(info)


def test_a_webui_save_writes_back_what_webmanager_loaded_until_it_is_restarted(testbed_cluster: Any) -> None:
    """The default bed (X4.2+, webui-from-webmanager): a push not followed by ``clpcl -r --web`` is
    undone by the next Cluster WebUI save; after the restart on that server the save keeps it."""
    info = testbed_cluster()
    assert sh(info, "clu1", "systemctl is-enabled clusterpro_ib.service clusterpro_api.service")[1] == \
        "enabled\nenabled\n"
    _push_interval(info, 7)
    api.fault(info["name"], "webui-save", "clu2")
    assert b"<interval>7</interval>" not in installed_conf(info, "clu1"), "the stale WebManager's config came back"
    _push_interval(info, 8)
    assert sh(info, "clu2", "clpcl -r --web --alert --ib --api")[0] == 0
    loaded = api.cluster_status(info["name"])["servers"]
    assert loaded["clu2"]["loaded"]["--web"] != loaded["clu1"]["loaded"]["--web"], "only clu2 was restarted"
    api.fault(info["name"], "webui-save", "clu2")
    assert b"<interval>8</interval>" in installed_conf(info, "clu1")
    # The WebUI applied its save through WebManager: a second save starts from the first one's result.
    api.fault(info["name"], "webui-save", "clu1")
    assert b"<interval>8</interval>" in installed_conf(info, "clu2")
