"""hack/system-prereqs (what `make demo`, `make test`, `make image` and .ci/run call): installs missing
Debian packages as root, or stops with one sentence naming them and the command that installs them.

dpkg-query, apt-get and id are stand-ins on PATH here (a state file of installed packages), so the test
never changes the machine."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "hack" / "system-prereqs"
BED = ["openssh-server", "openssh-client", "iproute2", "iputils-ping", "iputils-arping", "procps", "psmisc",
       "util-linux"]

FAKE_DPKG_QUERY = """#!/bin/sh
# dpkg-query -W -f='${Status}' PKG: a removed package keeps its config files (exit 0, not installed)
for pkg in "$@"; do :; done  # the last argument
if grep -qx "$pkg" "$STATE"; then printf 'install ok installed'; exit 0; fi
if grep -qx "$pkg" "$STATE.removed"; then printf 'deinstall ok config-files'; exit 0; fi
echo "dpkg-query: no packages found matching $pkg" >&2; exit 1
"""
FAKE_APT_GET = """#!/bin/sh
echo "$*" >> "$STATE.apt-log"
[ -n "$APT_BROKEN" ] && exit 100
case " $* " in *" install "*)
  for a in "$@"; do case "$a" in -*|install|DPkg::*) ;; *) echo "$a" >> "$STATE" ;; esac; done ;;
esac
exit 0
"""


def fake(bin_dir: Path, name: str, text: str) -> None:
    path = bin_dir / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture()
def machine(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake(bin_dir, "dpkg-query", FAKE_DPKG_QUERY)
    fake(bin_dir, "apt-get", FAKE_APT_GET)
    state = tmp_path / "installed"
    state.write_text("\n".join(p for p in BED if p != "openssh-server") + "\n")
    (tmp_path / "installed.removed").write_text("openssh-server\n")
    return dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", STATE=str(state), JCOP_PREREQS="")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def apt_log(env: dict[str, str]) -> str:
    log = Path(env["STATE"] + ".apt-log")
    return log.read_text() if log.exists() else ""


def test_as_root_a_removed_package_is_installed(machine: dict[str, str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("the install path runs as root")
    done = run(machine, "bed")
    assert done.returncode == 0, done.stderr
    assert "install" in apt_log(machine) and "openssh-server" in apt_log(machine)
    assert "openssh-client" not in apt_log(machine)  # only what is missing
    assert run(machine, "bed").returncode == 0


def test_nothing_missing_installs_nothing(machine: dict[str, str]) -> None:
    Path(machine["STATE"]).write_text("\n".join(BED) + "\n")
    done = run(machine, "bed")
    assert done.returncode == 0, done.stderr
    assert apt_log(machine) == ""


@pytest.mark.parametrize("how", ["--check", "JCOP_PREREQS=check", "not root"])
def test_without_installing_it_stops_with_one_sentence_naming_package_and_command(
        machine: dict[str, str], tmp_path: Path, how: str) -> None:
    args = ["bed"]
    if how == "--check":
        args.insert(0, "--check")
    elif how == "JCOP_PREREQS=check":
        machine["JCOP_PREREQS"] = "check"
    else:
        fake(tmp_path / "bin", "id", "#!/bin/sh\necho 1000\n")
    done = run(machine, *args)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "openssh-server" in lines[0] and "apt-get install -y openssh-server" in lines[0]
    assert apt_log(machine) == ""


def test_a_failed_install_says_so(machine: dict[str, str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("the install path runs as root")
    machine["APT_BROKEN"] = "1"
    done = run(machine, "bed")
    assert done.returncode == 1
    assert "update" in apt_log(machine)  # retried with fresh package lists first
    assert "could not install openssh-server" in done.stderr and "apt-get install -y openssh-server" in done.stderr


def test_unknown_group_is_refused(machine: dict[str, str]) -> None:
    done = run(machine, "everything")
    assert done.returncode == 2 and "unknown group" in done.stderr


def test_ci_and_make_share_the_one_script() -> None:
    """One list of system packages: .ci/run and the make targets call hack/system-prereqs, and neither
    runs apt-get or dpkg itself."""
    ci = (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "hack/system-prereqs bed kubectl" in ci
    assert "$(PREREQS) bed kubectl" in makefile and "$(PREREQS) image" in makefile
    for text in (ci, makefile):
        assert not re.search(r"\b(apt-get|dpkg)\b", text)
