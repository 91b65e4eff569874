"""clp.conf read once into the typed model preflight and the planner use."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobcenter_operator.facts.cluster_config import ClpConfInvalid, parse_cluster_config
from jobcenter_operator.facts.clusterpro import clp_conf

FIXTURES = Path(__file__).resolve().parents[1] / "render" / "fixtures"
CLASSIC = (FIXTURES / "clp-classic.xml").read_text()
MANAGER = (FIXTURES / "clp-standard-manager.xml").read_text()
AGENT = (FIXTURES / "clp-standard-agent.xml").read_text()


def test_groups_resources_and_monitors() -> None:
    config = parse_cluster_config(CLASSIC)
    assert tuple(config.groups) == ("failover-app", "failover-jc")
    group = config.groups["failover-jc"]
    assert group.members == ("fip@fip-jc", "disk@disk-jc", "exec@exec-jc")
    assert group.servers == ("clu1", "clu2")
    assert config.floating_ips("failover-jc") == ("10.0.0.114",)
    assert config.mount_points("failover-jc") == ("/mnt/sdb2",)
    assert config.resources["exec@exec-jc"].depends == ("disk-jc", "fip-jc")
    assert config.monitors["genw-app"] == "genw" and config.monitors["userw"] == "userw"
    assert parse_cluster_config(MANAGER).mount_points("failover-jcmg") == ("/mnt/jobmgdb",)  # mirror disk
    agent = parse_cluster_config(AGENT)
    assert agent.groups["failover-jcag"].members == ("disk@disk-jcag", "exec@exec-jcag")
    assert agent.floating_ips("failover-jcag") == () and agent.mount_points("failover-jcag") == ("/mnt/jobagdb",)
    assert agent.resources["exec@exec-jcag"].depends == ()
    assert agent.group_resources("nope") == ()


def test_a_group_without_policy_may_run_on_every_server_and_policy_order_counts() -> None:
    text = CLASSIC.replace('<policy name="clu1"><order>0</order></policy>',
                           '<policy name="clu1"><order>2</order></policy>')
    assert parse_cluster_config(text).groups["failover-jc"].servers == ("clu2", "clu1")
    config = parse_cluster_config(AGENT)
    assert config.groups["failover-jcag"].servers == config.servers and config.servers


def test_an_unreadable_file_is_present_but_invalid() -> None:
    with pytest.raises(ClpConfInvalid, match="not well-formed"):
        parse_cluster_config("<root>")
    with pytest.raises(ClpConfInvalid, match="expected <root>"):
        parse_cluster_config("<other/>")
    conf = clp_conf("<root><group")
    assert conf.present and conf.config is None and conf.invalid and "not well-formed" in conf.invalid
    assert clp_conf(CLASSIC).config == parse_cluster_config(CLASSIC) and clp_conf(CLASSIC).invalid is None
