"""``spec.disruption``: when the steps that interrupt the site may run, and whether a person approves them.

Pure module. A ClusterproCluster carries the default, a JobCenterSite may override it field by field
(``effective_disruption``). Without windows, disruptive steps may run at any time; with windows, only
inside one of them. ``approval: Manual`` makes the operator wait until a person approves the exact
disruptive part of the plan (its hash, shown in the site's status).

Every rule the CRD enforces with a pattern or CEL is mirrored here so the CLI and the reconciler refuse
the same manifests; one rule goes further than the CRD can: the time zone must be one this operator's
tz database knows (the API server has no tz database to ask).
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from .common import SpecModel

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # datetime.weekday() order

START_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# Hours and minutes, Go duration style: 2h, 45m, 1h30m; at most 168h (a week), never zero.
_HOURS = r"(16[0-7]|1[0-5][0-9]|[1-9][0-9]|[0-9])h"
_MINUTES = r"([1-5][0-9]|[0-9])m"
DURATION_PATTERN = rf"^(168h|{_HOURS}{_MINUTES}|{_HOURS}|{_MINUTES})$"
_ZERO_DURATION = r"^(0h)?(0m)?$"
# An IANA zone name (Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+5, UTC).
TIME_ZONE_PATTERN = r"^[A-Za-z][-A-Za-z0-9_+]{0,31}(/[A-Za-z0-9][-A-Za-z0-9_+]{0,31}){0,2}$"


def duration_of(text: str) -> timedelta:
    """``2h``, ``45m``, ``1h30m`` as a timedelta (the text already matched DURATION_PATTERN)."""
    match = re.fullmatch(r"(?:([0-9]+)h)?(?:([0-9]+)m)?", text)
    if match is None:
        raise ValueError(f"duration {text!r}: use hours and minutes, e.g. 2h, 45m, 1h30m")
    return timedelta(hours=int(match.group(1) or 0), minutes=int(match.group(2) or 0))


def _positive(text: str) -> str:
    # Mirrors the CEL rule on duration.
    if duration_of(text) <= timedelta(0):
        raise ValueError("duration must be longer than zero")
    return text


def _known_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC") from None
    return name


def _unique_days(days: list[Weekday]) -> list[Weekday]:
    # Mirrors x-kubernetes-list-type: set.
    if len(set(days)) != len(days):
        raise ValueError("days must not repeat a day")
    return days


Duration = Annotated[
    str,
    Field(min_length=2, max_length=8, pattern=DURATION_PATTERN, json_schema_extra={
        "x-kubernetes-validations": [{"rule": f"!self.matches('{_ZERO_DURATION}')",
                                      "message": "duration must be longer than zero"}]}),
    AfterValidator(_positive),
]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, pattern=TIME_ZONE_PATTERN),
                     AfterValidator(_known_zone)]


class MaintenanceWindow(SpecModel):
    """A weekly window: on each of its days, from start (local time in timeZone) for duration."""

    days: Annotated[list[Weekday], AfterValidator(_unique_days)] = Field(
        min_length=1, max_length=7, json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Days the window starts on (Mon, Tue, Wed, Thu, Fri, Sat, Sun), in timeZone.",
    )
    start: str = Field(
        min_length=5, max_length=5, pattern=START_PATTERN,
        description="Local start time HH:MM (24h) in timeZone. A start that a DST change skips opens the "
        "window when the clock jumps past it; one that a DST change repeats opens it the first time.",
    )
    duration: Duration = Field(
        description="How long the window stays open, in elapsed time: hours and minutes such as 2h, 45m, "
        "1h30m (at most 168h). A window may cross midnight and the end of the week.",
    )
    time_zone: TimeZone = Field(
        default="UTC", description="IANA time zone of start, e.g. Europe/Berlin, America/New_York, UTC.",
    )


class Disruption(SpecModel):
    """When the steps that interrupt the site (group stop/start, cjcmksite, stopping the local site)
    may run. Steps that do not interrupt it (a daemon.conf edit on a standby) run at any time; the
    recovery of a group the operator stopped is never held back."""

    windows: list[MaintenanceWindow] | None = Field(
        default=None, min_length=1, max_length=16,
        description="Weekly maintenance windows; disruptive steps run only inside one. Unset: at any time "
        "(on a site: the ClusterproCluster's windows).",
    )
    approval: Literal["Automatic", "Manual"] | None = Field(
        default=None,
        description="Automatic: disruptive steps run (inside a window) without asking. Manual: they wait until "
        "the annotation jobcenter.clusterpro.io/approve-plan carries the plan hash shown in status.disruption. "
        "Unset: Automatic (on a site: the ClusterproCluster's setting).",
    )


def effective_disruption(site: Disruption | None, cluster: Disruption | None) -> Disruption:
    """The site's settings, each unset field taken from its ClusterproCluster's default."""
    site, cluster = site or Disruption(), cluster or Disruption()
    return Disruption(
        windows=site.windows if site.windows is not None else cluster.windows,
        approval=site.approval or cluster.approval or "Automatic",
    )
