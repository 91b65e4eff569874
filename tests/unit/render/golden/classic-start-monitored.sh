#! /bin/sh
# start.sh of a CLUSTERPRO exec resource.
# Starts the JobCenter cluster site.
# cjcpw stays resident: the exec resource is asynchronous and the PID monitor watches
# this script, which ends when cjcpw ends.
# Managed by jobcenter-operator. Local changes are overwritten on the next reconcile.

if [ "$CLP_EVENT" = "START" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "NORMAL CJCPW STARTUP"
    /usr/lib/nqs/cluster/cjcpw cluv /mnt/sdb2
    status="$?"
    echo "EXIT $status"
    exit "$status"
  else
    echo "ERROR_DISK from START"
    exit 1
  fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "FAILOVER CJCPW STARTUP"
    /usr/lib/nqs/cluster/cjcpw cluv /mnt/sdb2
    status="$?"
    echo "EXIT $status"
    exit "$status"
  else
    echo "ERROR_DISK from FAILOVER"
    exit 1
  fi
else
  echo "NO_CLP"
fi
echo "EXIT"
exit 0
