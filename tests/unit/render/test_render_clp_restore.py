"""restore_site: the site's exec scripts and monitor back as the backup had them, the rest as it is now."""

from __future__ import annotations

import pytest
from clp_settings import site_settings
from render_golden import assert_golden
from test_render_clp_conf import (
    AGENT,
    AGENT_SPEC,
    CLASSIC,
    CLASSIC_SPEC,
    MANAGER,
    MANAGER_SPEC,
    UNMONITORED_SPEC,
    element_text,
    sample_spec,
    well_formed,
)

from jobcenter_operator.api.site import JobCenterSiteSpec
from jobcenter_operator.render import ClpConfError, configure_site, restore_site

MANAGER_UNMONITORED_SPEC = sample_spec("standard-manager", process_monitoring=False)


def without_pid_monitor(text: str) -> str:
    """The standard-manager fixture as a fresh cluster has it: no PID monitor yet."""
    pidw = element_text(text, "pidw", "pidw-jcmg")
    comment = text[text.index("    <!-- made by hand") : text.index(pidw)]
    return (
        text.replace(comment + pidw + "\n", "")
        .replace('    <types name="pidw"/>\n', "")
        .replace("<objectnumber>14</objectnumber>", "<objectnumber>13</objectnumber>")
    )


FRESH_MANAGER = without_pid_monitor(MANAGER)

ROUND_TRIPS = [
    ("classic-monitored", CLASSIC, CLASSIC_SPEC),
    ("classic-unmonitored", CLASSIC, UNMONITORED_SPEC),
    ("classic-crlf", CLASSIC.replace("\n", "\r\n"), CLASSIC_SPEC),
    ("standard-manager-fresh", FRESH_MANAGER, MANAGER_SPEC),
    ("standard-manager-hand-made-pidw", MANAGER, MANAGER_SPEC),
    ("standard-manager-unmonitored-puts-pidw-back", MANAGER, MANAGER_UNMONITORED_SPEC),
    ("standard-agent", AGENT, AGENT_SPEC),
    (
        "standard-agent-empty-monitor-section",
        AGENT.replace("    </resource>\n", "    </resource>\n    <monitor/>\n"),
        AGENT_SPEC,
    ),
]


@pytest.mark.parametrize(("backup", "spec"), [case[1:] for case in ROUND_TRIPS], ids=[case[0] for case in ROUND_TRIPS])
def test_restore_undoes_configure_byte_for_byte(backup: str, spec: JobCenterSiteSpec) -> None:
    configured = configure_site(backup, spec)
    assert configured != backup
    restored = restore_site(configured, backup, spec)
    assert restored == backup
    assert restore_site(restored, backup, spec) == restored  # idempotent


def test_fresh_backup_round_trip_keeps_the_flat_file_flat() -> None:
    flat = (
        '<?xml version="1.0" encoding="ASCII"?><root><group name="failover-jc"><resource name="exec@exec-jc"/>'
        '</group><resource><types name="exec"/><exec name="exec-jc"/></resource></root>'
    )
    assert restore_site(configure_site(flat, CLASSIC_SPEC), flat, CLASSIC_SPEC) == flat


def test_restoring_an_untouched_file_changes_nothing() -> None:
    for backup, spec in [(CLASSIC, CLASSIC_SPEC), (MANAGER, MANAGER_SPEC), (AGENT, AGENT_SPEC)]:
        assert restore_site(backup, backup, spec) == backup


# --- changes made since the backup are kept --------------------------------------------------

PIDW_APP = """<pidw name="pidw-app">
			<polling><interval>30</interval><timing>1</timing></polling>
			<target>exec-app</target>
			<relation><type>rsc</type><name>exec-app</name></relation>
		</pidw>"""


def later_changes(configured: str) -> str:
    """``configured`` plus what someone did afterwards: a PID monitor for the other group's exec
    (after ours), a new comment on the other group and a different log file for our exec."""
    mark = "\t\t</pidw>\n\t</monitor>"
    assert configured.count(mark) == 1
    return (
        configured.replace(mark, f"\t\t</pidw>\n\t\t{PIDW_APP}\n\t</monitor>")
        .replace("<objectnumber>17</objectnumber>", "<objectnumber>18</objectnumber>")
        .replace("unrelated application, must stay untouched", "changed in the WebUI later")
        .replace("log/exec-jc.log", "log/exec-jc-new.log")
    )


def test_another_groups_monitor_added_since_the_backup_is_kept() -> None:
    current = later_changes(configure_site(CLASSIC, CLASSIC_SPEC))
    restored = restore_site(current, CLASSIC, CLASSIC_SPEC)
    assert_golden("clp-classic-restored.xml", restored)
    well_formed(restored)
    assert restore_site(restored, CLASSIC, CLASSIC_SPEC) == restored
    # Exactly the backup plus the later changes: the pidw declaration stays for pidw-app, which
    # takes pidw-jc's place, and the object count loses one monitor (ours).
    expected = (
        CLASSIC.replace('\t\t<types name="genw"/>\n', '\t\t<types name="genw"/>\n\t\t<types name="pidw"/>\n')
        .replace("\t\t</genw>\n", f"\t\t</genw>\n\t\t{PIDW_APP}\n")
        .replace("<objectnumber>16</objectnumber>", "<objectnumber>17</objectnumber>")
        .replace("unrelated application, must stay untouched", "changed in the WebUI later")
        .replace("log/exec-jc.log", "log/exec-jc-new.log")
    )
    assert restored == expected
    assert element_text(restored, "exec", "exec-jc") == element_text(CLASSIC, "exec", "exec-jc").replace(
        "exec-jc.log", "exec-jc-new.log"
    )


def test_unmonitored_site_leaves_other_pid_monitors_alone() -> None:
    current = later_changes(configure_site(CLASSIC, CLASSIC_SPEC))
    unmonitored = configure_site(current, UNMONITORED_SPEC)
    assert restore_site(unmonitored, CLASSIC, UNMONITORED_SPEC) == restore_site(current, CLASSIC, CLASSIC_SPEC)


def test_backup_monitor_replaces_a_changed_one_exactly() -> None:
    current = configure_site(MANAGER, sample_spec("standard-manager", monitor_interval_seconds=60))
    current = current.replace("<timeout>60</timeout>", "<timeout>90</timeout>")  # edited by hand since
    restored = restore_site(current, MANAGER, MANAGER_SPEC)
    assert restored == MANAGER
    assert element_text(restored, "pidw", "pidw-jcmg") == element_text(MANAGER, "pidw", "pidw-jcmg")


def test_backup_values_come_back_exactly() -> None:
    backup = CLASSIC.replace(
        "<act><path>start.sh</path></act>", "<act><path>/opt/jc/start.sh</path><sync> 1 </sync></act>"
    ).replace("<deact><path>stop.sh</path></deact>", "<deact><sync>0</sync><path>/opt/jc/stop.sh</path></deact>")
    configured = configure_site(backup, CLASSIC_SPEC)
    assert "/opt/jc" not in configured
    assert restore_site(configured, backup, CLASSIC_SPEC) == backup


def test_leaf_removed_since_the_backup_is_recreated() -> None:
    configured = configure_site(MANAGER, MANAGER_SPEC)
    current = configured.replace("          <sync>1</sync>\n        </deact>", "        </deact>")
    assert current != configured
    restored = restore_site(current, MANAGER, MANAGER_SPEC)
    settings = site_settings(restored, MANAGER_SPEC)
    assert (settings.exec_act_sync, settings.exec_deact_sync) == (1, 1)
    assert restore_site(restored, MANAGER, MANAGER_SPEC) == restored


def test_other_exec_children_added_since_are_kept() -> None:
    configured = configure_site(AGENT, AGENT_SPEC)
    current = configured.replace(
        "                    <sync>1</sync>\n                </deact>",
        "                    <sync>1</sync>\n                    <timeout>300</timeout>\n                </deact>",
    )
    assert current != configured
    restored = restore_site(current, AGENT, AGENT_SPEC)
    exec_jcag = element_text(restored, "exec", "exec-jcag")
    assert "<timeout>300</timeout>" in exec_jcag  # not ours: deact and parameters stay for it
    assert "<path>" not in exec_jcag and "<act>" not in exec_jcag and "<sync>" not in exec_jcag
    assert "<genw" not in restored and "<monitor>" not in restored
    well_formed(restored)


def test_exec_created_after_the_backup_is_left_alone() -> None:
    backup = CLASSIC.replace('<exec name="exec-jc">', '<exec name="exec-old">')
    configured = configure_site(CLASSIC, CLASSIC_SPEC)
    restored = restore_site(configured, backup, CLASSIC_SPEC)
    assert element_text(restored, "exec", "exec-jc") == element_text(configured, "exec", "exec-jc")
    assert "<pidw" not in restored  # the monitor is still the backup's (none)


def test_a_foreign_monitor_with_the_name_is_not_touched() -> None:
    current = CLASSIC.replace('<genw name="genw-app">', '<genw name="pidw-jc">')
    assert restore_site(current, CLASSIC, CLASSIC_SPEC) == current


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "backup", "message"),
    [
        ("<root><group", CLASSIC, "not well-formed"),
        (CLASSIC, "", "not well-formed"),
        (CLASSIC, "<config/>", "root element is <config>"),
        (CLASSIC.replace('<exec name="exec-jc">', '<exec name="exec-x">'), CLASSIC, "'exec-jc' does not exist"),
    ],
    ids=["current-invalid", "backup-invalid", "backup-wrong-root", "no-exec-in-current"],
)
def test_restore_errors(current: str, backup: str, message: str) -> None:
    with pytest.raises(ClpConfError, match=message):
        restore_site(current, backup, CLASSIC_SPEC)
