"""deletionPolicy Unconfigure: put the exec resource and monitor back as they were. No kopf here.

The configuration as it was before the operator's first push is kept on the node that pushed
(paths.BACKUP_ROOT/<group>, written by ApplyClusterConfig). Unconfigure stops the group
(stop.sh stops the cluster site), pushes the current configuration with the site's exec
settings, monitor and scripts taken from that backup, and starts the group again on the node
that held it, with the original scripts (so the cluster site stays stopped). It never touches
``<databasePath>/nqs``: the job data is not the operator's to remove.
"""

from __future__ import annotations

import logging

from .api.site import JobCenterSiteSpec
from .errors import PermanentError
from .facts import NodeFacts
from .outcome import StepReport
from .paths import BACKUP_ROOT, CLPCFCTRL
from .plan import Action, active_node, commands
from .plan.steps import stop_group
from .reconcile import ClusterAccess, Runner, execute, gather, probe_target
from .render.clp_restore import restore_site

log = logging.getLogger("jobcenter_operator.unconfigure")

# $1 backup dir, $2 group, $3 exec resource, $4 monitor; stdin = the restored clp.conf.
# Pull the whole configuration, put back the site's original scripts, drop a genw.sh the
# original did not have, replace clp.conf, push.
_RESTORE = f"""\
set -e
d=$(mktemp -d /tmp/jcop-restore.XXXXXX)
trap 'rm -rf "$d"' EXIT
{CLPCFCTRL} --pull -x "$d" >/dev/null
cat >"$d/clp.conf"
for f in start.sh stop.sh; do
    if [ -f "$1/scripts/$2/$3/$f" ]; then cp -p "$1/scripts/$2/$3/$f" "$d/scripts/$2/$3/$f"; fi
done
if [ ! -e "$1/scripts/monitor.s/$4" ]; then rm -rf "$d/scripts/monitor.s/$4"; fi
{CLPCFCTRL} --push -x "$d"
"""


class NoBackup(PermanentError):
    reason = "NoBackup"


async def _find_backup(runner: Runner, access: ClusterAccess, group: str) -> tuple[str, str]:
    """(node, clp.conf text) of the first node holding the pre-operator backup."""
    for node in access.nodes:
        res = await runner.run(node, access.creds, access.timeouts, ["cat", f"{BACKUP_ROOT}/{group}/clp.conf"],
                               check=False)
        if res.exit_status == 0 and res.stdout.strip():
            return node.name, res.stdout
    raise NoBackup(f"no node has a backup of the configuration of {group}; nothing was changed")


async def unconfigure_site(runner: Runner, access: ClusterAccess, spec: JobCenterSiteSpec) -> list[StepReport]:
    gathered = await gather(runner, access, probe_target(spec))
    first = gathered.first_error()
    if first is not None:
        raise first
    facts: dict[str, NodeFacts] = gathered.facts
    backup_node, backup_xml = await _find_backup(runner, access, spec.failover_group)
    active = active_node(spec, access.names, facts)
    restored = restore_site(facts[backup_node].clp_conf.text, backup_xml, spec)
    actions: list[Action] = []
    if active is not None:
        actions.append(stop_group(spec.failover_group, active, "Unconfigure"))
    reports, failure = await execute(runner, access, actions)
    if failure is not None:
        raise failure
    try:
        await runner.run(access.node(backup_node), access.creds, access.timeouts,
                         ["sh", "-c", _RESTORE, "restore", f"{BACKUP_ROOT}/{spec.failover_group}",
                          spec.failover_group, spec.exec_resource, spec.monitor_resource],
                         input=restored)
    finally:
        if active is not None:
            # Back online where it was, with the original scripts: the site itself stays stopped.
            start = Action(kind="StartGroup", node=active, reason="Unconfigure", message=f"start {spec.failover_group}",
                           command=commands.start_group(spec.failover_group))
            started, failure = await execute(runner, access, [start])
            reports += started
            if failure is not None:
                raise failure
    return reports
