#! /bin/sh
# stop.sh of a CLUSTERPRO exec resource.
# Stops the JobCenter agent unit; exits with systemctl's status.
# Managed by jobcenter-operator. Local changes are overwritten on the next reconcile.

if [ "$CLP_EVENT" = "START" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "NORMAL AGENT STOP"
    systemctl stop jcexecutor_agent_1.service
    status="$?"
    echo "EXIT $status"
    exit "$status"
  else
    echo "ERROR_DISK from START"
    systemctl stop jcexecutor_agent_1.service
    echo "EXIT $?"
    exit 0
  fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "FAILOVER AGENT STOP"
    systemctl stop jcexecutor_agent_1.service
    status="$?"
    echo "EXIT $status"
    exit "$status"
  else
    echo "ERROR_DISK from FAILOVER"
    systemctl stop jcexecutor_agent_1.service
    echo "EXIT $?"
    exit 0
  fi
else
  echo "NO_CLP"
fi
echo "EXIT"
exit 0
