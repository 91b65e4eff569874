"""Where things live on a cluster node: the one table of node-side paths.

Pure constants. The facts probe's sections (facts/) read these files and the plan's commands
(plan/commands.py) write them or run these programs, so both sides name the same path. The
JobCenter paths follow the vendor guide (node-protocol 2), the CLUSTERPRO ones node-protocol 4-5.
"""

from __future__ import annotations

# JobCenter
CJCPW = "/usr/lib/nqs/cluster/cjcpw"
CJCMKSITE = "/usr/lib/nqs/cluster/cjcmksite"
NQSSTART = "/usr/lib/nqs/nqsstart"
NQSSTOP = "/usr/lib/nqs/nqsstop"
JOBCENTER_VERSION = "/usr/lib/nqs/VERSION"
LOCAL_DAEMON_CONF = "/usr/lib/nqs/rc/daemon.conf"
JCAGCTRL = "/usr/bin/jcagctrl"

# CLUSTERPRO
CLPGRP = "/usr/sbin/clpgrp"
CLPCL = "/usr/sbin/clpcl"
CLPSTAT = "/usr/sbin/clpstat"
CLPCFCTRL = "/usr/sbin/clpcfctrl"
CLP_CONF = "/opt/nec/clusterpro/etc/clp.conf"
SCRIPTS_ROOT = "/opt/nec/clusterpro/scripts"

SYSTEMCTL = "/usr/bin/systemctl"

# The first comment line of every script the operator installs (render/scripts.py): the facts probe
# tells the operator's scripts, of any version, from the administrator's by it.
MANAGED_BY = "# Managed by jobcenter-operator. Local changes are overwritten on the next reconcile."

# The operator's own state on the node.
OPERATOR_STATE = "/var/lib/jobcenter-operator"
# A marker per group (holding the node's name) while the operator has the group stopped: a group
# found offline with it was stopped by an interrupted run.
STOP_MARKER_DIR = f"{OPERATOR_STATE}/stopped"
# A marker per group (holding the node that suspended) on every reachable node while the operator
# has the cluster suspended to apply a configuration: a run killed in between leaves it, and the
# next run resumes the cluster (a cluster is never left suspended because the operator failed).
SUSPEND_MARKER_DIR = f"{OPERATOR_STATE}/suspended"
# A marker per group on a node whose manager services (WebManager, alert sync, ...) have not yet
# loaded a configuration the operator pushed: written before ``clpcl -r``, removed once it
# succeeded, so a restart that failed is tried again on the next reconcile.
MANAGER_RESTART_DIR = f"{OPERATOR_STATE}/manager-restart"
# The configuration as it was before the operator first pushed (for deletionPolicy Unconfigure).
BACKUP_ROOT = f"{OPERATOR_STATE}/backup"


def agent_unit(instance_id: str) -> str:
    """The systemd unit of a JobCenter standard-mode agent instance."""
    return f"jcexecutor_agent_{instance_id}.service"
