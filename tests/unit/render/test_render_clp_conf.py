"""clp.conf: the site's exec and monitor settings, everything else byte for byte."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from clp_settings import SiteSettings, desired_settings, site_settings
from render_golden import assert_golden, fixture

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.render.clp_conf import (
    ClpConfError,
    configure_site,
)

ROOT = Path(__file__).resolve().parents[3]
CLASSIC = fixture("clp-classic.xml")
MANAGER = fixture("clp-standard-manager.xml")
AGENT = fixture("clp-standard-agent.xml")


def sample_spec(name: str, **changes: object) -> JobCenterSiteSpec:
    manifest = yaml.safe_load((ROOT / "manifests" / "samples" / f"jobcentersite-{name}.yaml").read_text())
    spec = JobCenterSiteSpec.model_validate(manifest["spec"])
    return spec.model_copy(update=changes) if changes else spec


CLASSIC_SPEC = sample_spec("classic")
UNMONITORED_SPEC = sample_spec("classic", process_monitoring=False)
MANAGER_SPEC = sample_spec("standard-manager")
AGENT_SPEC = sample_spec("standard-agent")


def element_text(xml: str, tag: str, name: str) -> str:
    """The exact source text of the first ``<tag name="name">...</tag>``."""
    start = xml.index(f'<{tag} name="{name}"')
    end = xml.index(f"</{tag}>", start) + len(f"</{tag}>")
    return xml[start:end]


def well_formed(xml: str) -> ET.Element:
    return ET.fromstring(xml)  # noqa: S314 - our own output


# --- golden before/after ---------------------------------------------------------------------

GOLDEN_CASES = [
    ("clp-classic-monitored.xml", CLASSIC, CLASSIC_SPEC),
    ("clp-classic-unmonitored.xml", CLASSIC, UNMONITORED_SPEC),
    ("clp-standard-manager.xml", MANAGER, MANAGER_SPEC),
    ("clp-standard-agent.xml", AGENT, AGENT_SPEC),
]


@pytest.mark.parametrize(("golden", "before", "spec"), GOLDEN_CASES, ids=[case[0] for case in GOLDEN_CASES])
def test_configure_site_matches_golden(golden: str, before: str, spec: JobCenterSiteSpec) -> None:
    after = configure_site(before, spec)
    assert_golden(golden, after)
    well_formed(after)


@pytest.mark.parametrize(("golden", "before", "spec"), GOLDEN_CASES, ids=[case[0] for case in GOLDEN_CASES])
def test_configure_site_is_idempotent_and_settles(golden: str, before: str, spec: JobCenterSiteSpec) -> None:
    after = configure_site(before, spec)
    assert configure_site(after, spec) == after
    assert after != before
    assert site_settings(after, spec) == desired_settings(spec)
    assert site_settings(before, spec) != desired_settings(spec)


def test_classic_leaves_everything_else_byte_identical() -> None:
    after = configure_site(CLASSIC, CLASSIC_SPEC)
    head = CLASSIC[: CLASSIC.index('<exec name="exec-jc">')]
    assert after.startswith(head)  # declaration, comment, servers, heartbeat, both groups, fip, disk
    for tag, name in [("group", "failover-app"), ("exec", "exec-app"), ("genw", "genw-app"), ("userw", "userw")]:
        assert element_text(after, tag, name) == element_text(CLASSIC, tag, name)
    exec_jc = element_text(after, "exec", "exec-jc")
    assert "<act><path>start.sh</path><sync>0</sync></act>" in exec_jc
    assert "<deact><path>stop.sh</path><sync>1</sync></deact>" in exec_jc
    assert "<timeout><stop>1800</stop></timeout>" in exec_jc  # other parameters kept
    assert '<depend name="disk-jc"/>\n\t\t\t<depend name="fip-jc"/>' in exec_jc


def test_classic_pid_monitor_settings() -> None:
    after = configure_site(CLASSIC, CLASSIC_SPEC)
    assert site_settings(after, CLASSIC_SPEC) == SiteSettings(
        exec_act_path="start.sh",
        exec_act_sync=0,
        exec_deact_path="stop.sh",
        exec_deact_sync=1,
        monitor_type="pidw",
        monitor_target="exec-jc",
        monitor_interval=10,
        monitor_timing=1,
        recovery_type="rsc",
        recovery_target="exec-jc",
        max_restart=3,
        max_failover=1,
        final_action=1,
    )
    assert '\t\t<types name="genw"/>\n\t\t<types name="pidw"/>\n' in after
    assert "<objectnumber>17</objectnumber>" in after  # one more monitor


def test_monitor_interval_follows_the_spec() -> None:
    spec = sample_spec("classic", monitor_interval_seconds=30)
    after = configure_site(configure_site(CLASSIC, CLASSIC_SPEC), spec)
    assert site_settings(after, spec).monitor_interval == 30
    assert after == configure_site(CLASSIC, CLASSIC_SPEC).replace("<interval>10</interval>", "<interval>30</interval>")


def test_standard_manager_corrects_an_existing_pid_monitor_in_place() -> None:
    after = configure_site(MANAGER, MANAGER_SPEC)
    pidw = element_text(after, "pidw", "pidw-jcmg")
    assert "<comment>JobCenter MG processes</comment>" in pidw  # kept
    assert "<timeout>60</timeout>" in pidw  # kept
    assert "<interval>10</interval>" in pidw
    assert "<type>rsc</type>" in pidw and "<name>exec-jcmg</name>" in pidw
    assert "<restart>3</restart>" in pidw
    assert "<!-- made by hand in the WebUI" in after
    assert after.count('<types name="pidw"/>') == 1
    assert "<objectnumber>14</objectnumber>" in after  # no monitor added
    assert "<act>\n          <path>start.sh</path>\n          <sync>0</sync>\n        </act>" in after


def test_standard_agent_adds_a_custom_monitor_section() -> None:
    after = configure_site(AGENT, AGENT_SPEC)
    assert site_settings(after, AGENT_SPEC) == SiteSettings(
        exec_act_path="start.sh",
        exec_act_sync=1,
        exec_deact_path="stop.sh",
        exec_deact_sync=1,
        monitor_type="genw",
        monitor_target="exec-jcag",
        monitor_interval=10,
        monitor_timing=1,
        recovery_type="grp",
        recovery_target="failover-jcag",
        max_restart=0,
        max_failover=1,
        final_action=1,
        custom_path="genw.sh",
        custom_sync=1,
        custom_normal_value=0,
    )
    # The new section follows <resource>, indented with the file's four spaces.
    assert '    </resource>\n    <monitor>\n        <types name="genw"/>\n        <genw name="genw-jcag">\n' in after
    assert "<objectnumber>11</objectnumber>" in after


# --- process monitoring switched off and on ----------------------------------------------------


def test_unmonitored_has_no_pid_monitor_and_sync_start() -> None:
    after = configure_site(CLASSIC, UNMONITORED_SPEC)
    settings = site_settings(after, UNMONITORED_SPEC)
    assert (settings.exec_act_sync, settings.exec_deact_sync, settings.monitor_type) == (1, 1, None)
    assert "pidw" not in after
    assert "<objectnumber>16</objectnumber>" in after


def test_switching_monitoring_off_and_on_round_trips_bytes() -> None:
    monitored = configure_site(CLASSIC, CLASSIC_SPEC)
    unmonitored = configure_site(monitored, UNMONITORED_SPEC)
    assert unmonitored == configure_site(CLASSIC, UNMONITORED_SPEC)
    assert configure_site(unmonitored, CLASSIC_SPEC) == monitored
    assert configure_site(unmonitored, UNMONITORED_SPEC) == unmonitored


def test_switching_off_keeps_pidw_types_while_another_pid_monitor_remains() -> None:
    other = element_text(MANAGER, "pidw", "pidw-jcmg").replace("pidw-jcmg", "pidw-other")
    text = MANAGER.replace("  </monitor>", f"    {other}\n  </monitor>")
    spec = sample_spec("standard-manager", process_monitoring=False)
    after = configure_site(text, spec)
    assert '<pidw name="pidw-jcmg">' not in after
    assert '<pidw name="pidw-other">' in after
    assert '<types name="pidw"/>' in after
    # The comment before the removed monitor is not ours to remove.
    assert "<!-- made by hand in the WebUI" in after


def test_switching_off_removes_pidw_types_with_the_last_pid_monitor() -> None:
    after = configure_site(MANAGER, sample_spec("standard-manager", process_monitoring=False))
    assert "<pidw" not in after and '<types name="pidw"/>' not in after
    assert '    <types name="userw"/>\n    <userw name="userw">' in after
    assert "<objectnumber>13</objectnumber>" in after
    well_formed(after)


# --- layouts -----------------------------------------------------------------------------------


def test_single_line_file_stays_single_line() -> None:
    flat = (
        '<?xml version="1.0" encoding="ASCII"?><root><group name="failover-jc"><resource name="exec@exec-jc"/>'
        '</group><resource><types name="exec"/><exec name="exec-jc"/></resource></root>'
    )
    after = configure_site(flat, CLASSIC_SPEC)
    assert "\n" not in after
    assert (
        '<exec name="exec-jc"><parameters><act><path>start.sh</path><sync>0</sync></act>'
        "<deact><path>stop.sh</path><sync>1</sync></deact></parameters></exec>" in after
    )
    assert after.endswith(
        '</resource><monitor><types name="pidw"/><pidw name="pidw-jc"><polling><interval>10</interval>'
        "<timing>1</timing></polling><target>exec-jc</target><relation><type>rsc</type><name>exec-jc</name>"
        "</relation><emergency><threshold><restart>3</restart><fo>1</fo></threshold><action>1</action>"
        "</emergency></pidw></monitor></root>"
    )
    assert configure_site(after, CLASSIC_SPEC) == after


def test_crlf_file_gets_crlf_lines() -> None:
    crlf = CLASSIC.replace("\n", "\r\n")
    after = configure_site(crlf, CLASSIC_SPEC)
    assert after == configure_site(CLASSIC, CLASSIC_SPEC).replace("\n", "\r\n")
    assert configure_site(configure_site(after, UNMONITORED_SPEC), CLASSIC_SPEC) == after


def test_non_ascii_comments_and_declared_encoding_are_kept() -> None:
    text = CLASSIC.replace('encoding="ASCII"', 'encoding="EUC-JP"').replace(
        "<comment>unrelated application, must stay untouched</comment>", "<comment>業務アプリ</comment>"
    )
    after = configure_site(text, CLASSIC_SPEC)
    assert after.startswith('<?xml version="1.0" encoding="EUC-JP"?>')
    assert "<comment>業務アプリ</comment>" in after


def test_attribute_quoting_and_order_are_kept() -> None:
    text = CLASSIC.replace('<device id="0">', "<device id='0' extra = \"x &amp; y\">", 1)
    after = configure_site(text, CLASSIC_SPEC)
    assert "<device id='0' extra = \"x &amp; y\">" in after


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec", "message"),
    [
        ("<root><group", CLASSIC_SPEC, "not well-formed"),
        ("", CLASSIC_SPEC, "not well-formed"),
        ("<config/>", CLASSIC_SPEC, "root element is <config>"),
        ('<!DOCTYPE root [<!ENTITY a "b">]><root/>', CLASSIC_SPEC, "DOCTYPE"),
        (CLASSIC.replace('"failover-jc"', '"failover-x"'), CLASSIC_SPEC, "group 'failover-jc' does not exist"),
        (
            CLASSIC.replace('<exec name="exec-jc">', '<exec name="exec-x">'),
            CLASSIC_SPEC,
            "exec resource 'exec-jc' does not exist",
        ),
        (
            CLASSIC.replace('<resource name="exec@exec-jc"/>', ""),
            CLASSIC_SPEC,
            "not a member of group 'failover-jc'",
        ),
        (
            CLASSIC.replace('<genw name="genw-app">', '<genw name="pidw-jc">'),
            CLASSIC_SPEC,
            "monitor 'pidw-jc' already exists as a genw monitor, expected pidw",
        ),
        (
            configure_site(AGENT, AGENT_SPEC).replace("<genw ", "<pidw ").replace("</genw>", "</pidw>"),
            AGENT_SPEC,
            "monitor 'genw-jcag' already exists as a pidw monitor, expected genw",
        ),
    ],
    ids=[
        "truncated",
        "empty",
        "wrong-root",
        "doctype",
        "no-group",
        "no-exec",
        "exec-not-in-group",
        "name-taken-by-genw",
        "name-taken-by-pidw",
    ],
)
def test_configure_site_errors(text: str, spec: JobCenterSiteSpec, message: str) -> None:
    with pytest.raises(ClpConfError, match=message):
        configure_site(text, spec)


def test_errors_are_value_errors_and_a_file_without_the_site_is_refused() -> None:
    assert issubclass(ClpConfError, ValueError)
    with pytest.raises(ClpConfError, match="does not exist"):
        configure_site(AGENT, CLASSIC_SPEC)


def test_unmonitored_site_ignores_a_foreign_monitor_with_its_name() -> None:
    # Without process monitoring the operator claims no monitor, so another type holding the
    # name is left alone rather than refused.
    text = CLASSIC.replace('<genw name="genw-app">', '<genw name="pidw-jc">')
    after = configure_site(text, UNMONITORED_SPEC)
    assert '<genw name="pidw-jc">' in after
    assert site_settings(after, UNMONITORED_SPEC) == desired_settings(UNMONITORED_SPEC)
    assert configure_site(after, UNMONITORED_SPEC) == after


def test_empty_monitor_section_gets_the_declaration_and_the_monitor() -> None:
    text = AGENT.replace("    </resource>\n", "    </resource>\n    <monitor/>\n")
    after = configure_site(text, AGENT_SPEC)
    assert '    <monitor>\n        <types name="genw"/>\n        <genw name="genw-jcag">\n' in after
    assert site_settings(after, AGENT_SPEC) == desired_settings(AGENT_SPEC)
    assert configure_site(after, AGENT_SPEC) == after


def test_unexpected_shape_is_a_clp_conf_error() -> None:
    text = CLASSIC.replace("<act><path>start.sh</path></act>", "<act>start.sh</act>")
    with pytest.raises(ClpConfError, match="holds text"):
        configure_site(text, CLASSIC_SPEC)
