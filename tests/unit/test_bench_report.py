"""The bench's pure parts: audit-log and sshd-log counting, medians, ratios and the result table."""

from __future__ import annotations

import json

from hack.bench import report


def test_audit_log_is_counted_per_node() -> None:
    lines = [json.dumps({"node": "clu1", "argv": ["sh", "-c", "x", "jcop-facts"]}),
             json.dumps({"node": "clu2", "argv": ["/usr/lib/nqs/nqsstop"]}), "",
             json.dumps({"node": "clu1", "argv": ["/usr/lib/nqs/nqsstart"]})]
    assert report.audit_commands_per_node(lines) == {"clu1": 2, "clu2": 1}


def test_sshd_handshakes_count_accepted_logins_only() -> None:
    log = ("Server listening on 0.0.0.0 port 22.\n"
           "Accepted publickey for root from 10.200.1.1 port 40000 ssh2: ED25519 SHA256:abc\n"
           "Received disconnect from 10.200.1.1 port 40000:11: disconnected by user\n"
           "Accepted publickey for root from 10.200.1.1 port 40002 ssh2: ED25519 SHA256:abc\n")
    assert report.sshd_handshakes(log) == 2


def test_summary_takes_medians_and_ratios_are_against_the_floor() -> None:
    floor = report.summarize("converge", 5, "floor", [{"wall_s": 1.0}, {"wall_s": 3.0}, {"wall_s": 2.0}])
    op = report.summarize("converge", 5, "operator", [{"wall_s": 5.0, "rss_mb": 80.0}, {"wall_s": 7.0, "rss_mb": 90.0}])
    assert floor["wall_s"] == 2.0 and floor["runs"] == 3
    assert op["wall_s"] == 6.0 and op["rss_mb"] == 85.0
    rows = report.with_ratios([floor, op])
    assert [r["x_floor"] for r in rows] == [1.0, 3.0]


def test_table_renders_units_percentages_and_missing_values() -> None:
    rows = report.with_ratios([
        report.summarize("steady", 1, "floor", [{"wall_s": 0.5, "bed_share": 0.25}]),
        report.summarize("steady", 1, "operator", [{"cpu_per_site_ms": 12.0}]),
    ])
    lines = report.table(rows).splitlines()
    assert lines[0].startswith("| scenario | N | runner | wall (median) | x floor |")
    assert lines[2] == "| steady | 1 | floor | 0.5 s | 1.00x | - | - | - | - | - | - | 25% | 1 |"
    assert lines[3] == "| steady | 1 | operator | - | - | - | - | - | - | 12 ms | - | - | 1 |"
