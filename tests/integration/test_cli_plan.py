"""`python -m jobcenter_operator plan`: a dry run against real (simulated) nodes that changes nothing.
Exit 2 while changes are pending, 0 once converged."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.demo import manifests
from hack.testbed import api as testbed
from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: F401
from jobcenter_operator.api import ClusterproCluster, JobCenterSite
from jobcenter_operator.node import NodePool
from jobcenter_operator.reconcile import access_from, reconcile_site

REPO = Path(__file__).resolve().parents[2]


def _plan(files: list[Path], bed: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "jobcenter_operator", "plan", "-o", "json", "--ssh-key", bed["privateKeyFile"],
            "--known-hosts", bed["knownHostsFile"]]
    for f in files:
        argv += ["-f", str(f)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


def _node_state(bed: dict[str, Any]) -> list[str]:
    """What a dry run must not change: daemon.conf, installed scripts, clp.conf, the disk."""
    script = ("cat /usr/lib/nqs/rc/daemon.conf /opt/nec/clusterpro/etc/clp.conf; "
              "find /opt/nec/clusterpro/scripts -type f -exec sha256sum {} + | sort; ls -a /mnt/sdb2")
    return [testbed.exec_on(bed["name"], n["name"], ["sh", "-c", script])["stdout"] for n in bed["nodes"]]


@pytest.mark.root
def test_plan_reports_pending_changes_then_converged(testbed_cluster: Callable[..., dict[str, Any]],  # noqa: F811
                                                     tmp_path: Path) -> None:
    bed = testbed_cluster(mode="classic")
    cluster_doc, site_doc = yaml.safe_load_all(manifests(bed))
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(cluster_doc))
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site_doc))
    files = [tmp_path / "site.yaml", tmp_path / "cluster.yaml"]

    before = _node_state(bed)
    pending = _plan(files, bed)
    assert pending.returncode == 2, pending.stderr
    report = json.loads(pending.stdout)
    assert report["activeNode"] == bed["activeNode"]
    assert [a["action"] for a in report["actions"]].count("CreateSite") == 1
    assert _node_state(bed) == before, "the dry run changed a node"

    # Converge with the library, then the dry run says there is nothing to do.
    secret = {"ssh-privatekey": Path(bed["privateKeyFile"]).read_bytes(),
              "known_hosts": Path(bed["knownHostsFile"]).read_bytes()}

    async def converge() -> None:
        pool = NodePool()
        try:
            access = access_from(ClusterproCluster.model_validate(cluster_doc).spec, secret)
            result = await reconcile_site(pool, access, JobCenterSite.model_validate(site_doc).spec, enforce=True)
            assert result.error is None, result.error
        finally:
            await pool.close()

    asyncio.run(converge())
    done = _plan(files, bed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["actions"] == []


@pytest.mark.root
def test_plan_refuses_an_unknown_host_key(testbed_cluster: Callable[..., dict[str, Any]],  # noqa: F811
                                          tmp_path: Path) -> None:
    bed = testbed_cluster(mode="classic")
    cluster_doc, site_doc = yaml.safe_load_all(manifests(bed))
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all([cluster_doc, site_doc]))
    empty = tmp_path / "known_hosts"
    empty.write_text("10.255.255.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ\n")
    result = _plan([tmp_path / "all.yaml"], {**bed, "knownHostsFile": str(empty)})
    assert result.returncode == 1
    assert "HostKeyMismatch" in result.stdout + result.stderr
