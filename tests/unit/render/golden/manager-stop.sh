#! /bin/sh
# stop.sh of a CLUSTERPRO exec resource.
# Stops the JobCenter cluster site (takes one to two minutes).
# cjcpw's status is logged, not returned: a failed deactivation would shut the node down.
# Managed by jobcenter-operator. Local changes are overwritten on the next reconcile.

if [ "$CLP_EVENT" = "START" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "NORMAL CJCPW STOP"
    /usr/lib/nqs/cluster/cjcpw -stop jcmgcluster
    status="$?"
    echo "EXIT $status"
    exit 0
  else
    echo "ERROR_DISK from START"
    /usr/lib/nqs/cluster/cjcpw -stop jcmgcluster
    echo "EXIT $?"
    exit 0
  fi
elif [ "$CLP_EVENT" = "FAILOVER" ]
then
  if [ "$CLP_DISK" = "SUCCESS" ]
  then
    echo "FAILOVER CJCPW STOP"
    /usr/lib/nqs/cluster/cjcpw -stop jcmgcluster
    status="$?"
    echo "EXIT $status"
    exit 0
  else
    echo "ERROR_DISK from FAILOVER"
    /usr/lib/nqs/cluster/cjcpw -stop jcmgcluster
    echo "EXIT $?"
    exit 0
  fi
else
  echo "NO_CLP"
fi
echo "EXIT"
exit 0
