"""Pure parts of the bench: medians, ratios, the result table, audit-log and sshd-log counting."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def audit_commands_per_node(lines: Iterable[str]) -> Counter[str]:
    """Commands the operator sent, per node, from its JCOP_AUDIT_LOG (one JSON object a line)."""
    counts: Counter[str] = Counter()
    for line in lines:
        if line.strip():
            counts[str(json.loads(line)["node"])] += 1
    return counts


def sshd_handshakes(log_text: str) -> int:
    """Completed SSH logins in a node's sshd log (LogLevel INFO logs one line per authentication)."""
    return sum(1 for line in log_text.splitlines() if "Accepted publickey for " in line)


def per_node(total: float, nodes: int) -> float | None:
    return total / nodes if nodes else None


def ratio(value: float | None, floor: float | None) -> float | None:
    if value is None or floor is None or floor <= 0:
        return None
    return value / floor


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return text + unit
    return f"{value}{unit}"


# column title, key in a row, unit
COLUMNS = [
    ("scenario", "scenario", ""),
    ("N", "clusters", ""),
    ("runner", "runner", ""),
    ("wall (median)", "wall_s", " s"),
    ("x floor", "x_floor", ""),
    ("cmds/node", "commands_per_node", ""),
    ("trips/node", "round_trips_per_node", ""),
    ("handshakes/node", "handshakes_per_node", ""),
    ("KB/node", "kbytes_per_node", ""),
    ("runner CPU/site", "cpu_per_site_ms", " ms"),
    ("RSS", "rss_mb", " MB"),
    ("bed CPU share", "bed_share", ""),
    ("runs", "runs", ""),
]


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add x_floor (wall time over the floor's, same scenario and N) to every row."""
    floors = {(r["scenario"], r["clusters"]): r.get("wall_s") for r in rows if r["runner"] == "floor"}
    return [{**r, "x_floor": ratio(r.get("wall_s"), floors.get((r["scenario"], r["clusters"])))} for r in rows]


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of the result rows (medians already taken)."""
    head = "| " + " | ".join(c[0] for c in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = []
    for r in rows:
        cells = []
        for _, key, unit in COLUMNS:
            v = r.get(key)
            if key == "bed_share" and isinstance(v, float):
                cells.append(f"{v:.0%}")
            elif key == "x_floor" and isinstance(v, float):
                cells.append(f"{v:.2f}x")
            else:
                cells.append(_fmt(v, unit))
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, sep, *body])


def summarize(scenario: str, clusters: int, runner: str, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One table row: the median of every numeric measure over repeated runs."""
    row: dict[str, Any] = {"scenario": scenario, "clusters": clusters, "runner": runner, "runs": len(runs)}
    keys = {k for r in runs for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for k in sorted(keys):
        row[k] = median([float(r[k]) for r in runs if isinstance(r.get(k), (int, float))])
    return row
