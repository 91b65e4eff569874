"""`python -m jobcenter_operator`: one-line errors (never a traceback), distinct exit codes (0 converged,
2 pending, 1 error, 64 usage), --version, a help without internal notes, and credentials that are
only ever read from files or the environment."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jobcenter_operator.cli import PASSPHRASE_ENV, PASSWORD_ENV, build_parser, credentials
from jobcenter_operator.manifest_files import ManifestError

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "manifests" / "samples"


def _cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobcenter_operator", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False, cwd=REPO, env=env)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_version() -> None:
    result = _cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "jobcenter-operator 0.1.0"


def test_help_is_for_users() -> None:
    for args in (["--help"], ["plan", "--help"]):
        result = _cli(*args)
        assert result.returncode == 0
        for internal in ("kopf", "handlers", "``", "reconcile_site", "Thin on purpose"):
            assert internal not in result.stdout, (args, internal)
        assert "64  usage" in result.stdout and "2   changes pending" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "jobcenter-operator: the following arguments are required: {run,plan,approve} (see --help)"),
        (["plan"], "jobcenter-operator plan: give -f PATH (a file, a directory or -) or the NAME of a site in "
                   "the cluster (see plan --help)"),
        (["plan", "-f"], "jobcenter-operator plan: argument -f/--filename: expected one argument (see --help)"),
        (["plan", "-o", "yaml", "x"], "jobcenter-operator plan: argument -o/--output: invalid choice: 'yaml' "
                                      "(choose from table, json) (see --help)"),
        # No abbreviations: --password must not silently mean --password-file, and the value is not echoed.
        (["plan", "cluv", "--password", "hunter2"], "jobcenter-operator: unrecognized arguments: --password "
                                                    "(see --help)"),
        (["run", "--bogus"], "jobcenter-operator: unrecognized arguments: --bogus (see --help)"),
    ],
)
def test_usage_errors_exit_64_on_one_line(args: list[str], expected: str) -> None:
    result = _cli(*args)
    assert result.returncode == 64
    line = _one_error_line(result)
    assert line.replace("'table', 'json'", "table, json") == expected
    assert "hunter2" not in result.stderr


def test_input_errors_exit_1_on_one_line(tmp_path: Path) -> None:
    site = yaml.safe_load((SAMPLES / "jobcentersite-classic.yaml").read_text())
    site["spec"]["machineId"] = "114"  # a string: the CRD refuses it, so do the models
    bad_site = tmp_path / "site.yaml"
    bad_site.write_text(yaml.safe_dump(site))
    cases = {
        "missing file": (["-f", str(tmp_path / "nope.yaml")], f"{tmp_path / 'nope.yaml'}: no such file or directory"),
        "empty directory": (["-f", str(tmp_path / "empty")], "a directory without .yaml, .yml, .json files"),
        "bad YAML on stdin": (["-f", "-"], "stdin: not valid YAML: "),
        "invalid spec": (["-f", str(bad_site), "-f", str(SAMPLES / "clusterprocluster.yaml")],
                         f"invalid JobCenterSite 'cluv' ({bad_site}): spec.machineId: Input should be a valid integer"),
        "no credentials": (["-f", str(SAMPLES / "jobcentersite-classic.yaml"), "-f",
                            str(SAMPLES / "clusterprocluster.yaml")], "no credentials: give --ssh-key"),
        "unreadable key": (["-f", str(SAMPLES / "jobcentersite-classic.yaml"), "-f",
                            str(SAMPLES / "clusterprocluster.yaml"), "--ssh-key", str(tmp_path / "missing-key")],
                           f"--ssh-key {tmp_path / 'missing-key'}: No such file or directory"),
    }
    (tmp_path / "empty").mkdir()
    for what, (args, expected) in cases.items():
        result = _cli("plan", *args, stdin="kind: [unclosed\n")
        assert result.returncode == 1, (what, result.stderr)
        line = _one_error_line(result)
        assert line.startswith("jobcenter-operator plan: "), what
        assert expected in line, (what, line)
        assert result.stdout == "", what


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["plan", "x", *argv])


def test_credentials_come_from_files_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, phrase, password = tmp_path / "key", tmp_path / "phrase", tmp_path / "password"
    key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n...\n")
    phrase.write_text("from the file\n")  # made with echo: the newline is not part of it
    password.write_text("pw\n")
    from_secret = {"ssh-privatekey": b"secret key", "known_hosts": b"h k\n", "passphrase": b"secret phrase"}

    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert credentials(_args(), from_secret) == from_secret
    got = credentials(_args("--ssh-key", str(key), "--passphrase-file", str(phrase)), from_secret)
    assert got["ssh-privatekey"] == key.read_bytes() and got["passphrase"] == b"from the file"
    assert got["known_hosts"] == b"h k\n"

    monkeypatch.setenv(PASSPHRASE_ENV, "from the environment")
    monkeypatch.setenv(PASSWORD_ENV, "env password")
    got = credentials(_args(), from_secret)
    assert got["passphrase"] == b"from the environment" and got["password"] == b"env password"
    # A file given on the command line wins over the environment.
    assert credentials(_args("--password-file", str(password)), None)["password"] == b"pw"


def test_credentials_that_cannot_work_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    with pytest.raises(ManifestError, match=r"^no credentials: "):
        credentials(_args(), {"known_hosts": b"h k\n"})
    with pytest.raises(ManifestError, match=r"^InvalidSpec: the credentials' known_hosts is not UTF-8 text$"):
        credentials(_args(), {"ssh-privatekey": b"k", "known_hosts": b"\xff\xfe"})
