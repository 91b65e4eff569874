"""Every CLUSTERPRO behaviour the simulator models that rests on a GUESS in node-protocol.md.

One place to correct: message texts and codes, the CLP_* script environment rules, what a cut
network does, the guessed clpstat layouts' alternatives, and the clpstat name widths (chosen).
Alternatives are keyed by variant name (hack/testbed/variants.py).
"""

from __future__ import annotations

import uuid

# --- message texts of clpgrp / clpcl / clpcfctrl (node-protocol 5.1, 5.3, 5.4: all GUESS) ------------
MESSAGES = {
    "ok": "Command succeeded.",
    "already_started_local": "The group has already been started on the local server.",
    "already_started_other": "The group has already been started on the other server.",
    "already_stopped": "The group has already been stopped.",
    "bad_group": "Invalid group name. Specify a valid group name in the cluster.",
    "bad_server": "Invalid server name. Specify a valid server name in the cluster.",
    "no_service": "Could not connect to the server. Check if the cluster service is active.",
    "start_failed": "Failed to start one or more group resources. Check the status of group",
    "stop_failed": "Failed to stop one or more group resources. Check the status of group",
    "suspended": "The cluster is suspended. Resume the cluster (clpcl --resume) first.",
    "already_suspended": "The cluster is already suspended.",
    "not_suspended": "The cluster is not suspended.",
    "not_online": "The group is not online.",
    "no_dest": "There is no server the group can move to.",
    "cl_started": "The cluster service has already been started.",
    "cl_stopped": "The cluster service has already been stopped.",
    "pending": "A group is being started or stopped. Retry later.",
    # clpcfctrl (reasons; the last line is always CF_SUCCESS or CF_FAILED)
    "cf_online_change": "The configuration of group {group} cannot be changed while the group is online. "
                        "Stop the group or suspend the cluster (clpcl --suspend) first.",
    "cf_monitor_change": "Monitor resource {monitor} was added or changed. Suspend the cluster "
                         "(clpcl --suspend) before applying the configuration.",
    "cf_group_online": "Group {group} is online and the configuration changes its resources or scripts "
                       "({what}). Stop the group (clpgrp -t {group}) before applying the configuration.",
    "cf_delivery": "file delivery to server {address} failed.",
}
# Alternative wording (variant clp-messages-alt): same situations, other texts, as another version
# or locale of the product could print them.
MESSAGES_ALT = {
    **{k: v.upper().rstrip(".") + "." for k, v in MESSAGES.items() if not k.startswith("cf_")},
    "ok": "Command succeeded.",  # the one text VERIFIED by transcripts (S5)
    "cf_online_change": "Apply failed: the failover group {group} is active (suspend the cluster).",
    "cf_monitor_change": "Apply failed: the monitor {monitor} requires the cluster to be suspended.",
    "cf_group_online": "Apply failed: the failover group {group} must be stopped ({what}).",
    "cf_delivery": "Failed to deliver the configuration to {address}.",
}
# clpcfctrl failure codes (GUESS; node-protocol 5.1 only says "non-zero").
CF_CODES = {"invalid": 11, "online_change": 12, "delivery": 13, "nodir": 14, "group_online": 15, "usage": 2}
CF_CODES_ALT = {"invalid": 1, "online_change": 1, "delivery": 1, "nodir": 1, "group_online": 1, "usage": 1}
CF_SUCCESS = "Command succeeded.(code:0)"  # node-protocol 5.1 GUESS text
CF_UPLOADED = "The upload is completed successfully.(cfmgr:0)"
CF_FAILED = "Command failed.(code:{code})"


def messages(variant: str) -> dict[str, str]:
    return MESSAGES_ALT if variant == "clp-messages-alt" else MESSAGES


def cf_codes(variant: str) -> dict[str, int]:
    return CF_CODES_ALT if variant == "clp-messages-alt" else CF_CODES


# --- exec script environment (node-protocol 3.3) ----------------------------------------------------
# CLP_DISK when the disk did not attach: only SUCCESS is sourced (templates test it); FAILURE is a
# GUESS from the naming; ERROR the alternative (variant clp-disk-error-word).
CLP_DISK_FAILURE = {"clp-disk-failure-word": "FAILURE", "clp-disk-error-word": "ERROR"}


def clp_server_home(choice: str, policy: list[str], servers: list[str]) -> str | None:
    """The server CLP_SERVER calls HOME (others get OTHER). GUESS: the group's first policy server
    (clp-server-policy, default) or the cluster's priority-0 server (clp-server-priority)."""
    if choice == "clp-server-priority":
        return servers[0] if servers else None
    return policy[0] if policy else (servers[0] if servers else None)


CLP_SERVER_OTHER = "OTHER"  # GUESS value (node-protocol 3.3)

# --- a suspended cluster (node-protocol 5.3/10: `clpcl --suspend/--resume` VERIFIED; what they do
# meanwhile is GUESS) ------------------------------------------------------------------------------
# While suspended: no monitor runs, no failover happens (a server lost meanwhile is failed over at the
# resume), and these commands are refused with MESSAGES["suspended"] (resume first).
SUSPENDED_REFUSES = frozenset({"clpgrp -s", "clpgrp -t", "clpgrp -m", "clpcl -s", "clpcl -t"})


def suspended_refuses(tool: str, option: str) -> bool:
    return f"{tool} {option}" in SUSPENDED_REFUSES


# --- a disk that did not attach (`fault disk-failure`) ------------------------------------------------
# GUESS: the disk resource is reported with this status and the group goes on to the exec resource,
# whose scripts learn it from CLP_DISK (CLP_DISK_FAILURE) and decide in their failure branch (as
# CLUSTERPRO's own template and the guide's samples branch on CLP_DISK). node-protocol is silent on
# whether a real disk resource failure stops the activation before the exec resource instead.
DISK_NOT_ATTACHED_STATUS = "Online"

# --- clplogcmd (node-protocol 5.7: the command VERIFIED; where and how the bed records it GUESS) ---------
ALERT_LOG = "/opt/nec/clusterpro/log/alert.log"


def alert_line(when: str, level: str, server: str, event_id: str, text: str) -> str:
    return f"{when} {level} {server} {event_id} {text}\n"


# --- a Cluster WebUI save (node-protocol 4.2/10: that <trekking> and the object counter are rewritten
# is sourced; where the elements sit and what a configid looks like is GUESS) ------------------------------
def webui_configid() -> str:
    """A new ``<trekking><configid>`` (GUESS: a UUID)."""
    return str(uuid.uuid4())


def webui_savedversion(previous: int | None) -> int:
    """The new ``<trekking><savedversion>`` (GUESS: counts saves from 1)."""
    return previous + 1 if previous is not None else 1


# --- the manager services (node-protocol 5.3, 8: the options and which version has which service are
# sourced; the rest is GUESS) -------------------------------------------------------------------------
def clpcl_unknown_option(option: str) -> str:
    """What clpcl of a version without ``option``'s service prints (exit 1), as getopt would."""
    return f"clpcl: unrecognized option '{option}'\nUsage: clpcl -s|-t|-r|--suspend|--resume [-a] [-h <host>]"


def webui_base(variant: str, loaded: bytes | None, installed: bytes) -> bytes:
    """The clp.conf a WebUI save starts from. webui-from-webmanager (default): what WebManager loaded
    at its last (re)start, so a push it was not restarted after is written back over by a save;
    webui-from-file: the installed file."""
    return loaded if variant == "webui-from-webmanager" and loaded is not None else installed


# --- resource (de)activation failure actions (node-protocol 4.2 exec table: VERIFIED codes) ---------
# deact/action default 4 = stop the cluster service and shut the OS down. The bed powers the node
# off (kills its init; `fault heal` boots it again); 5 (reboot) and the hardware/panic codes are
# modelled the same way, since the node is gone to the cluster either way.
DEACT_ACTION_DEFAULT = 4
ACT_ACTION_DEFAULT = 1

# --- a cut network (no source) ------------------------------------------------------------------------
# isolation-self-fence (default): the isolated server stops its resources without scripts (start
# trees killed, disk unmounted, FIP removed) and stays up; its groups fail over.
# isolation-shutdown: the isolated server shuts down (as network-partition resolution makes the
# losing side do); its groups fail over.


def isolated_server_shuts_down(choice: str) -> bool:
    return choice == "isolation-shutdown"

# --- clpstat name widths (S7) -------------------------------------------------------------------------
# VERIFIED from transcripts: in the default layout the ':' sits at column 21 for every line, so the
# server/group/monitor name field is 17 wide (4 columns of indent) and the resource/heartbeat field
# 15 wide (6 columns); a group of 16+ characters shows cut to 16 and a space (S7 `container-recove`).
# `--long` puts the ':' at column 38 (S7 WSL2): fields 34 and 32 wide.
# CHOSEN (node-protocol is silent): every name is cut to its field width minus one, so a space
# always precedes ':' (monitors 16, resources 14; --long 33 and 31 = never cut a legal name).
WIDTH_DEFAULT = {"top": 17, "sub": 15}
WIDTH_LONG = {"top": 34, "sub": 32}
NAME_MAX = 31  # node-protocol 10: groups, resources and monitors may have up to 31 characters
