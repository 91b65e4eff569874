"""`python -m hack.bench converge N | steady N | bedcost | standin | all` (see README.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hack.testbed import api as testbed

from . import report

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".state" / "bench"


BED_WORKERS = 4  # beds are built and taken down this many at a time (outside every timed window)


class Beds:
    """N fresh beds for one run of one runner; always taken down. Built and removed a few at a time:
    bed set-up is outside the measured window, and N=50 would otherwise spend minutes on it."""

    def __init__(self, n: int, mode: str) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.n, self.mode = n, mode
        self.names = [f"b{self.tag}-{i}" for i in range(n)]
        self.up: list[str] = []

    def __enter__(self) -> list[dict[str, Any]]:
        def one(name: str) -> dict[str, Any]:
            doc = testbed.up(name, mode=self.mode)
            self.up.append(name)
            return doc

        try:
            with ThreadPoolExecutor(BED_WORKERS) as pool:
                return list(pool.map(one, self.names))  # in order: bed i is cluster c<i>
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *_: object) -> None:
        with ThreadPoolExecutor(BED_WORKERS) as pool:
            list(pool.map(testbed.down, self.up))
        self.up = []


Result = dict[str, Any]  # a runner's converge numbers; with steady, its drift-check numbers under "steady"
Runner = Callable[[int, bool], Result]


def _verify(docs: list[dict[str, Any]]) -> None:
    from . import floor

    asyncio.run(floor.verify(docs))  # the same end state as the floor's (not timed)


def _operator(n: int, mode: str, timer: float, steady: bool, replicas: int = 0) -> Result:
    from .operator_run import OperatorRun

    with Beds(n, mode) as docs:
        run = OperatorRun(WORK / f"op-{uuid.uuid4().hex[:6]}", docs, timer_interval=timer, replicas=replicas)
        try:
            run.start()
            result = run.converge(timeout=120 + 10 * n)
            _verify(docs)
            if steady:
                result["steady"] = run.steady()
        finally:
            run.stop()
        return result


def _floor(n: int, mode: str, steady: bool) -> Result:
    from . import floor

    with Beds(n, mode) as docs:
        return floor.run(docs, steady=steady)


def _ansible(n: int, mode: str, steady: bool, pipelining: bool) -> Result:
    from . import ansible_run

    with Beds(n, mode) as docs:
        return ansible_run.run(docs, WORK / f"ans-{uuid.uuid4().hex[:6]}", steady=steady, pipelining=pipelining)


ANSIBLE_RUNNERS = ("ansible", "ansible+pipelining")


def replicas_runner(r: int) -> str:
    return f"operator, {r} replicas"


def runners(mode: str, timer: float, with_ansible: bool, replicas: tuple[int, ...] = ()) -> dict[str, Runner]:
    found: dict[str, Runner] = {
        "floor": lambda n, steady: _floor(n, mode, steady),
        "operator": lambda n, steady: _operator(n, mode, timer, steady),
    }
    for r in replicas:
        found[replicas_runner(r)] = lambda n, steady, r=r: _operator(n, mode, timer, steady, replicas=r)
    if with_ansible:
        found["ansible"] = lambda n, steady: _ansible(n, mode, steady, pipelining=False)
        found["ansible+pipelining"] = lambda n, steady: _ansible(n, mode, steady, pipelining=True)
    return found


def scenario(n: int, runs: int, mode: str, timer: float, with_ansible: bool, only: tuple[str, ...] = (),
             steady_runs: int = 0, converge: bool = True, replicas: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """Every runner (or those in ``only``) on fresh beds, ``runs`` times, interleaved (noise hits all
    runners alike). The first ``steady_runs`` runs go on, once converged, to the steady state (a
    drift check with warm connections) on the same beds: no second set of beds and convergence.
    Rows: ``converge`` (unless ``converge`` is False: the steady command) and ``steady``."""
    todo = {k: v for k, v in runners(mode, timer, with_ansible, replicas).items() if not only or k in only}
    raw: dict[str, list[Result]] = {r: [] for r in todo}
    for attempt in range(runs):
        for runner, fn in todo.items():
            steady = attempt < steady_runs
            print(f"[bench] N={n} mode={mode} {runner} run {attempt + 1}/{runs}{' +steady' if steady else ''} "
                  f"({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
            try:
                raw[runner].append(fn(n, steady))
            except Exception as ex:  # one runner failing must not lose the others' numbers
                print(f"[bench]   {runner} failed: {ex}", file=sys.stderr, flush=True)
    suffix = "" if mode == "classic" else f" ({mode})"
    rows = []
    if converge:
        rows += [{**report.summarize("converge" + suffix, n, runner, rs), "raw": rs}
                 for runner, rs in raw.items() if rs]
    for runner, rs in raw.items():
        steadies = [r["steady"] for r in rs if "steady" in r]
        if steadies:
            rows.append({**report.summarize("steady" + suffix, n, runner, steadies), "raw": steadies})
    return rows


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "loadavg_at_start": [round(x, 2) for x in load],
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def write_results(rows: list[dict[str, Any]], out: Path, extra: dict[str, Any] | None = None) -> None:
    rows = report.with_ratios(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "rows": rows, **(extra or {})}, indent=2, default=str))
    print(report.table(rows))
    print(f"\nresults: {out}")


def _write(out: Path, result: dict[str, Any]) -> None:
    """A scenario's result, with the machine it ran on, as JSON."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), **result}, indent=2))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hack.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("converge", "steady", "replicas"):
        s = sub.add_parser(name)
        s.add_argument("n", type=int, nargs="+", help="numbers of two-node clusters")
        runs = os.environ.get("BENCH_RUNS", "1" if name == "replicas" else "3")
        s.add_argument("--runs", type=int, default=int(runs))
        s.add_argument("--mode", default="classic", choices=["classic", "standard-manager"])
        s.add_argument("--timer", type=float, default=10.0, help="the operator's drift interval (steady)")
        if name == "replicas":
            s.add_argument("--replicas", type=int, default=3, help="sharded replicas beside the one operator")
        else:
            s.add_argument("--no-ansible", action="store_true")
        if name == "converge":
            s.add_argument("--steady", action="store_true", help="the first run goes on to the steady state")
        s.add_argument("--out", type=Path, default=None)
    b = sub.add_parser("bedcost", help="the bed's CPU per simulated command, resident helper vs direct")
    b.add_argument("--commands", type=int, default=50)
    b.add_argument("--lifecycle-runs", type=int, default=3, help="timed `up`/`down` of one bed (CLI)")
    b.add_argument("--out", type=Path, default=WORK / "bedcost.json")
    i = sub.add_parser("idle", help="CPU of an idle bed per cluster (converged, nothing talking to it)")
    i.add_argument("--clusters", type=int, default=3)
    i.add_argument("--seconds", type=float, default=20.0)
    i.add_argument("--out", type=Path, default=WORK / "idle.json")
    st = sub.add_parser("standin", help="the API stand-in's start-up and request latencies")
    st.add_argument("--out", type=Path, default=WORK / "standin.json")
    a = sub.add_parser("all", help="what `make bench` runs (BENCH_QUICK=1: N in 1 and 5)")
    a.add_argument("--out", type=Path, default=WORK / "results.json")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("the bench needs root (the test bed's namespaces)", file=sys.stderr)
        return 1
    if args.cmd in ("converge", "steady", "replicas"):
        rows = []
        for n in args.n:
            if args.cmd == "replicas":
                rows += scenario(n, args.runs, args.mode, args.timer, False, replicas=(args.replicas,))
            else:
                steady_runs = args.runs if args.cmd == "steady" else int(args.steady)
                rows += scenario(n, args.runs, args.mode, args.timer, not args.no_ansible, steady_runs=steady_runs,
                                 converge=args.cmd == "converge")
        write_results(rows, args.out or WORK / f"{args.cmd}.json")
        return 0
    if args.cmd == "bedcost":
        from . import bedcost

        result = bedcost.run(args.commands, args.lifecycle_runs)
        _write(args.out, result)
        print(bedcost.table(result))
        return 0
    if args.cmd == "idle":
        from . import idle

        result = idle.run(args.clusters, args.seconds)
        _write(args.out, result)
        print(idle.table(result))
        return 0
    if args.cmd == "standin":
        from . import standin

        result = standin.run()
        _write(args.out, result)
        print(json.dumps(result, indent=2))
        return 0
    return run_all(args.out)


def run_all(out: Path) -> int:
    """`make bench`: sized to finish in under 20 minutes on a 2-core machine (see README.md).

    Medians over 3 runs for N = 1 and 5 (floor and operator), one run at N = 20 and 50 and for
    Ansible; the steady state is measured on the beds of the first converge run (no second set of
    beds); N = 50 also with 3 sharded operator replicas (issue 16). BENCH_QUICK=1: N in 1 and 5,
    one run each, the replicas at N = 5. BENCH_RUNS overrides the 3."""
    quick = os.environ.get("BENCH_QUICK") == "1"
    runs = int(os.environ.get("BENCH_RUNS", "1" if quick else "3"))
    started = time.monotonic()
    rows: list[dict[str, Any]] = []

    def keep(new_rows: list[dict[str, Any]]) -> None:
        # written after every scenario: a run cut short still leaves what it measured
        rows.extend(new_rows)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".partial.json").write_text(json.dumps({"machine": machine(), "rows": rows},
                                                               indent=2, default=str))

    for n in (1, 5):
        # quick: the replicas at N=5 beside the same floor (one floor row per scenario and N)
        keep(scenario(n, runs, "classic", 10.0, with_ansible=False, steady_runs=1,
                      replicas=(3,) if quick and n == 5 else ()))
        keep(scenario(n, 1, "classic", 10.0, with_ansible=True, only=ANSIBLE_RUNNERS, steady_runs=1))
    if not quick:
        keep(scenario(20, 1, "classic", 10.0, with_ansible=False, steady_runs=1))
        keep(scenario(50, 1, "classic", 10.0, with_ansible=False, replicas=(3,)))
    keep(scenario(1, runs, "standard-manager", 10.0, with_ansible=False))
    from . import bedcost, idle, standin

    quiet = idle.run(2 if quick else 3, 10.0 if quick else 20.0)
    print(idle.table(quiet))
    cost = bedcost.run(20 if quick else 50, 3)
    print(bedcost.table(cost))
    latencies = standin.run()
    print(json.dumps({"standin": latencies}, indent=2))
    minutes = (time.monotonic() - started) / 60
    print(f"\nmake bench: {minutes:.1f} minutes (load average now {os.getloadavg()[0]:.1f})")
    write_results(rows, out, {"idle": quiet, "bedcost": cost, "standin": latencies, "minutes": round(minutes, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
