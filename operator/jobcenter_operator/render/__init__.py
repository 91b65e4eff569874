"""Pure renderers: exec/monitor scripts, daemon.conf edits and clp.conf edits.

No I/O here: every function takes text (or a spec) and returns text or a frozen value, so the
planner can compare desired and observed state and the node layer only copies bytes.
"""

from .clp_conf import (
    ClpConfError,
    configure_site,
)
from .clp_restore import restore_site
from .daemon_conf import local_daemon_value, set_local_daemon
from .scripts import (
    agent_monitor_script,
    agent_start_script,
    agent_stop_script,
    scripts_for,
    site_start_script,
    site_stop_script,
)

__all__ = [
    "ClpConfError",
    "agent_monitor_script",
    "agent_start_script",
    "agent_stop_script",
    "configure_site",
    "local_daemon_value",
    "restore_site",
    "scripts_for",
    "set_local_daemon",
    "site_start_script",
    "site_stop_script",
]
