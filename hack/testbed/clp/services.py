"""CLUSTERPRO's manager services on a bed node: which are installed (by version) and which
configuration each loaded.

Sourced (node-protocol 4.1, 8; S2, S6): every version has WebManager (``clusterpro_webmgr``,
``clpcl -r --web``) and alert sync (``clusterpro_alertsync``, ``--alert``); X4.2 added
InformationBase (``clusterpro_ib``, ``--ib``) and the API (``clusterpro_api``, ``--api``), each a
unit file in ``UNIT_DIR`` (what the operator's probe looks for). After a
push NEC restarts them on every server so that they load it. The version is the bed's
``clp-version`` axis (hack/testbed/variants.py); what a service serves until restarted, and what
X4.1's clpcl says to ``--ib``, are GUESSes in clp/guesses.py.
"""

from __future__ import annotations

# clpcl -r option -> the service's systemd unit
OPTIONS = {"--web": "clusterpro_webmgr", "--alert": "clusterpro_alertsync", "--ib": "clusterpro_ib",
           "--api": "clusterpro_api"}
X41_UNITS = ("clusterpro", "clusterpro_md", "clusterpro_evt", "clusterpro_trn", "clusterpro_alertsync",
             "clusterpro_webmgr")
X42_UNITS = (*X41_UNITS, "clusterpro_ib", "clusterpro_api")

# Where the product's package installs its units (the distribution's unit directory, systemd.unit(5)).
UNIT_DIR = "/usr/lib/systemd/system"


def unit_file(unit: str) -> str:
    """A unit file for ``unit`` (its content is never read: the bed's systemctl answers from ``units``)."""
    return f"[Unit]\nDescription=EXPRESSCLUSTER {unit} (test bed)\n\n[Service]\nExecStart=/bin/true\n\n" \
           "[Install]\nWantedBy=multi-user.target\n"


def units(version: str) -> tuple[str, ...]:
    """The CLUSTERPRO units installed with the bed's ``clp-version``."""
    return X41_UNITS if version == "clp-x41" else X42_UNITS


def unknown_options(version: str, options: list[str]) -> list[str]:
    """``clpcl -r`` options naming a service this version does not have."""
    installed = units(version)
    return [o for o in options if o in OPTIONS and OPTIONS[o] not in installed]


def systemctl(verb: str, unit: str, quiet: bool, version: str) -> int | None:
    """The bed's systemctl for an installed CLUSTERPRO unit (enabled and running, as the product's
    installer leaves them); None for a unit this version does not install (systemctl's own
    "does not exist" answer applies)."""
    if unit.removesuffix(".service") not in units(version):
        return None
    if verb in ("is-enabled", "is-active") and not quiet:
        print("enabled" if verb == "is-enabled" else "active")
    return 0
