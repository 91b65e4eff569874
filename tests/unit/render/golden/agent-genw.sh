#! /bin/sh
# genw.sh of a CLUSTERPRO custom monitor: is the JobCenter agent unit active? Exit 0 = yes.
# Managed by jobcenter-operator. Local changes are overwritten on the next reconcile.
systemctl -q is-active jcexecutor_agent_1.service
exit "$?"
