"""The one-command local demo (`make demo`): the operator's main job on the built-in local default.

Starts a simulated two-node CLUSTERPRO cluster with JobCenter (hack.testbed), the local Kubernetes
API stand-in (hack.standin) with our CRDs, and the operator; applies manifests/samples (the
ClusterproCluster pointed at the simulated nodes, a Secret made from the bed's key and known_hosts,
the Classic JobCenterSite), waits for `kubectl wait --for=condition=Ready`, prints
`kubectl get cpc,jcs -o wide` and the site's conditions, and tears everything down on exit.
KEEP=1 leaves it all running and prints how to reach it.

Run as root from the repository root: `.venv/bin/python -m hack.demo` (what `make demo` does).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from hack.standin.pytest_fixtures import StandInProcess, start_standin, stop_standin
from hack.testbed import api as testbed

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "manifests" / "samples"
NAME = os.environ.get("DEMO_NAME", "demo")
WAIT = os.environ.get("DEMO_WAIT", "300s")


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def kubectl(standin: StandInProcess, *args: str, input: str | None = None, check: bool = True) -> str:
    result = standin.kubectl(*args, input=input, timeout=600)
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def manifests(bed: dict[str, Any]) -> str:
    """The samples, pointed at the simulated cluster (its node addresses and floating IP)."""
    cluster = yaml.safe_load((SAMPLES / "clusterprocluster.yaml").read_text())
    cluster["spec"]["nodes"] = [{"name": n["name"], "address": n["address"]} for n in bed["nodes"]]
    site = yaml.safe_load((SAMPLES / "jobcentersite-classic.yaml").read_text())
    site["spec"].update(floatingIP=bed["floatingIP"], virtualHost=bed["virtualHost"],
                        databasePath=bed["databasePath"], failoverGroup=bed["failoverGroup"],
                        execResource=bed["execResource"], monitorIntervalSeconds=2)
    return yaml.safe_dump_all([cluster, site], sort_keys=False)


def prerequisites() -> None:
    """sshd and the other packages of the simulated nodes, and kubectl: installed by hack/system-prereqs
    (what `make demo` and .ci/run call), which otherwise stops with one sentence naming what is missing."""
    done = subprocess.run([str(REPO / "hack" / "system-prereqs"), "bed", "kubectl"], check=False)
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    # kubectl may be the PyPI wheel's, in .venv/bin: the stand-in's kubectl calls inherit this PATH.
    os.environ["PATH"] = os.pathsep.join([str(REPO / ".venv" / "bin"), os.environ.get("PATH", "")])


def main() -> int:
    if os.geteuid() != 0:
        print("the demo needs root (network, mount and PID namespaces for the simulated nodes)", file=sys.stderr)
        return 1
    prerequisites()
    work = REPO / ".state" / "demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    keep = os.environ.get("KEEP") == "1"
    operator: subprocess.Popen[bytes] | None = None
    standin: StandInProcess | None = None
    bed_up = False
    try:
        say("starting a simulated 2-node CLUSTERPRO cluster with JobCenter (hack.testbed)")
        if NAME in {c["name"] for c in testbed.list_clusters()}:
            testbed.down(NAME)
        bed = testbed.up(NAME, mode="classic")
        bed_up = True
        print(json.dumps({k: bed[k] for k in ("nodes", "floatingIP", "virtualHost", "databasePath",
                                               "failoverGroup", "activeNode")}, indent=2))

        say("starting the Kubernetes API stand-in with the CRDs (hack.standin)")
        standin = start_standin(work, REPO / "crds")
        print(f"API at {standin.url}, kubeconfig {standin.kubeconfig}")

        say("starting the operator")
        env = dict(standin.env, JCOP_TIMER_INTERVAL=os.environ.get("JCOP_TIMER_INTERVAL", "20"),
                   PYTHONPATH=str(REPO / "operator"))
        log = (work / "operator.log").open("wb")
        operator = subprocess.Popen([sys.executable, "-m", "jobcenter_operator", "run", "--namespace", "default"],
                                    cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        print(f"operator PID {operator.pid}, log {work / 'operator.log'}")

        say("kubectl apply: the credentials Secret (the bed's key and known_hosts) and manifests/samples")
        secret = kubectl(standin, "create", "secret", "generic", "jc-cluster-ssh",
                         "--type=jobcenter.clusterpro.io/ssh-credentials",
                         f"--from-file=ssh-privatekey={bed['privateKeyFile']}",
                         f"--from-file=known_hosts={bed['knownHostsFile']}", "--dry-run=client", "-o", "yaml")
        print(kubectl(standin, "apply", "-f", "-", input=secret), end="")
        print(kubectl(standin, "apply", "-f", "-", input=manifests(bed)), end="")

        say(f"kubectl wait --for=condition=Ready jobcentersite/cluv (up to {WAIT})")
        started = time.monotonic()
        waited = standin.kubectl("wait", "--for=condition=Ready", "jobcentersite/cluv", f"--timeout={WAIT}",
                                 timeout=900)
        print(waited.stdout or waited.stderr, end="")
        ready = waited.returncode == 0
        print(f"({time.monotonic() - started:.1f} s)")

        say("kubectl get cpc,jcs -o wide")
        print(kubectl(standin, "get", "cpc,jcs", "-o", "wide"), end="")
        say("conditions of jobcentersite/cluv")
        site = json.loads(kubectl(standin, "get", "jcs", "cluv", "-o", "json"))
        for c in site.get("status", {}).get("conditions", []):
            print(f"  {c['type']:<28} {c['status']:<8} {c['reason']:<22} {c['message']}")
        say(f"JobCenter processes on {bed['activeNode']} (ps inside the simulated node)")
        ps = testbed.exec_on(NAME, bed["activeNode"], ["ps", "-eo", "pid,ppid,args"])
        print("\n".join(line for line in ps["stdout"].splitlines() if "nqs" in line or "PID" in line))
        if not ready:
            print("\nthe site did not become Ready; operator log:", file=sys.stderr)
            print((work / "operator.log").read_text()[-6000:], file=sys.stderr)
            return 1
        if keep:
            say("KEEP=1: everything keeps running")
            print(f"export KUBECONFIG={standin.kubeconfig} KUBECACHEDIR={work / 'kubecache'}")
            print(f"stop with: kill {operator.pid} {standin.process.pid}; "
                  f".venv/bin/python -m hack.testbed down --name {NAME}")
        return 0
    finally:
        if not keep:
            say("tearing down")
            if operator is not None and operator.poll() is None:
                operator.send_signal(signal.SIGINT)
                try:
                    operator.wait(20)
                except subprocess.TimeoutExpired:
                    operator.kill()
                    operator.wait()
            if standin is not None:
                stop_standin(standin)
            if bed_up:
                testbed.down(NAME)


if __name__ == "__main__":
    sys.exit(main())
