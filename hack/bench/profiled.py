"""The operator under cProfile, switched on and off by signals (``BENCH_PROFILE``, steady scenario).

``python -m hack.bench.profiled OUT ARG...`` runs ``python -m jobcenter_operator ARG...`` in this
process; SIGUSR1 starts the profiler, SIGUSR2 stops it and writes the stats to ``OUT`` (pstats
format: ``python -m pstats OUT``). cProfile sees the main thread only, which is where the operator's
event loop runs (the /metrics server's thread is not in it). Bench-only: the operator has no switch.
"""

from __future__ import annotations

import cProfile
import gc
import signal
import sys
import time
from types import FrameType
from typing import Any


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    profiler = cProfile.Profile(time.process_time)  # CPU time: other processes preempting this one are not billed
    # The garbage collector's passes while profiling (CPU seconds and count by generation): cProfile
    # bills a collection to whatever function allocated when it started. Written beside OUT.
    collected: dict[int, list[float]] = {}
    began = [0.0]
    on = [False]

    def collector(phase: str, info: dict[str, Any]) -> None:
        if not on[0]:
            return
        if phase == "start":
            began[0] = time.process_time()
        else:
            seen = collected.setdefault(int(info["generation"]), [0, 0.0])
            seen[0] += 1
            seen[1] += time.process_time() - began[0]

    gc.callbacks.append(collector)

    def start(_sig: int, _frame: FrameType | None) -> None:
        on[0] = True
        profiler.enable()

    def stop(_sig: int, _frame: FrameType | None) -> None:
        profiler.disable()
        on[0] = False
        profiler.dump_stats(out)
        with open(out + ".gc", "w") as f:
            for generation, (count, seconds) in sorted(collected.items()):
                f.write(f"generation {generation}: {count} collections, {seconds * 1000:.1f} ms CPU\n")
            f.write(f"objects tracked: {len(gc.get_objects())}, frozen: {gc.get_freeze_count()}\n")

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from jobcenter_operator.cli import main as operator_main

    sys.argv = ["jobcenter_operator", *args]
    return operator_main()


if __name__ == "__main__":
    sys.exit(main())
