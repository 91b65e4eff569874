"""Prometheus metrics on ``/metrics`` (prometheus_client). No kopf here; handlers.py feeds them.

Names follow Prometheus and controller-runtime conventions (``*_total`` counters, ``*_seconds``
histograms, ``kind``/``result`` labels like ``controller_runtime_reconcile_total{controller,result}``):

- ``jobcenter_operator_reconcile_total{kind,result}`` and ``..._reconcile_duration_seconds{kind,result}``:
  every handler run; result is success, retry (a transient error, retried with backoff), stalled
  (needs a person), skipped (suspended, or a stalled site's timer tick with nothing changed) or error
  (an unexpected exception);
- ``jobcenter_operator_active_reconciles{kind}``: runs in progress (controller-runtime's active
  workers). kopf keeps its per-object queues private, so there is no workqueue depth to export;
- ``jobcenter_operator_ssh_command_duration_seconds{step}`` and ``..._ssh_command_errors_total{step,reason}``:
  every round trip to a node, by the name our commands carry (``stopgroup``, ``jcop-facts``...; several
  commands in one round trip: its first command's);
- ``jobcenter_operator_ssh_connections_open``: the node pool's cached connections;
- ``jobcenter_operator_drift_detected_total{kind,action}``: drift checks that found the nodes
  different from the spec (action corrected or reported);
- ``jobcenter_operator_resources{kind,condition,status,reason}``: objects by condition, status and reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .errors import OperatorError
from .node import BatchItem, CommandResult, NodeAddress, SSHCredentials, Timeouts, run_batch
from .outcome import SiteResult
from .plan.commands import unbounded
from .reconcile import Runner

PREFIX = "jobcenter_operator"
# SSH commands take from milliseconds (a probe) to minutes (cjcpw -stop takes 1-2 minutes).
COMMAND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
RECONCILE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def result_of(error: OperatorError | None) -> str:
    """A run's result label from how it ended."""
    if error is None:
        return "success"
    return "retry" if error.transient else "stalled"


def step_of(argv: Sequence[str]) -> str:
    """The command's name: our ``sh -c SCRIPT NAME ...`` wrappers carry it as $0, plain commands
    are their program's base name. A fixed set (the plan's commands), so labels stay bounded."""
    own = unbounded(tuple(argv))  # inside the node-lock wrapper: the action's own argv
    if own != tuple(argv):
        return step_of(own)
    if len(argv) > 3 and tuple(argv[:2]) == ("sh", "-c"):
        return str(argv[3])
    return os.path.basename(str(argv[0])) if argv else "unknown"


@dataclass
class ReconcileRecord:
    result: str = "error"  # set by the caller once it knows how the run ended


class _ResourceStates(Collector):
    """``..._resources``: counted at scrape time from each object's last known conditions."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str, str], tuple[tuple[str, str, str], ...]] = {}

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(f"{PREFIX}_resources", "Objects by condition, status and reason.",
                                   labels=["kind", "condition", "status", "reason"])
        counts: dict[tuple[str, str, str, str], int] = {}
        for (kind, _ns, _name), conditions in self.states.items():
            for cond in conditions:
                key = (kind, *cond)
                counts[key] = counts.get(key, 0) + 1
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        yield family


class Metrics:
    """The operator's metrics in a registry of their own (plus the process and Python collectors)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.reconciles = Counter(f"{PREFIX}_reconcile_total", "Reconcile runs by kind and result.",
                                  ["kind", "result"], registry=r)
        self.reconcile_seconds = Histogram(f"{PREFIX}_reconcile_duration_seconds", "Reconcile run duration.",
                                           ["kind", "result"], buckets=RECONCILE_BUCKETS, registry=r)
        self.active = Gauge(f"{PREFIX}_active_reconciles", "Reconcile runs in progress.", ["kind"], registry=r)
        self.command_seconds = Histogram(f"{PREFIX}_ssh_command_duration_seconds",
                                         "Duration of commands sent to the nodes, by step.", ["step"],
                                         buckets=COMMAND_BUCKETS, registry=r)
        self.command_errors = Counter(f"{PREFIX}_ssh_command_errors_total",
                                      "Commands that failed (unreachable, timeout, non-zero exit...), by step and "
                                      "reason.", ["step", "reason"], registry=r)
        self.drift = Counter(f"{PREFIX}_drift_detected_total",
                             "Drift checks that found the nodes different from the spec.", ["kind", "action"],
                             registry=r)
        self.connections = Gauge(f"{PREFIX}_ssh_connections_open", "SSH connections open to the nodes.", registry=r)
        self._states = _ResourceStates()
        r.register(self._states)

    @contextmanager
    def reconciling(self, kind: str) -> Iterator[ReconcileRecord]:
        record = ReconcileRecord()
        started = time.monotonic()
        self.active.labels(kind).inc()
        try:
            yield record
        finally:
            self.active.labels(kind).dec()
            self.reconciles.labels(kind, record.result).inc()
            self.reconcile_seconds.labels(kind, record.result).observe(time.monotonic() - started)

    def record_status(self, kind: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self._states.states[(kind, namespace, name)] = tuple(
            (str(c.get("type")), str(c.get("status")), str(c.get("reason"))) for c in status.get("conditions") or ())

    def forget(self, kind: str, namespace: str, name: str) -> None:
        self._states.states.pop((kind, namespace, name), None)

    def record_drift(self, kind: str, result: SiteResult) -> None:
        """A drift check's result: steps ran (the drift was corrected) or changes are only reported."""
        if any(step.ok for step in result.steps):
            self.drift.labels(kind, "corrected").inc()
        elif not result.enforced and result.plan is not None and result.plan.actions:
            self.drift.labels(kind, "reported").inc()

    def watch_connections(self, stats: Callable[[], Mapping[str, int]]) -> None:
        self.connections.set_function(lambda: float(stats().get("connections_open", 0)))

    def metered(self, runner: Runner) -> Runner:
        return MeteredRunner(runner, self)

    def serve(self, port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 (a pod's port; the Service selects it)
        start_http_server(port, addr=address, registry=self.registry)


class MeteredRunner:
    """A Runner that times every command and counts its failures, around the node pool."""

    def __init__(self, runner: Runner, metrics: Metrics) -> None:
        self._runner, self._metrics = runner, metrics

    async def run(
        self,
        node: NodeAddress,
        creds: SSHCredentials,
        timeouts: Timeouts,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> CommandResult:
        step = step_of(argv)
        started = time.monotonic()
        try:
            return await self._runner.run(node, creds, timeouts, argv, input=input, check=check, timeout=timeout)
        except OperatorError as exc:
            self._metrics.command_errors.labels(step, exc.reason).inc()
            raise
        finally:
            self._metrics.command_seconds.labels(step).observe(time.monotonic() - started)

    async def run_batch(self, node: NodeAddress, creds: SSHCredentials, timeouts: Timeouts,
                        items: Sequence[BatchItem], *,
                        timeout: float | None = None) -> list[CommandResult | OperatorError]:  # noqa: ASYNC109
        """Several commands in one round trip: timed as one, under its first command's step (so the
        count stays one per round trip, and the steps a build sends still show by name); failures by
        their own step."""
        started = time.monotonic()
        first = step_of(items[0].argv) if items else "batch"
        try:
            results = await run_batch(self._runner, node, creds, timeouts, items, timeout=timeout)
        except OperatorError as exc:
            self._metrics.command_errors.labels(first, exc.reason).inc()
            raise
        finally:
            self._metrics.command_seconds.labels(first).observe(time.monotonic() - started)
        for item, got in zip(items, results, strict=False):
            if isinstance(got, OperatorError):
                self._metrics.command_errors.labels(step_of(item.argv), got.reason).inc()
        return results
