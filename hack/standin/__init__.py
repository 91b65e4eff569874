"""A local Kubernetes API stand-in for tests and demos: kmock's emulator plus what kubectl and kopf need.

    from hack.standin import KubeStandIn, serve
    async with serve(port=0, crds_dir='crds') as (url, standin): ...

Admission alone (no server): ``from hack.standin.admission import admit``.
"""

from hack.standin.emulator import KubeStandIn
from hack.standin.server import kubeconfig, serve, write_kubeconfig

__all__ = ['KubeStandIn', 'kubeconfig', 'serve', 'write_kubeconfig']
