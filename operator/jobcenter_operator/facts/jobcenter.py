"""JobCenter on one node: installed and version, daemon.conf, the cluster site at the database path.

Pure module: sections (sh) and parsers.

GUESS (node-protocol 2.1, 2.2, no source): the install records ``VERSION=`` and ``MODE=`` in
``/usr/lib/nqs/VERSION``; ``cjcmksite`` records the site's virtual host and machine ID as
``site_name=`` and ``machine_id=`` in ``<databasePath>/nqs/daemon.conf``. Neither is relied on:
without ``MODE=`` the mode comes from the daemon binaries installed (node-protocol 2.5 paths:
``nqsdaemon`` only in classic mode, ``jcexecutor_manager`` only in standard mode), and a site
without the identity keys is "identity unknown" (preflight then looks at sourced evidence: the
virtual host a running cjcpw serves for the database path). These key tables are the only places
to correct when a real node says otherwise.
"""

from __future__ import annotations

from ..frozen import Frozen
from ..paths import CJCMKSITE, CJCPW, JOBCENTER_VERSION, LOCAL_DAEMON_CONF
from .sections import Section, SectionOutput

SITE_KEY_VHOST = "site_name"
SITE_KEY_MACHINE_ID = "machine_id"

# The daemon binaries that tell the modes apart (node-protocol 2.5), listed as "@installed NAME".
MODE_BINARIES = {"nqsdaemon": "/usr/lib/nqs/nqsdaemon",
                 "jcexecutor_manager": "/usr/lib/nqs/jcexecutor/jcexecutor_manager"}
_INSTALLED_MARK = "@installed"

JC_INSTALL = Section(
    "jc_install",
    f"""\
    [ -x {CJCPW} ] && [ -x {CJCMKSITE} ] || return 3
    cat {JOBCENTER_VERSION} 2>/dev/null
    echo
"""
    + "".join(f"    [ -e {path} ] && echo '{_INSTALLED_MARK} {name}'\n" for name, path in MODE_BINARIES.items())
    + "    return 0",
)
DAEMON_CONF = Section("daemon_conf", f"    cat {LOCAL_DAEMON_CONF}")
# 3: no database path asked for; 4: no <dbpath>/nqs (no site, or the disk is not here).
SITE_CONF = Section(
    "site_conf",
    """\
    [ -n "$dbpath" ] || return 3
    [ -d "$dbpath/nqs" ] || return 4
    cat "$dbpath/nqs/daemon.conf" 2>/dev/null
    return 0""",
)


def parse_key_values(text: str) -> dict[str, str]:
    """``name=value`` lines; ``#`` comments and blank lines skipped; later lines win."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip()
    return out


class JobCenterInstall(Frozen):
    installed: bool
    version: str | None = None
    # CLASSIC | STANDARD | STANDARD-AGENT: as the install file says, else as the installed daemons
    # show (None: no evidence either way, or both modes' daemons present)
    mode: str | None = None
    mode_from: str | None = None  # "VERSION" or "daemons": where ``mode`` comes from


def _mode_from_daemons(installed: set[str]) -> str | None:
    if installed == {"nqsdaemon"}:
        return "CLASSIC"
    if installed == {"jcexecutor_manager"}:
        return "STANDARD"
    return None


def parse_install(out: SectionOutput) -> JobCenterInstall:
    if out.exit_status != 0:
        return JobCenterInstall(installed=False)
    values = parse_key_values(out.stdout)
    daemons = {line.split()[1] for line in out.stdout.splitlines()
               if line.startswith(_INSTALLED_MARK + " ") and len(line.split()) == 2}
    if values.get("MODE"):
        return JobCenterInstall(installed=True, version=values.get("VERSION"), mode=values["MODE"],
                                mode_from="VERSION")
    mode = _mode_from_daemons(daemons)
    return JobCenterInstall(installed=True, version=values.get("VERSION"), mode=mode,
                            mode_from="daemons" if mode else None)


class DaemonConf(Frozen):
    present: bool
    text: str = ""
    local_daemon: str | None = None  # the effective value, upper-case; None when no active line


def parse_daemon_conf(out: SectionOutput) -> DaemonConf:
    if out.exit_status != 0:
        return DaemonConf(present=False)
    value = parse_key_values(out.stdout).get("local_daemon")
    return DaemonConf(present=True, text=out.stdout, local_daemon=value.upper() if value else None)


class ClusterSite(Frozen):
    """What is at ``<databasePath>/nqs`` on this node (only visible where the disk is mounted).
    ``virtual_host``/``machine_id`` None: the site does not say (identity unknown)."""

    present: bool
    virtual_host: str | None = None
    machine_id: int | None = None

    @property
    def identity_known(self) -> bool:
        return self.virtual_host is not None or self.machine_id is not None


def parse_site_conf(out: SectionOutput) -> ClusterSite:
    if out.exit_status != 0:
        return ClusterSite(present=False)
    values = parse_key_values(out.stdout)
    machine_id = values.get(SITE_KEY_MACHINE_ID, "")
    return ClusterSite(
        present=True,
        virtual_host=values.get(SITE_KEY_VHOST),
        machine_id=int(machine_id) if machine_id.isdigit() else None,
    )
