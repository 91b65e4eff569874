"""`python -m jobcenter_operator plan`: a dry run against real (simulated) nodes that changes nothing.
Exit 2 while changes are pending, 0 once converged; with the manifests in files, or read from the
cluster (the stand-in) by name, with a passphrase-protected key."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml

from hack.demo import manifests
from hack.standin.pytest_fixtures import KUBECTL, StandInProcess, standin_crds_dir, standin_server  # noqa: F401
from hack.testbed import api as testbed
from hack.testbed.pytest_fixtures import testbed_cluster, testbed_required  # noqa: F401
from jobcenter_operator.api import ClusterproCluster, JobCenterSite
from jobcenter_operator.cli import PASSPHRASE_ENV
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


PASSPHRASE = "correct horse"  # noqa: S105 (a test key's passphrase)


def _secret(key: bytes, known_hosts: bytes) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "jc-cluster-ssh"}, "type": "Opaque",
            "data": {"ssh-privatekey": base64.b64encode(key).decode(),
                     "known_hosts": base64.b64encode(known_hosts).decode()}}


@pytest.mark.root
@pytest.mark.skipif(shutil.which(KUBECTL) is None, reason="kubectl is not installed")
def test_plan_by_name_from_the_cluster_with_a_passphrase(testbed_cluster: Callable[..., dict[str, Any]],  # noqa: F811
                                                         standin_server: StandInProcess,  # noqa: F811
                                                         tmp_path: Path) -> None:
    bed = testbed_cluster(mode="classic")
    cluster_doc, site_doc = yaml.safe_load_all(manifests(bed))
    # The Secret holds the bed's key encrypted; the passphrase stays with the administrator.
    key = asyncssh.read_private_key(bed["privateKeyFile"]).export_private_key(passphrase=PASSPHRASE)
    secret = _secret(key, Path(bed["knownHostsFile"]).read_bytes())
    applied = standin_server.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([cluster_doc, site_doc, secret]))
    assert applied.returncode == 0, applied.stderr
    name = site_doc["metadata"]["name"]
    before = _node_state(bed)

    def plan(*args: str, passphrase: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**standin_server.env, **({PASSPHRASE_ENV: passphrase} if passphrase else {})}
        return subprocess.run([sys.executable, "-m", "jobcenter_operator", "plan", name, "-n", "default", *args],
                              capture_output=True, text=True, timeout=120, check=False, cwd=REPO, env=env)

    by_env = plan(passphrase=PASSPHRASE)
    assert by_env.returncode == 2, by_env.stdout + by_env.stderr
    lines = by_env.stdout.splitlines()
    assert lines[0] == f"Site {name}: active node {bed['activeNode']}"
    assert any(line.split()[2:3] == ["CreateSite"] for line in lines if line[:1].isdigit()), by_env.stdout
    assert "pending (exit 2)" in lines[-1]

    phrase = tmp_path / "passphrase"
    phrase.write_text(PASSPHRASE + "\n")
    by_file = plan("--passphrase-file", str(phrase), "-o", "json")
    assert by_file.returncode == 2, by_file.stderr
    assert json.loads(by_file.stdout)["activeNode"] == bed["activeNode"]

    wrong = plan("-o", "json", passphrase="wrong horse")  # noqa: S106
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)["error"]["reason"] == "AuthenticationFailed"
    assert PASSPHRASE not in wrong.stdout + wrong.stderr and "wrong horse" not in wrong.stdout + wrong.stderr
    assert _node_state(bed) == before, "the dry run changed a node"
