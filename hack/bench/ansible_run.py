"""Ansible on the same beds: hack/bench/ansible/site.yml (the guide's steps) and steady.yml.

ansible-core comes from PyPI into a bench-only venv (.bench-venv, `make bench` creates it; not a
project dependency). Host keys are checked against each bed's known_hosts, forks = hosts, default
settings (ControlPersist SSH, no pipelining) or with pipelining.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from hack.testbed.config import BedRecord

from . import floor, operator_run, procstat

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).with_name("ansible")
VENV = Path(os.environ.get("BENCH_VENV", REPO / ".bench-venv"))


def ansible_playbook() -> Path:
    exe = VENV / "bin" / "ansible-playbook"
    if not exe.exists():
        raise RuntimeError(f"{exe} missing: python3 -m venv {VENV} && {VENV}/bin/pip install ansible-core")
    return exe


def inventory(docs: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """One host per node, with this cluster's rendered files in a local folder."""
    hosts: dict[str, Any] = {}
    for doc in docs:
        files = work / "files" / doc["name"]
        (files / "scripts").mkdir(parents=True, exist_ok=True)
        conf, exec_scripts = floor.rendered(doc)
        (files / "clp.conf").write_text(conf)
        for rel, text in exec_scripts.items():
            p = files / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        for n in doc["nodes"]:
            hosts[f"{doc['name']}-{n['name']}"] = {
                "ansible_host": n["address"], "ansible_user": doc["user"],
                "ansible_ssh_private_key_file": doc["privateKeyFile"],
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={doc['knownHostsFile']} "
                                           "-o StrictHostKeyChecking=yes",
                "ansible_python_interpreter": "/usr/bin/python3",
                "node_name": n["name"], "group": doc["failoverGroup"], "vhost": doc["virtualHost"],
                "machine_id": doc["machineId"], "db_path": doc["databasePath"], "files_dir": str(files),
                "steady_script": f"set -- {doc['failoverGroup']}\n{floor.STEADY}",
            }
    return {"all": {"hosts": hosts}}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _play(exe: Path, playbook: str, inv: Path, env: dict[str, str], work: Path) -> None:
    r = subprocess.run([str(exe), "-i", str(inv), str(PLAYBOOKS / playbook)], env=env, cwd=work,
                       capture_output=True, text=True, timeout=1200, check=False)
    (work / f"{playbook}.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        raise RuntimeError(f"ansible-playbook {playbook} exited {r.returncode}:\n{r.stdout[-3000:]}{r.stderr[-2000:]}")


def run(docs: list[dict[str, Any]], work: Path, steady: bool = False, pipelining: bool = False) -> dict[str, Any]:
    exe = ansible_playbook()
    work.mkdir(parents=True, exist_ok=True)
    inv = work / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory(docs, work)))
    beds = [BedRecord.load(d["name"]) for d in docs]
    nodes = sum(len(b.nodes) for b in beds)
    env = dict(os.environ, ANSIBLE_FORKS=str(nodes), ANSIBLE_HOST_KEY_CHECKING="True",
               ANSIBLE_PIPELINING="True" if pipelining else "False", ANSIBLE_LOCAL_TEMP=str(work / "tmp"),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(work / "cp"), ANSIBLE_NOCOLOR="1", HOME=str(work),
               ANSIBLE_RETRY_FILES_ENABLED="False")
    result = _timed(exe, "site.yml", inv, env, work, beds, len(docs))
    import asyncio

    asyncio.run(floor.verify(docs))  # not timed
    if steady:
        _play(exe, "warm.yml", inv, env, work)  # ControlPersist keeps these connections for 60 s
        result["steady"] = _timed(exe, "steady.yml", inv, env, work, beds, len(docs))
    _close_masters(env, work)
    return result


def _timed(exe: Path, playbook: str, inv: Path, env: dict[str, str], work: Path, beds: list[BedRecord],
           sites: int) -> dict[str, Any]:
    nodes = sum(len(b.nodes) for b in beds)
    t0, cpu0, bed0 = time.monotonic(), _children_cpu(), procstat.bed_cpu_seconds(beds)
    net0, logins0 = procstat.veth_bytes(beds), operator_run.sshd_logins(beds)
    _play(exe, playbook, inv, env, work)
    wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
    bed, net = procstat.bed_cpu_seconds(beds) - bed0, procstat.veth_bytes(beds) - net0
    logins = operator_run.sshd_logins(beds) - logins0
    return {"wall_s": wall, "handshakes_per_node": logins / nodes, "kbytes_per_node": net / 1024 / nodes,
            "cpu_per_site_ms": cpu * 1000 / sites, "runner_cpu_s": cpu, "bed_cpu_s": bed,
            "bed_share": bed / (bed + cpu) if bed + cpu > 0 else None}


def _close_masters(env: dict[str, str], work: Path) -> None:
    """Stop the ControlPersist masters this run left (they would outlive the beds for 60 s)."""
    for sock in (work / "cp").glob("*") if (work / "cp").is_dir() else []:
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "dummy"], env=env,
                       capture_output=True, timeout=10, check=False)
