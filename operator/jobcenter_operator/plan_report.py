"""What ``plan`` prints and how it exits: a report (the ``-o json`` document), a human table, an
exit code. Pure: a reconcile result in, text and numbers out.

Exit codes (the CLI's help lists them too): 0 converged, 2 changes pending, 1 error (a node, a
preflight check or the input), 64 usage (EX_USAGE of sysexits.h). 2 is not argparse's usage
code here: a script can tell "the site needs work" from "you called it wrong".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .outcome import SiteResult

EXIT_CONVERGED = 0
EXIT_ERROR = 1
EXIT_PENDING = 2
EXIT_USAGE = 64


def build_report(site: str, result: SiteResult) -> dict[str, Any]:
    """The JSON report: site, activeNode, and error / preflight / actions / processes when known."""
    report: dict[str, Any] = {"site": site, "activeNode": result.active_node}
    if result.error is not None:
        report["error"] = {"reason": result.error.reason, "message": result.error.message}
    if result.plan is not None:
        report["preflight"] = [{"reason": f.reason, "node": f.node, "message": f.message}
                               for f in result.plan.preflight]
        report["actions"] = [{"node": a.node, "action": a.kind, "reason": a.reason, "message": a.message,
                              "disruptive": a.disruptive} for a in result.plan.actions]
    gate = result.gate
    if gate is not None and result.plan is not None and result.plan.actions:
        report["disruption"] = {"verdict": gate.verdict, "message": gate.message, "planHash": gate.plan_hash,
                                "nextWindowStart": _stamp(gate.next_window)}
    if result.health is not None:
        report["processes"] = {"healthy": result.health.healthy, "found": result.health.found,
                               "expected": result.health.expected, "message": result.health.message}
    report["exitCode"] = exit_code(report)
    return report


def _stamp(instant: datetime | None) -> str | None:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if instant is not None else None


def exit_code(report: dict[str, Any]) -> int:
    if report.get("error") or report.get("preflight"):
        return EXIT_ERROR
    return EXIT_PENDING if report.get("actions") else EXIT_CONVERGED


def _one_line(text: object) -> str:
    return " ".join(str(text if text is not None else "-").split())


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Columns padded like `kubectl get`: upper-case headers, two spaces apart, last column free."""
    cells = [[_one_line(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [list(headers), *cells]) for i in range(len(headers) - 1)]
    lines = []
    for row in [list(headers), *cells]:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return lines


def render_table(report: dict[str, Any]) -> str:
    """The report for a person: what is wrong, what would change, and the verdict last."""
    lines = [f"Site {report['site']}: active node {report.get('activeNode') or 'unknown'}"]
    if report.get("error"):
        error = report["error"]
        lines.append(f"Error: {error['reason']}: {_one_line(error['message'])}")
    if report.get("preflight"):
        lines += ["", "Preflight failures:"]
        lines += table(["NODE", "REASON", "MESSAGE"],
                       [[f["node"], f["reason"], f["message"]] for f in report["preflight"]])
    if report.get("actions"):
        lines += ["", "Changes the operator would make, in order:"]
        lines += table(["#", "NODE", "ACTION", "DISRUPTIVE", "REASON", "MESSAGE"],
                       [[i, a["node"], a["action"], "yes" if a.get("disruptive") else "no", a["reason"], a["message"]]
                        for i, a in enumerate(report["actions"], start=1)])
    if report.get("disruption"):
        d = report["disruption"]
        lines += ["", f"Disruption: {d['verdict']}: {_one_line(d['message'])}"]
        if d.get("nextWindowStart"):
            lines.append(f"Next maintenance window opens {d['nextWindowStart']}")
    if report.get("processes"):
        p = report["processes"]
        state = "healthy" if p["healthy"] else "not healthy"
        lines += ["", f"Processes: {p['found']}/{p['expected']} {state}: {_one_line(p['message'])}"]
    lines += ["", _verdict(report)]
    return "\n".join(lines) + "\n"


def _verdict(report: dict[str, Any]) -> str:
    code = report["exitCode"]
    if code == EXIT_CONVERGED:
        return "Converged: nothing to change (exit 0)."
    if code == EXIT_PENDING:
        count = len(report["actions"])
        return f"{count} change{'s' if count != 1 else ''} pending (exit 2). Nothing was changed on the nodes."
    return "Not planned to the end (exit 1): fix what is reported above and run plan again."
