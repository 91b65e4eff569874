"""Switchable alternatives for every guessed node-side format or rule (``up --variant NAME``).

Each AXIS is one GUESS of node-protocol.md (or one behaviour the bed makes stricter later): its
first entry is what the bed does by default, the others are alternatives the operator must survive.
A bed records only the names it was asked for; ``Bed.variant(axis)`` answers the one in effect.
``--variant all`` switches every axis to its first alternative.

Defaults are what the bed believes most likely (the product's strict apply rules included); the
operator survives every alternative (e2e on ``JCOP_TESTBED_VARIANTS=all``, ``make test-variants``).
A default is flipped by reordering an axis.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Axis:
    name: str
    choices: tuple[str, ...]  # choices[0] is the default
    what: str  # which guess it is (README table)


AXES: tuple[Axis, ...] = (
    Axis("site-identity", ("site-identity-keys", "no-site-identity-keys"),
         "cjcmksite writes site_name=/machine_id=/jc_mode= into <dbpath>/nqs/daemon.conf (no source)"),
    Axis("version-file", ("version-file", "no-version-file"),
         "/usr/lib/nqs/VERSION with VERSION=/MODE= (no source); without it the mode shows only in "
         "the installed daemons and units"),
    Axis("jcagctrl-layout", ("jcagctrl-table", "jcagctrl-blocks"),
         "`jcagctrl list` output layout (no source)"),
    Axis("jc-errors", ("jc-errors-default", "jc-errors-alt"),
         "cjcmksite/cjcpw/nqsstart error texts and exit codes (no source)"),
    Axis("cjcpw-stop-idle", ("cjcpw-stop-idle-ok", "cjcpw-stop-idle-fails"),
         "`cjcpw -stop` of a site that is not running: exit 0 or 1 (no source)"),
    Axis("nqsstart", ("nqsstart-lenient", "nqsstart-strict"),
         "nqsstart when the local site already runs / local_daemon=OFF (no source)"),
    Axis("cjcls-layout", ("cjcls-lines", "cjcls-table"), "`cjcls [-a]` output (path and format: no source)"),
    Axis("agent-disk", ("agent-needs-disk", "agent-starts-anywhere"),
         "the AG unit refuses to start where its data disk is not mounted (no source)"),
    Axis("site-ppid", ("ppid-flat", "ppid-tree"),
         "cluster-site daemons are direct children of cjcpw (flat) or a tree below it (no source)"),
    Axis("isolation", ("isolation-self-fence", "isolation-shutdown"),
         "a server whose network is cut fences itself and stays up, or shuts down (no source)"),
    Axis("clp-server", ("clp-server-policy", "clp-server-priority"),
         "CLP_SERVER=HOME on the group's first policy server, or on the cluster's priority-0 server"),
    Axis("clp-disk-failure", ("clp-disk-failure-word", "clp-disk-error-word"),
         "the CLP_DISK value when the disk did not attach: FAILURE or ERROR (only SUCCESS is sourced)"),
    Axis("clp-messages", ("clp-messages-default", "clp-messages-alt"),
         "clpcfctrl/clpgrp/clpcl message texts and clpcfctrl failure codes (no source)"),
    Axis("clpstat-guessed", ("clpstat-guessed-default", "clpstat-guessed-alt"),
         "`clpstat -m` and `clpstat -n` layouts (no source)"),
    Axis("apply", ("strict-apply", "apply-lenient"),
         "clpcfctrl --push refuses a monitor change without suspend and script changes of online "
         "groups (node-protocol 5.1, 10; strict is the product's rule and the default since the "
         "operator applies NEC's sequence; lenient: suspending alone is enough)"),
    Axis("clp-version", ("clp-x42-or-later", "clp-x41"),
         "CLUSTERPRO X4.2+ (clusterpro_ib and clusterpro_api installed, `clpcl -r --ib --api`) or X4.1 "
         "(neither); which one is sourced, what X4.1's clpcl says to --ib is not"),
    Axis("webui-source", ("webui-from-webmanager", "webui-from-file"),
         "a Cluster WebUI save starts from the configuration WebManager loaded at its last (re)start, "
         "or from the installed clp.conf (no source either way)"),
    Axis("clp-charset", ("clp-conf-ascii", "clp-conf-euc-jp"),
         "clp.conf encoding: ASCII (English product) or EUC-JP with Japanese text (Japanese product)"),
)

_BY_NAME = {c: a for a in AXES for c in a.choices}


def axis_of(name: str) -> Axis:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; known: all, {', '.join(sorted(_BY_NAME))}") from None


def normalize(names: list[str] | tuple[str, ...] | None) -> list[str]:
    """Validate, expand ``all`` and keep one choice per axis (the last one asked for wins)."""
    chosen: dict[str, str] = {}
    for n in names or ():
        if n == "all":
            for a in AXES:
                chosen[a.name] = a.choices[1]
            continue
        chosen[axis_of(n).name] = n
    return [c for a in AXES if (c := chosen.get(a.name)) is not None]


def effective(names: list[str], axis: str) -> str:
    """The choice in effect on ``axis`` for a bed asked for ``names``."""
    for a in AXES:
        if a.name == axis:
            return next((n for n in names if n in a.choices), a.choices[0])
    raise KeyError(axis)


def catalogue() -> list[dict[str, object]]:
    return [{"axis": a.name, "default": a.choices[0], "alternatives": list(a.choices[1:]), "guess": a.what}
            for a in AXES]
