"""Reading back what configure_site wrote: a site's exec and monitor settings in clp.conf.

Test-side only (the operator never reads these): an independent reader (xml.etree) and the
values the vendor guide asks for per mode, so a render test compares the file with the guide
rather than with the renderer's own tables.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

from jobcenter_operator.api.site import JobCenterSiteSpec


@dataclass(frozen=True)
class SiteSettings:
    """The settings of a site's exec resource and monitor as clp.conf states them (None: absent)."""

    exec_act_path: str | None
    exec_act_sync: int | None
    exec_deact_path: str | None
    exec_deact_sync: int | None
    monitor_type: str | None = None
    monitor_target: str | None = None
    monitor_interval: int | None = None
    monitor_timing: int | None = None
    recovery_type: str | None = None
    recovery_target: str | None = None
    max_restart: int | None = None
    max_failover: int | None = None
    final_action: int | None = None
    custom_path: str | None = None
    custom_sync: int | None = None
    custom_normal_value: int | None = None


def _text(element: ET.Element | None, path: str) -> str | None:
    found = element.find(path) if element is not None else None
    return found.text.strip() if found is not None and found.text is not None else None


def _int(element: ET.Element | None, path: str) -> int | None:
    text = _text(element, path)
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def site_settings(xml: str, spec: JobCenterSiteSpec) -> SiteSettings:
    """The site's settings as ``xml`` states them (the monitor is whatever holds the monitor name;
    without process monitoring only a leftover PID monitor of that name counts)."""
    root = ET.fromstring(xml)  # noqa: S314 (a test's own fixture)
    exec_resource = root.find(f"resource/exec[@name='{spec.exec_resource}']")
    assert exec_resource is not None, f"no exec resource {spec.exec_resource}"
    settings = SiteSettings(
        exec_act_path=_text(exec_resource, "parameters/act/path"),
        exec_act_sync=_int(exec_resource, "parameters/act/sync"),
        exec_deact_path=_text(exec_resource, "parameters/deact/path"),
        exec_deact_sync=_int(exec_resource, "parameters/deact/sync"),
    )
    monitor = next((m for m in root.findall("monitor/*") if m.tag != "types"
                    and m.get("name") == spec.monitor_resource), None)
    monitored = spec.mode == "StandardAgent" or spec.process_monitoring
    if monitor is None or (not monitored and monitor.tag != "pidw"):
        return settings
    return replace(
        settings,
        monitor_type=monitor.tag,
        monitor_target=_text(monitor, "target"),
        monitor_interval=_int(monitor, "polling/interval"),
        monitor_timing=_int(monitor, "polling/timing"),
        recovery_type=_text(monitor, "relation/type"),
        recovery_target=_text(monitor, "relation/name"),
        max_restart=_int(monitor, "emergency/threshold/restart"),
        max_failover=_int(monitor, "emergency/threshold/fo"),
        final_action=_int(monitor, "emergency/action"),
        custom_path=_text(monitor, "parameters/path"),
        custom_sync=_int(monitor, "parameters/sync"),
        custom_normal_value=_int(monitor, "parameters/normalval"),
    )


def desired_settings(spec: JobCenterSiteSpec) -> SiteSettings:
    """What the guide asks for (clp_conf's docstring): a PID monitor restarting the exec 3 times
    then failing over once; for the agent a synchronous genw failing the group over at once."""
    agent = spec.mode == "StandardAgent"
    monitored = agent or spec.process_monitoring
    settings = SiteSettings(exec_act_path="start.sh", exec_act_sync=0 if monitored and not agent else 1,
                            exec_deact_path="stop.sh", exec_deact_sync=1)
    if not monitored:
        return settings
    return replace(
        settings,
        monitor_type="genw" if agent else "pidw",
        monitor_target=spec.exec_resource,
        monitor_interval=spec.monitor_interval_seconds,
        monitor_timing=1,
        recovery_type="grp" if agent else "rsc",
        recovery_target=spec.failover_group if agent else spec.exec_resource,
        max_restart=0 if agent else 3,
        max_failover=1,
        final_action=1,
        custom_path="genw.sh" if agent else None,
        custom_sync=1 if agent else None,
        custom_normal_value=0 if agent else None,
    )
