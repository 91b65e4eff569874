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
from pathlib import Path
from typing import Any

from hack.testbed import api as testbed

from . import report

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / ".state" / "bench"


class Beds:
    """N fresh beds for one run of one runner; always taken down."""

    def __init__(self, n: int, mode: str) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.n, self.mode = n, mode
        self.docs: list[dict[str, Any]] = []

    def __enter__(self) -> list[dict[str, Any]]:
        for i in range(self.n):
            self.docs.append(testbed.up(f"b{self.tag}-{i}", mode=self.mode))
        return self.docs

    def __exit__(self, *_: object) -> None:
        for d in self.docs:
            testbed.down(d["name"])


def _operator_converge(n: int, mode: str, steady: bool, timer: float) -> dict[str, Any]:
    from .operator_run import OperatorRun

    with Beds(n, mode) as docs:
        run = OperatorRun(WORK / f"op-{uuid.uuid4().hex[:6]}", docs, timer_interval=timer)
        try:
            run.start()
            result = run.converge(timeout=120 + 10 * n)
            if not steady:
                from . import floor

                asyncio.run(floor.verify(docs))  # the same end state as the floor's (not timed)
            if steady:
                result = run.steady()
        finally:
            run.stop()
        return result


def _floor(n: int, mode: str, steady: bool) -> dict[str, Any]:
    from . import floor

    with Beds(n, mode) as docs:
        return floor.run(docs, steady=steady)


def _ansible(n: int, mode: str, steady: bool, pipelining: bool) -> dict[str, Any]:
    from . import ansible_run

    with Beds(n, mode) as docs:
        return ansible_run.run(docs, WORK / f"ans-{uuid.uuid4().hex[:6]}", steady=steady, pipelining=pipelining)


def runners(mode: str, steady: bool, timer: float, with_ansible: bool) -> dict[str, Callable[[int], dict[str, Any]]]:
    found: dict[str, Callable[[int], dict[str, Any]]] = {
        "floor": lambda n: _floor(n, mode, steady),
        "operator": lambda n: _operator_converge(n, mode, steady, timer),
    }
    if with_ansible:
        found["ansible"] = lambda n: _ansible(n, mode, steady, pipelining=False)
        found["ansible+pipelining"] = lambda n: _ansible(n, mode, steady, pipelining=True)
    return found


ANSIBLE_RUNNERS = ("ansible", "ansible+pipelining")


def scenario(name: str, n: int, runs: int, mode: str, timer: float, with_ansible: bool,
             only: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every runner (or those in ``only``) on fresh beds, `runs` times, interleaved (noise hits all
    runners alike)."""
    steady = name == "steady"
    todo = {k: v for k, v in runners(mode, steady, timer, with_ansible).items() if not only or k in only}
    raw: dict[str, list[dict[str, Any]]] = {r: [] for r in todo}
    for attempt in range(runs):
        for runner, fn in todo.items():
            print(f"[bench] {name} N={n} mode={mode} {runner} run {attempt + 1}/{runs}", file=sys.stderr, flush=True)
            try:
                raw[runner].append(fn(n))
            except Exception as ex:  # one runner failing must not lose the others' numbers
                print(f"[bench]   {runner} failed: {ex}", file=sys.stderr, flush=True)
    label = name if mode == "classic" else f"{name} ({mode})"
    return [{**report.summarize(label, n, runner, rs), "raw": rs} for runner, rs in raw.items() if rs]


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hack.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("converge", "steady"):
        s = sub.add_parser(name)
        s.add_argument("n", type=int, nargs="+", help="numbers of two-node clusters")
        s.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
        s.add_argument("--mode", default="classic", choices=["classic", "standard-manager"])
        s.add_argument("--timer", type=float, default=10.0, help="the operator's drift interval (steady)")
        s.add_argument("--no-ansible", action="store_true")
        s.add_argument("--out", type=Path, default=None)
    b = sub.add_parser("bedcost", help="the bed's CPU per simulated command, resident helper vs direct")
    b.add_argument("--commands", type=int, default=50)
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
    if args.cmd in ("converge", "steady"):
        rows = []
        for n in args.n:
            rows += scenario(args.cmd, n, args.runs, args.mode, args.timer, not args.no_ansible)
        write_results(rows, args.out or WORK / f"{args.cmd}.json")
        return 0
    if args.cmd == "bedcost":
        from . import bedcost

        result = bedcost.run(args.commands)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": machine(), **result}, indent=2))
        print(bedcost.table(result))
        return 0
    if args.cmd == "idle":
        from . import idle

        result = idle.run(args.clusters, args.seconds)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": machine(), **result}, indent=2))
        print(idle.table(result))
        return 0
    if args.cmd == "standin":
        from . import standin

        result = standin.run()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": machine(), **result}, indent=2))
        print(json.dumps(result, indent=2))
        return 0
    return run_all(args.out)


def run_all(out: Path) -> int:
    """`make bench`: sized to finish in under 20 minutes on a 2-core machine (see README.md)."""
    quick = os.environ.get("BENCH_QUICK") == "1"
    sizes = [1, 5] if quick else [1, 5, 20, 50]
    runs = int(os.environ.get("BENCH_RUNS", "1" if quick else "3"))
    rows: list[dict[str, Any]] = []

    def keep(new_rows: list[dict[str, Any]]) -> None:
        # written after every scenario: a run cut short still leaves what it measured
        rows.extend(new_rows)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".partial.json").write_text(json.dumps({"machine": machine(), "rows": rows},
                                                               indent=2, default=str))

    for n in sizes:
        # repeated runs of the floor and the operator where they are cheap; Ansible once, up to N=5
        keep(scenario("converge", n, runs if n <= 5 else 1, "classic", 10.0, with_ansible=False))
        if n <= 5:
            keep(scenario("converge", n, 1, "classic", 10.0, with_ansible=True, only=ANSIBLE_RUNNERS))
    keep(scenario("converge", 1, runs, "standard-manager", 10.0, with_ansible=False))
    for n in sizes[:2] if quick else [1, 5, 20]:
        keep(scenario("steady", n, 1, "classic", 10.0, with_ansible=n <= 5))
    from . import bedcost, standin

    cost = bedcost.run(50)
    print(bedcost.table(cost))
    latencies = standin.run()
    print(json.dumps({"standin": latencies}, indent=2))
    write_results(rows, out, {"bedcost": cost, "standin": latencies})
    return 0


if __name__ == "__main__":
    sys.exit(main())
