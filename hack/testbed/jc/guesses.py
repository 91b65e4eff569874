"""Every JobCenter behaviour the simulator models that rests on a GUESS in node-protocol.md.

Keep them here (one table per tool) so a correction is a one-line change.
"""

from __future__ import annotations

# --- installation facts ---------------------------------------------------------------------
# GUESS: the installed version and operating mode are readable from a small key=value file.
VERSION_FILE = "/usr/lib/nqs/VERSION"
VERSION = "R16.2"
INSTALL_MODE = {"classic": "CLASSIC", "standard-manager": "STANDARD", "standard-agent": "STANDARD-AGENT",
                # MG and AG on the same node: GUESS the install file names the manager's mode
                "standard": "STANDARD"}

# --- process sets (node-protocol 2.5) --------------------------------------------------------
# (ps -ef CMD title, short name for comm / pgrep -x). Titles are VERIFIED S1, the PPID model is GUESS.
NQSDAEMON = ("NQS nqsdaemon", "nqsdaemon")
JNWCASTER = ("/usr/lib/nqs/jnwcaster", "jnwcaster")
_COMMON = [
    ("/usr/lib/nqs/gui/bin/jnwengine", "jnwengine"),
    ("/usr/lib/nqs/gui/bin/sclaunchd", "sclaunchd"),
    ("/usr/lib/nqs/combase/comagent", "comagent"),
    ("/usr/lib/nqs/gui/bin/jcdbs", "jcdbs"),
    ("/usr/lib/nqs/gui/bin/jnwlauncher", "jnwlauncher"),
]
JCWEBSERVER = ("/usr/lib/nqs/gui/bin/jcwebserver", "jcwebserver")
_STANDARD_ONLY = [
    ("/usr/lib/nqs/jcexecutor/jcexecutor_manager", "jcexecutor_manager"),
    ("/usr/lib/nqs/jcexecutor/jcexecutor_webserver", "jcexecutor_webserver"),
    ("/usr/lib/nqs/jcexecutor/nats_start", "nats_start"),
]


def site_processes(install_mode: str, jcwebserver_on: bool) -> list[tuple[str, str]]:
    """Processes of ONE site besides cjcpw; the jnwcaster entry spawns its twin (cluster sites)."""
    if install_mode == "STANDARD":
        # standard mode: no nqsdaemon, jcwebserver always (S1 lists it among the 11)
        return [*_STANDARD_ONLY, JNWCASTER, *_COMMON, JCWEBSERVER]
    procs = [NQSDAEMON, JNWCASTER, *_COMMON]
    if jcwebserver_on:
        procs.append(JCWEBSERVER)
    return procs


# GUESS: daemon.conf switch for jcwebserver in classic mode (S1 only says "a parameter").
JCWEBSERVER_PARAM = "jcwebserver"

# --- daemon.conf -------------------------------------------------------------------------------
LOCAL_DAEMON_CONF = "/usr/lib/nqs/rc/daemon.conf"
# Vendor default: the local_daemon parameter appears only as a commented sample (VERIFIED S1 2.3).
DEFAULT_DAEMON_CONF = """\
#
# JobCenter daemon configuration file
#
# Lines starting with '#' are comments. One parameter per line: name=value
#
# local_daemon
# --------------------
#   Start mode of the local daemon when cluster sites run on this machine.
#     SITE : the local daemon runs in a mode that can coexist with cluster sites
#     OFF  : the local daemon is not started
# sample
# local_daemon=SITE
#
"""

# --- cjcmksite site marker (GUESS: file and keys) -------------------------------------------------
# The cluster site records what it was created for in <dbpath>/nqs/daemon.conf.
SITE_CONF = "nqs/daemon.conf"
SITE_KEY_VHOST = "site_name"
SITE_KEY_MACHINE_ID = "machine_id"
SITE_KEY_MODE = "jc_mode"
SITE_SUBDIRS = ("spool", "private", "log", "gui")

# --- messages and exit codes (node-protocol 9, all GUESS) -----------------------------------------
MKSITE_USAGE = "Usage: cjcmksite <virtual-host-name> <machine-id> <database-path>"
CJCPW_USAGE = "Usage: cjcpw [-c] <virtual-host-name> <database-path>\n       cjcpw -stop <virtual-host-name>"
EXIT_ERROR = 1

# --- standard-mode agent ----------------------------------------------------------------------------
AG_REGISTRY = "/etc/opt/nec/jcagent/instances.json"
AG_PROCESS = ("/usr/lib/nqs/jcexecutor/jcexecutor_agent", "jcexecutor_agent")
AG_UNIT_DIR = "/etc/systemd/system"
AG_WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
AG_LIST_HEADER = ("INSTANCE ID", "NAME", "AGENT NAME", "ACTIVE", "ENABLE")


def unit_name(instance_id: str) -> str:
    return f"jcexecutor_agent_{instance_id}.service"
