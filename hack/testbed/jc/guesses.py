"""Every JobCenter behaviour the simulator models that rests on a GUESS in node-protocol.md.

Keep them here (one table per tool) so a correction is a one-line change. Where a guess has
alternatives (hack/testbed/variants.py), each alternative is a table entry here, keyed by the
variant's name; the tools look the one in effect up through the bed record.
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

# A cluster site's daemons work in the site's database on the switched disk (they keep it busy
# while the site runs), so each one's working directory is below <dbpath>: evidence of the site
# that does not depend on the cjcpw parent (with `cjcpw -c` the daemons end up with PPID 1 like
# a local site's). GUESS: node-protocol names no such detail (only "identify by PPID", S1/S14);
# the directory (<dbpath>/nqs) is the one cjcmksite creates.
SITE_DAEMON_CWD = "nqs"

# --- cjcpw (node-protocol 2.3/2.5: how the site's tree looks and when cjcpw refuses: no source) ------


Layout = list[tuple[str, str, bool, list[tuple[str, str, bool]]]]


def site_daemon_layout(plist: list[tuple[str, str]], tree: bool) -> Layout:
    """(title, short, twin, subs) of cjcpw's direct children for a site's ``plist``. GUESS (axis
    site-ppid; S1 only says "identify by PPID"): ppid-flat (``tree`` False) = every daemon a child
    of cjcpw; ppid-tree = the first daemon a child of cjcpw, the rest below it. ``twin``: the
    jnwcaster that spawns its second instance."""
    entries = [(t, s, (t, s) == JNWCASTER) for t, s in plist]
    if not tree:
        return [(t, s, tw, []) for t, s, tw in entries]
    (t0, s0, tw0), rest = entries[0], entries[1:]
    return [(t0, s0, tw0, rest)]


def local_site_conflicts(started_with: str | None) -> bool:
    """Whether a running local site keeps cjcpw from starting a cluster site. GUESS (S1 2.3 says
    local_daemon=SITE lets them coexist): the local daemon in its default mode (started without
    local_daemon=SITE) takes the site's packets, so cjcpw refuses."""
    return started_with != "SITE"


def cjcpw_stop_idle_fails(choice: str) -> bool:
    """`cjcpw -stop` of a site that is not running: exit 0 (cjcpw-stop-idle-ok, default) or an
    error (cjcpw-stop-idle-fails; text and code from JC_ERRORS 'stop_idle'). No source."""
    return choice == "cjcpw-stop-idle-fails"


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

# The simulator's own record of what a site was made for (so cjcpw can refuse a site of another
# virtual host even when daemon.conf carries no identity keys). Simulator-internal: an operator
# must never read it (a real node has no such file).
SITE_RECORD = "nqs/private/.jcsim-site.json"
# Installed daemon binaries per install mode (paths VERIFIED S1 2.5 from ps; that they exist as
# files is the natural reading). With variant no-version-file they are the only evidence of the mode.
DAEMON_BINARIES = {
    "CLASSIC": ["/usr/lib/nqs/nqsdaemon", "/usr/lib/nqs/jnwcaster", "/usr/lib/nqs/gui/bin/jnwengine",
                "/usr/lib/nqs/gui/bin/sclaunchd", "/usr/lib/nqs/combase/comagent", "/usr/lib/nqs/gui/bin/jcdbs",
                "/usr/lib/nqs/gui/bin/jnwlauncher", "/usr/lib/nqs/gui/bin/jcwebserver"],
    "STANDARD": ["/usr/lib/nqs/jcexecutor/jcexecutor_manager", "/usr/lib/nqs/jcexecutor/jcexecutor_webserver",
                 "/usr/lib/nqs/jcexecutor/nats_start", "/usr/lib/nqs/jnwcaster", "/usr/lib/nqs/gui/bin/jnwengine",
                 "/usr/lib/nqs/gui/bin/sclaunchd", "/usr/lib/nqs/combase/comagent", "/usr/lib/nqs/gui/bin/jcdbs",
                 "/usr/lib/nqs/gui/bin/jnwlauncher", "/usr/lib/nqs/gui/bin/jcwebserver"],
    "STANDARD-AGENT": ["/usr/lib/nqs/jcexecutor/jcexecutor_agent"],
}

# --- messages and exit codes (node-protocol 9, all GUESS) -----------------------------------------
MKSITE_USAGE = "Usage: cjcmksite <virtual-host-name> <machine-id> <database-path>"
CJCPW_USAGE = "Usage: cjcpw [-c] <virtual-host-name> <database-path>\n       cjcpw -stop <virtual-host-name>"
EXIT_ERROR = 1

# Error texts and exit codes of cjcmksite / cjcpw / nqsstart, per variant (axis jc-errors). Keys are
# the situations; values (exit code, text with {placeholders}).
JC_ERRORS: dict[str, dict[str, tuple[int, str]]] = {
    "jc-errors-default": {
        "not_root": (1, "{tool}: permission denied (must be run as root)."),
        "usage": (1, "{usage}"),
        "bad_machine_id": (1, "cjcmksite: invalid machine ID: {mid}"),
        "no_dir": (1, "cjcmksite: {dbpath}: no such directory."),
        "exists": (1, "cjcmksite: {dbpath}/nqs already exists."),
        "unresolved": (1, "{tool}: cannot resolve the virtual host name {vhost}."),
        "alias": (1, "{tool}: {vhost} is an alias of {canonical}; give the official host name."),
        "local_running": (1, "cjcmksite: local daemon is running. Stop it with /usr/lib/nqs/nqsstop."),
        "no_site": (1, "cjcpw: no cluster site at {dbpath} ({dbpath}/nqs not found)."),
        "other_site": (1, "cjcpw: the site at {dbpath} belongs to {owner}, not {vhost}."),
        "already_running": (1, "cjcpw: cluster site {vhost} is already running."),
        "not_local": (1, "cjcpw: the address {addr} of {vhost} is not configured on this machine."),
        "local_conflict": (1, "cjcpw: the local daemon is running and cannot coexist with a cluster site "
                              "(set local_daemon=SITE or OFF in /usr/lib/nqs/rc/daemon.conf and restart it)."),
        "child_died": (1, "cjcpw: process {name} (pid {pid}) of site {vhost} terminated; stopping the site."),
        "stop_idle": (1, "cjcpw: cluster site {vhost} is not running."),
        "nqs_running": (1, "nqsstart: JobCenter is already running."),
        "nqs_off": (0, "nqsstart: local_daemon=OFF; the local daemon is not started."),
    },
    # An alternative a real node could just as well print: other words, other codes, prefixed tags.
    "jc-errors-alt": {
        "not_root": (2, "ERROR: {tool}: Permission denied. Log in as root."),
        "usage": (2, "{usage}"),
        "bad_machine_id": (3, "ERROR: cjcmksite: The machine ID ({mid}) is not valid."),
        "no_dir": (4, "ERROR: cjcmksite: Cannot access the database directory ({dbpath})."),
        "exists": (5, "ERROR: cjcmksite: The site database already exists in {dbpath}."),
        "unresolved": (6, "ERROR: {tool}: Host name resolution failed ({vhost})."),
        "alias": (6, "ERROR: {tool}: {vhost} is not the official host name ({canonical})."),
        "local_running": (7, "ERROR: cjcmksite: NQS daemon is active."),
        "no_site": (8, "ERROR: cjcpw: Site database is not found ({dbpath})."),
        "other_site": (8, "ERROR: cjcpw: Site database {dbpath} is not for {vhost}."),
        "already_running": (9, "ERROR: cjcpw: The site ({vhost}) is already active."),
        "not_local": (10, "ERROR: cjcpw: bind failed ({addr})."),
        "local_conflict": (11, "ERROR: cjcpw: Port is in use by the local daemon."),
        "child_died": (12, "ERROR: cjcpw: {name}({pid}) down. site={vhost}"),
        "stop_idle": (13, "ERROR: cjcpw: The site ({vhost}) is not active."),
        "nqs_running": (14, "ERROR: nqsstart: NQS daemon is already active."),
        "nqs_off": (0, "nqsstart: local daemon is disabled."),
    },
}


def jc_error(variant: str, key: str, **values: object) -> tuple[int, str]:
    code, text = JC_ERRORS[variant][key]
    return code, text.format(**values)

# --- standard-mode agent ----------------------------------------------------------------------------
AG_REGISTRY = "/etc/opt/nec/jcagent/instances.json"
AG_PROCESS = ("/usr/lib/nqs/jcexecutor/jcexecutor_agent", "jcexecutor_agent")
AG_UNIT_DIR = "/etc/systemd/system"
AG_WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
AG_LIST_HEADER = ("INSTANCE ID", "NAME", "AGENT NAME", "ACTIVE", "ENABLE")


def jcagctrl_list(layout: str, rows: list[tuple[str, str, str, bool, bool]]) -> str:
    """`jcagctrl list` text for (id, name, agent, active, enable) rows, per variant (no source)."""
    if layout == "jcagctrl-blocks":
        # alternative: one block per instance, "Key : value" lines, upper-case booleans
        out = []
        for iid, name, agent, active, enable in rows:
            out += [f"[{name}]", f"  Instance ID   : {iid}", f"  Agent Name    : {agent}",
                    f"  Status        : {'ACTIVE' if active else 'INACTIVE'}",
                    f"  Enabled       : {'YES' if enable else 'NO'}", ""]
        return "\n".join(out)
    table = [list(AG_LIST_HEADER)] + [[iid, name, agent, str(active).lower(), str(enable).lower()]
                                      for iid, name, agent, active, enable in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in table)


def cjcls_text(layout: str, sites: list[str], local: str | None) -> str:
    """`cjcls [-a]`: running sites (``local`` = the local site's name with -a, else None). No source."""
    if layout == "cjcls-table":
        lines = ["SITE NAME            TYPE     STATUS"]
        if local:
            lines.append(f"{local:<20} LOCAL    ACTIVE")
        lines += [f"{s:<20} CLUSTER  ACTIVE" for s in sites]
        return "\n".join(lines) + "\n"
    return "".join(f"{s} RUNNING\n" for s in ([local] if local else []) + sites)


def nqsstart_refusal(choice: str, local_daemon: str, running: bool) -> str | None:
    """Why nqsstart starts nothing (a JC_ERRORS key), or None to start the local site. GUESS (axis
    nqsstart): under OFF or when already running it starts nothing; nqsstart-lenient says nothing
    and exits 0, nqsstart-strict reports it (exit code from JC_ERRORS: 'nqs_running' is an error)."""
    if local_daemon.upper() == "OFF":
        return "nqs_off" if choice == "nqsstart-strict" else "silent"
    if running:
        return "nqs_running" if choice == "nqsstart-strict" else "silent"
    return None


# GUESS: the agent unit refuses to start where its data disk is not mounted (variant agent-disk).
def agent_needs_disk(choice: str) -> bool:
    return choice == "agent-needs-disk"


def unit_name(instance_id: str) -> str:
    return f"jcexecutor_agent_{instance_id}.service"
