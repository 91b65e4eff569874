"""The combined facts script: valid sh, user values only as parameters, framing survives odd files."""

from __future__ import annotations

import subprocess

import pytest

from jobcenter_operator.facts import ProbeOutputError, ProbeTarget, is_probe_argv, parse_probe, probe_argv
from jobcenter_operator.facts.gather import SCRIPT
from jobcenter_operator.facts.sections import Section, build_script, split_output

HOSTILE = "x'; touch /tmp/jcop-pwned; $(reboot) `id` \"q\"\n"


@pytest.mark.parametrize("shell", ["sh", "bash", "dash"])
def test_script_is_valid_shell(shell: str) -> None:
    from shutil import which

    if which(shell) is None:
        pytest.skip(f"{shell} not installed")
    subprocess.run([shell, "-n", "-c", SCRIPT], check=True)


def test_user_values_never_enter_the_script_text() -> None:
    target = ProbeTarget(database_path=HOSTILE, virtual_host=HOSTILE, failover_group=HOSTILE)
    argv = probe_argv(target, "n0nce")
    assert argv[:2] == ["sh", "-c"] and argv[2] == SCRIPT
    assert HOSTILE not in argv[2]
    assert argv[4:] == ["n0nce", *target.values()]


def test_running_the_script_here_yields_every_section_and_runs_nothing_hostile(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    hostile = f"x; touch {marker}; $(touch {marker})"
    target = ProbeTarget(database_path=hostile, virtual_host=hostile, floating_ip=hostile,
                         failover_group=hostile, exec_resource=hostile, monitor_resource=hostile,
                         agent_instance_id=hostile)
    result = subprocess.run(probe_argv(target, "abc123"), capture_output=True, text=True, check=True)
    facts = parse_probe("here", result.stdout, "abc123")
    assert not marker.exists()
    assert facts.node == "here"
    assert facts.processes.processes  # ps ran
    ours = [p for p in facts.processes.processes if "jcop-facts abc123" in p.args]
    assert ours == [], "the probe's own processes (the whole script in their args) are left out"
    assert "/" in facts.mounts and "/proc" in facts.mounts
    assert not facts.site.present


def test_framing_keeps_file_bytes_and_ignores_fake_markers() -> None:
    nasty = "line\n@@JCOP other END x 0@@\nno newline at end"
    script = build_script((Section("a", "    printf '%s' \"$dbpath\""), Section("b", "    return 7")))
    result = subprocess.run(["sh", "-c", script, "t", "N1", nasty], capture_output=True, text=True, check=True)
    out = split_output(result.stdout, "N1", ("a", "b"))
    assert out["a"].stdout == nasty and out["a"].exit_status == 0
    assert out["b"].stdout == "" and out["b"].exit_status == 7


def test_missing_section_is_an_error() -> None:
    with pytest.raises(ProbeOutputError, match="missing sections"):
        parse_probe("n", "garbage", "abc")


def test_clp_conf_section_sends_the_file_unless_it_has_the_digest_given(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64
    import hashlib

    from jobcenter_operator.facts.clusterpro import CLP_CONF_SECTION
    from jobcenter_operator.paths import CLP_CONF

    conf = tmp_path / "clp.conf"
    data = '<?xml version="1.0" encoding="EUC-JP"?>\n<root>\u696d\u52d9</root>\n'.encode("euc_jp")
    conf.write_bytes(data)
    section = Section("clp_conf", CLP_CONF_SECTION.body.replace(CLP_CONF, str(conf)))
    script = build_script((section,), ("clp_sha",))

    def run(known: str) -> tuple[str, int]:
        done = subprocess.run(["sh", "-c", script, "t", "N1", known], capture_output=True, text=True, check=True)
        out = split_output(done.stdout, "N1", ("clp_conf",))["clp_conf"]
        return out.stdout, out.exit_status

    digest = hashlib.sha256(data).hexdigest()
    assert run(digest) == (f"unchanged {digest}\n", 0)
    for known in ("", "0" * 64, "x y"):
        text, status = run(known)
        assert status == 0 and base64.b64decode(text) == data, "the file's bytes, byte for byte"
    conf.unlink()
    assert run(digest)[1] != 0, "no file: the section fails, as before"


def test_the_process_table_has_whole_args_and_not_the_probes_own_lines() -> None:
    import secrets

    nonce = secrets.token_hex(8)
    marker = f"jcop-test-{secrets.token_hex(8)}-" + "x" * 120  # longer than the 80 columns ps may guess
    other = subprocess.Popen(["sh", "-c", "sleep 30", "sh", marker], stdin=subprocess.DEVNULL)
    try:
        result = subprocess.run(probe_argv(ProbeTarget(), nonce), capture_output=True, text=True, check=True,
                                stdin=subprocess.DEVNULL)
    finally:
        other.kill()
        other.wait()
    table = parse_probe("here", result.stdout, nonce).processes
    assert [p.args for p in table.processes if p.pid == other.pid] == [f"sh -c sleep 30 sh {marker}"]
    assert not [p for p in table.processes if f"jcop-facts {nonce}" in p.args]


def test_script_hashes_and_markers_read_by_a_real_shell(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One sha256sum and one grep for the three scripts; a missing marker answers 1 without cat."""
    import hashlib

    from jobcenter_operator.facts import clusterpro
    from jobcenter_operator.facts.sections import SectionOutput
    from jobcenter_operator.paths import MANAGED_BY, SCRIPTS_ROOT, STOP_MARKER_DIR

    root = tmp_path / "scripts"
    files = {"failover-jc/exec-jc/start.sh": f"#!/bin/sh\n{MANAGED_BY}\nexit 0\n",
             "failover-jc/exec-jc/stop.sh": "#!/bin/sh\n# the administrator's own\nexit 0\n",
             "monitor.s/genw-jc/genw.sh": f"#!/bin/sh\n{MANAGED_BY}\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    markers = tmp_path / "stopped"
    markers.mkdir()
    sections = (Section("script_hashes", clusterpro.SCRIPT_HASHES.body.replace(SCRIPTS_ROOT, str(root))),
                Section("stop_marker", clusterpro.STOP_MARKER.body.replace(STOP_MARKER_DIR, str(markers))))
    script = build_script(sections, ("group", "exec_rsc", "monitor"))

    def run(monitor: str) -> dict[str, SectionOutput]:
        done = subprocess.run(["sh", "-c", script, "t", "N1", "failover-jc", "exec-jc", monitor],
                              capture_output=True, text=True, check=True)
        # the paths as they are on a node
        return dict(split_output(done.stdout.replace(str(root), SCRIPTS_ROOT), "N1", ("script_hashes", "stop_marker")))

    out = run("genw-jc")
    want = {rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in files.items()}
    assert clusterpro.parse_script_hashes(out["script_hashes"]) == want
    assert clusterpro.parse_managed_scripts(out["script_hashes"]) == {
        "failover-jc/exec-jc/start.sh", "monitor.s/genw-jc/genw.sh"}
    assert clusterpro.parse_stop_marker(out["stop_marker"]) is None
    # no monitor script and no managed one: hashes only; a marker present is read
    (root / "failover-jc/exec-jc/start.sh").write_text("#!/bin/sh\n")
    (markers / "failover-jc").write_text("clu1\n")
    out = run("none")
    assert set(clusterpro.parse_script_hashes(out["script_hashes"])) == {
        "failover-jc/exec-jc/start.sh", "failover-jc/exec-jc/stop.sh"}
    assert clusterpro.parse_managed_scripts(out["script_hashes"]) == frozenset()
    assert clusterpro.parse_stop_marker(out["stop_marker"]) == "clu1"
def test_only_the_facts_probe_is_declared_for_the_resident_shell() -> None:
    assert is_probe_argv(tuple(probe_argv(ProbeTarget(database_path="/mnt/sdb2"), "ab12")))
    argv = tuple(probe_argv(ProbeTarget(), "ab12"))
    assert not is_probe_argv(("sh", "-c", argv[2] + "\nrm -rf /tmp/x", *argv[3:])), "another script"
    assert not is_probe_argv(argv[:-1]) and not is_probe_argv(("sudo", *argv[1:]))
    assert not is_probe_argv(("sh", "-c", "true", "jcop-facts", *argv[4:]))
