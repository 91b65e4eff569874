"""clpstat's name widths (S7) with 20-31 character names, and an EUC-JP clp.conf kept byte for byte."""

from __future__ import annotations

import re
from typing import Any

import pytest
from testbed_config import installed_conf, pull, push, sh, snapshot

from hack.testbed import api
from hack.testbed.clp import edit

pytestmark = pytest.mark.root

GROUP = "failover-jobcenter-long-name-31"  # 31 characters: the product's maximum
EXEC = "exec-jobcenter-manager-20"  # 25
DISK = "disk-jc-long-name-20"  # 20
MON = "genw-jobcenter-manager-long-31c"  # 31


def _long_group(conf: bytes) -> bytes:
    conf = edit.add_group_member(conf, GROUP, "disk", DISK)
    conf = edit.add_group_member(conf, GROUP, "exec", EXEC)
    conf = edit.set_path(conf, f"resource/disk@{DISK}/parameters/mount/point", "/mnt/longdisk")
    conf = edit.set_path(conf, f"resource/exec@{EXEC}/parameters/act/path", "start.sh")
    conf = edit.add_depend(conf, "exec", EXEC, DISK)
    for k, v in {"parameters/path": "genw.sh", "polling/timing": "1", "polling/interval": "1", "target": EXEC,
                 "relation/type": "grp", "relation/name": GROUP}.items():
        conf = edit.set_path(conf, f"monitor/genw@{MON}/{k}", v)
    return conf


def test_clpstat_cuts_long_names_and_long_prints_them_whole(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic")
    ok = "#!/bin/sh\nexit 0\n"
    # A new, offline group (no stop needed) with a new monitor: pushed with the cluster suspended.
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    rc, out = push(info, _long_group(pull(info)), {f"{GROUP}/{EXEC}/start.sh": ok, f"{GROUP}/{EXEC}/stop.sh": ok,
                                                   f"monitor.s/{MON}/genw.sh": ok})
    assert rc == 0, out
    assert sh(info, "clu1", "clpcl --resume")[0] == 0
    rc, _, err = sh(info, "clu1", f"clpgrp -s {GROUP}")
    assert rc == 0, err
    assert sh(info, "clu2", f"clpgrp -n {GROUP}")[1] == "clu1\n"

    rc, stat, _ = sh(info, "clu1", "clpstat")
    lines = stat.splitlines()
    assert f"    {GROUP[:16]} : Online" in lines
    assert f"      {EXEC[:14]} : Online" in lines and f"      {DISK[:14]} : Online" in lines
    assert any(ln.startswith(f"    {MON[:16]} : ") for ln in lines)
    assert "    failover-jc .....: Online" in lines  # short names keep their dots
    # VERIFIED shape (S7): the ':' of every name line is at column 21 by default, 38 with --long
    named = [ln for ln in lines if re.match(r"^ {3,}[*\w].* : ", ln) or re.match(r"^ +\S+ \.+: ", ln)]
    assert named and all(ln.index(":") == 21 for ln in named), named
    rc, long, _ = sh(info, "clu1", "clpstat --long")
    llines = long.splitlines()
    assert any(ln.startswith(f"    {GROUP} ..: Online") for ln in llines)
    assert f"      {EXEC}{' ' * (32 - len(EXEC))}: Online" in llines
    assert any(ln.startswith(f"    {MON}   : ") for ln in llines)
    assert any(ln.startswith("   *clu1 " + "." * 29 + ": Online") for ln in llines)
    lnamed = [ln for ln in llines if " : " in ln or ".: " in ln]
    assert lnamed and all(ln.index(":") == 38 for ln in lnamed if not ln.strip().startswith("Cluster"))
    assert sh(info, "clu1", "clpstat -s --long")[1] == long

    # 32 characters is one too many
    rc, out = push(info, edit.set_path(pull(info), f"monitor/genw@{MON}x/target", EXEC))
    assert rc == 11 and "1 to 31 characters" in out


def test_euc_jp_clp_conf_round_trips_byte_for_byte(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic", charset="euc-jp", variants=["apply-lenient"])  # suspending suffices
    japanese = "JobCenter 用クラスタ（本番系）".encode("euc_jp")
    conf = installed_conf(info, "clu1")
    assert conf.startswith(b'<?xml version="1.0" encoding="EUC-JP"?>\n') and japanese in conf
    assert b"<charset>EUC-JP</charset>" in conf
    with pytest.raises(UnicodeDecodeError):
        conf.decode("utf-8")
    # pull gives the installed bytes
    assert pull(info) == conf
    # a change pushed as bytes keeps every other byte (suspended: the group is online)
    changed = conf.replace(b"<device>/dev/sdb2</device>", b"<device>/dev/sdc1</device>")
    assert sh(info, "clu1", "clpcl --suspend")[0] == 0
    rc, out = push(info, changed)
    assert rc == 0, out
    assert sh(info, "clu1", "clpcl --resume")[0] == 0
    assert all(s["clp.conf"] == changed for s in snapshot(info).values())
    assert api.cluster_status(info["name"])["groups"]["failover-jc"]["status"] == "Online"
    # an edit through the bed's editor writes EUC-JP again, Japanese text intact
    edited = edit.set_path(changed, "resource/exec@exec-jc/parameters/timeout/stop", "600")
    assert japanese in edited and edited.startswith(b'<?xml version="1.0" encoding="EUC-JP"?>')
    # bytes that are not EUC-JP are refused, nothing is delivered
    before = snapshot(info)
    rc, out = push(info, changed.replace(japanese, b"\xff\xfe broken"))
    assert rc == 11 and "EUC-JP" in out
    assert snapshot(info) == before


def test_webui_save_rewrites_trekking_and_object_number_only(testbed_cluster: Any) -> None:
    info = testbed_cluster(mode="classic", charset="euc-jp")
    before = installed_conf(info, "clu1")
    api.fault(info["name"], "webui-save", "clu1")
    first = installed_conf(info, "clu1")
    api.fault(info["name"], "webui-save", "clu1")
    second = installed_conf(info, "clu2")
    assert installed_conf(info, "clu1") == second

    def strip(b: bytes) -> bytes:
        return re.sub(rb"\s*<trekking>.*?</trekking>|\s*<webmgr>.*?</webmgr>", b"", b, flags=re.S)

    assert strip(first) == strip(before) and strip(second) == strip(before)
    ids = [re.search(rb"<configid>([^<]+)</configid>", b).group(1) for b in (first, second)]  # type: ignore[union-attr]
    assert ids[0] != ids[1]
    assert b"<savedversion>1</savedversion>" in first and b"<savedversion>2</savedversion>" in second
    # 2 servers + 2x1 heartbeat + 1 group + 3 resources + 1 monitor + 4
    assert b"<objectnumber>13</objectnumber>" in second
    assert pull(info) == second  # what clpcfctrl --pull gives back
