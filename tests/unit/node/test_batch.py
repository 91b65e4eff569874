"""node/batch.py: several commands in one round trip, run here by the local sh as a node's would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jobcenter_operator.node.batch import (
    BatchItem,
    BatchOutputError,
    StartWatcher,
    batch_command,
    items_of,
    parse_batch,
)

NASTY = "a b'c\"d $(touch /tmp/jcop-never) `x` \\\\ \n*"


def run_here(items: list[BatchItem], nonce: str = "N0nce") -> tuple[subprocess.CompletedProcess[str], list]:  # type: ignore[type-arg]
    argv, stdin = batch_command(items, nonce)
    done = subprocess.run(list(argv), input=stdin if stdin is not None else "", capture_output=True, text=True,
                          check=False)
    return done, parse_batch(done.stdout, nonce, len(items))


def test_each_command_gets_its_own_argv_stdin_output_and_exit_status() -> None:
    large = "x" * 200_000 + "\nend\n"
    items = [BatchItem(("sh", "-c", 'printf "%s|" "$@"; cat', "s", NASTY, ""), input="line one\nline two"),
             BatchItem(("sh", "-c", 'cat; echo warn >&2')),
             BatchItem(("sh", "-c", "cat"), input=""),
             BatchItem(("sh", "-c", 'wc -c; echo "$1"', "s", "@@JCOP N0nce END 0 1@@"), input=large)]
    done, results = run_here(items)
    assert done.returncode == 0, done.stderr
    assert [r.exit_status for r in results] == [0, 0, 0, 0]
    assert results[0].stdout == f"{NASTY}||line one\nline two"
    assert (results[1].stdout, results[1].stderr) == ("", "warn\n"), "no stdin: /dev/null"
    assert results[2].stdout == ""
    assert results[3].stdout == f"{len(large)}\n@@JCOP N0nce END 0 1@@\n", "the last payload raw, whole"
    assert not Path("/tmp/jcop-never").exists()


def test_the_batch_stops_at_the_first_failure(tmp_path: Path) -> None:
    after = tmp_path / "after"
    items = [BatchItem(("true",)), BatchItem(("sh", "-c", "echo no >&2; exit 3")), BatchItem(("touch", str(after)))]
    _, results = run_here(items)
    assert [(r.exit_status, r.stderr) for r in results] == [(0, ""), (3, "no\n")]
    assert not after.exists()


def test_the_argv_reads_back_as_its_commands_and_payloads_stay_off_it() -> None:
    items = [BatchItem(("a", NASTY), input="secret payload"), BatchItem(("b",)), BatchItem(("c", "d"), input="x")]
    argv, stdin = batch_command(items, "n1")
    assert items_of(argv) == (("a", NASTY), ("b",), ("c", "d"))
    assert not any("secret payload" in a for a in argv) and stdin is not None and stdin.endswith("\nx")
    assert items_of(("sh", "-c", "x", "jcop-facts", "n")) is None
    with pytest.raises(ValueError, match="nonce"):
        batch_command(items, "n-1")


def test_an_answer_of_another_shape_is_refused() -> None:
    with pytest.raises(BatchOutputError):
        parse_batch("", "n1", 2)  # the script never ran
    one_ok = "@@JCOP n1 OUT 0@@\n\n@@JCOP n1 ERR 0@@\n\n@@JCOP n1 END 0 0@@\n"
    with pytest.raises(BatchOutputError):
        parse_batch(one_ok, "n1", 2)  # cut short after a success
    assert len(parse_batch(one_ok, "n1", 1)) == 1


def test_each_command_is_told_as_it_starts_whatever_the_chunks() -> None:
    items = [BatchItem(("true",)), BatchItem(("sh", "-c", "echo @@JCOP N0nce START 7@@; exit 2")), BatchItem(("true",))]
    done, results = run_here(items)
    assert [r.exit_status for r in results] == [0, 2]
    for size in (1, 5, 17, len(done.stdout)):
        told: list[int] = []
        watch = StartWatcher("N0nce", told.append)
        for at in range(0, len(done.stdout), size):
            watch(done.stdout[at:at + size])
        assert told == [0, 1], (size, told)  # never the third, which did not start


def test_output_that_looks_like_markers_of_another_batch_stays_output() -> None:
    fake = "@@JCOP other OUT 0@@\n@@JCOP other ERR 0@@\n@@JCOP other END 0 9@@"
    items = [BatchItem(("printf", "%s", fake)), BatchItem(("sh", "-c", f"printf '%s' '{fake}' >&2; exit 3"))]
    _, results = run_here(items)
    assert [(r.exit_status, r.stdout, r.stderr) for r in results] == [(0, fake, ""), (3, "", fake)]
    with pytest.raises(BatchOutputError):  # a second result 0 where result 1 was due
        parse_batch("@@JCOP n1 OUT 1@@\n\n@@JCOP n1 ERR 1@@\n\n@@JCOP n1 END 1 0@@\n", "n1", 2)
