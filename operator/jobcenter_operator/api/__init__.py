"""API models (v1alpha1) of the two custom resources, and their CRD metadata.

Pure package: pydantic only. The models are the single source of the CRD schemas (``crdgen``).
"""

from .cluster import ClusterNode, ClusterproCluster, ClusterproClusterSpec, ClusterproClusterStatus, SSHAccess
from .common import API_VERSION, GROUP, VERSION, Condition, ObjectMeta
from .site import AgentInstance, JobCenterSite, JobCenterSiteSpec, JobCenterSiteStatus, Mode

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "AgentInstance",
    "ClusterNode",
    "ClusterproCluster",
    "ClusterproClusterSpec",
    "ClusterproClusterStatus",
    "Condition",
    "JobCenterSite",
    "JobCenterSiteSpec",
    "JobCenterSiteStatus",
    "Mode",
    "ObjectMeta",
    "SSHAccess",
]
