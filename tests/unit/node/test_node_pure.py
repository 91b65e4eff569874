"""Pure parts of the SSH layer: quoting, sudo prefix, redaction, repr, classification, host keys."""

from __future__ import annotations

import errno
import logging
import shlex
import socket

import asyncssh
import pytest

from jobcenter_operator.errors import AuthenticationFailed, HostKeyMismatch, Timeout, Unreachable
from jobcenter_operator.node import (
    CommandResult,
    NodeAddress,
    NodePool,
    SSHCredentials,
    Timeouts,
    check_argv,
    effective_argv,
    redact,
    remote_command,
    sudo_refusal,
    trim,
)
from jobcenter_operator.node.classify import classify, is_handshake_reset
from jobcenter_operator.node.hostkeys import HostKeyStore, fingerprint, parse_known_hosts

HOSTILE = ["a; rm -rf / $(x) `y` 'q' \"d\"\n", "", "$HOME", "*", "--", "-n", "ジ", "\\"]

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretsecretsecret\nAAAA\n-----END RSA PRIVATE KEY-----"


def make_creds(**kw: object) -> SSHCredentials:
    base: dict[str, object] = {
        "user": "root",
        "private_key": (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
        "passphrase": "phrase-xyz",
        "password": "hunter2-pw",
        "known_hosts": "host1 ssh-ed25519 AAAA\n",
        "host_key_policy": "Strict",
        "become": "None",
    }
    base.update(kw)
    return SSHCredentials(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- quoting


def test_remote_command_round_trips_through_a_posix_shell_parser() -> None:
    argv = ["printf", "%s\\0", *HOSTILE]
    command = remote_command(argv)
    assert shlex.split(command) == argv


def test_sudo_prefix_only_for_non_root_with_become_sudo() -> None:
    assert effective_argv(["id"], become="Sudo", user="nqsadm") == ("sudo", "-n", "--", "id")
    assert effective_argv(["id"], become="Sudo", user="root") == ("id",)
    assert effective_argv(["id"], become="None", user="nqsadm") == ("id",)
    cmd = remote_command(["echo", "$(x)"], become="Sudo", user="ops")
    assert cmd == "sudo -n -- echo '$(x)'"
    assert shlex.split(cmd) == ["sudo", "-n", "--", "echo", "$(x)"]


@pytest.mark.parametrize(
    ("argv", "exc"),
    [([], ValueError), ("ls -l", TypeError), (b"ls", TypeError), (["a\x00b"], ValueError), ([1], TypeError)],
)
def test_check_argv_rejects_bad_input(argv: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        check_argv(argv)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- redaction


def test_redact_masks_private_key_blocks() -> None:
    text = f"before\n{PEM}\nafter"
    out = redact(text)
    assert "secretsecret" not in out and "before" in out and "after" in out
    assert "<redacted>" in out
    openssh = "x -----BEGIN OPENSSH PRIVATE KEY-----\nAAAB3Nza\n-----END OPENSSH PRIVATE KEY----- y"
    assert redact(openssh) == "x <redacted> y"
    pkcs8 = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFH\n-----END ENCRYPTED PRIVATE KEY-----"
    assert redact(pkcs8) == "<redacted>"


def test_redact_masks_an_unterminated_block_to_the_end() -> None:
    assert redact("err: -----BEGIN OPENSSH PRIVATE KEY-----\nAAAAB3") == "err: <redacted>"


def test_redact_masks_given_secrets_and_leaves_public_keys() -> None:
    assert redact("password is hunter2-pw!", ["hunter2-pw"]) == "password is <redacted>!"
    assert redact("ab", ["a"]) == "<redacted>b"  # however short (issue 12)
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoo user@host"
    assert redact(pub) == pub


def test_trim_keeps_the_tail_within_the_limit() -> None:
    text = "head\n" + "x" * 1000 + "\nlast line"
    out = trim(text)
    assert len(out) == 300 and out.endswith("last line") and out.startswith("...")
    assert trim("  short\n") == "short"
    assert "secret" not in trim(PEM + "\nboom")


def test_log_filter_redacts_asyncssh_records(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("asyncssh").info("  Command: %s", f"sh -c x {PEM}")
    assert "secretsecret" not in caplog.text
    assert "<redacted>" in caplog.text


# --------------------------------------------------------------------------- value types


def test_credentials_repr_never_shows_secrets() -> None:
    creds = make_creds()
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "b3BlbnNzaC1" not in text
        assert "phrase-xyz" not in text
        assert "hunter2-pw" not in text
        assert "user='root'" in text
    assert "private_key=None" in repr(make_creds(private_key=None, passphrase=None, password=None))


def test_credentials_fingerprint_changes_with_any_secret() -> None:
    salt = b"s" * 16
    base = make_creds().fingerprint(salt)
    assert base == make_creds().fingerprint(salt)
    assert base != make_creds().fingerprint(b"t" * 16)
    for change in (
        {"private_key": b"other"},
        {"password": "x"},
        {"passphrase": "y"},
        {"known_hosts": ""},
        {"host_key_policy": "AcceptNew"},
        {"user": "ops"},
    ):
        assert make_creds(**change).fingerprint(salt) != base, change
    assert "hunter2" not in base


def test_timeouts_and_results() -> None:
    t = Timeouts()
    assert (t.connect, t.login, t.command, t.keepalive_interval, t.keepalive_count_max) == (10, 15, 120, 5, 3)
    assert t.keepalive_bound == 20
    assert NodeAddress("sv1", "10.0.0.1").port == 22
    r = CommandResult(node="sv1", argv=("true",), exit_status=0, stdout="", stderr="", duration=0.1)
    assert r.ok


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (asyncssh.HostKeyNotVerifiable("Host key is not trusted"), HostKeyMismatch),
        (asyncssh.PermissionDenied("Permission denied"), AuthenticationFailed),
        (TimeoutError(), Timeout),
        (TimeoutError(), Timeout),
        (asyncssh.ConnectionLost("Login timeout expired"), Timeout),
        (asyncssh.ConnectionLost("Server not responding to keepalive"), Timeout),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Unreachable),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Unreachable),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Unreachable),
        (socket.gaierror(-2, "Name or service not known"), Unreachable),
        (ConnectionResetError(errno.ECONNRESET, "reset"), Unreachable),
        (asyncssh.ConnectionLost("Connection lost"), Unreachable),
        (asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "SSH connection closed"), Unreachable),
    ],
)
def test_classify(exc: BaseException, cls: type[Exception]) -> None:
    err = classify("sv1", exc)
    assert type(err) is cls
    assert err.node == "sv1"


def test_handshake_resets_are_retryable_but_timeouts_are_not() -> None:
    assert is_handshake_reset(ConnectionResetError())
    assert is_handshake_reset(asyncssh.ConnectionLost("Connection lost"))
    assert not is_handshake_reset(asyncssh.ConnectionLost("Login timeout expired"))
    assert not is_handshake_reset(TimeoutError())
    assert not is_handshake_reset(ConnectionRefusedError())
    assert not is_handshake_reset(asyncssh.PermissionDenied("no"))


# --------------------------------------------------------------------------- host key store


def test_host_key_store_accept_new_then_enforce() -> None:
    k1 = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    k2 = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    empty = parse_known_hosts("")
    store = HostKeyStore()
    ep = ("10.0.0.1", 22)
    args = (ep, "10.0.0.1", "10.0.0.1", 22)
    assert not store.decide_untrusted("Strict", empty, *args, k1).accepted
    assert store.decide_untrusted("AcceptNew", empty, *args, k1).accepted
    assert store.decide_untrusted("AcceptNew", empty, *args, k1).accepted
    d = store.decide_untrusted("AcceptNew", empty, *args, k2)
    assert not d.accepted and fingerprint(k1) in d.detail and fingerprint(k2) in d.detail
    # another endpoint is a first contact of its own
    assert store.decide_untrusted("AcceptNew", empty, ("10.0.0.2", 22), "10.0.0.2", "10.0.0.2", 22, k2).accepted


def test_host_key_store_known_hosts_entry_wins_over_accept_new_and_pins() -> None:
    k1 = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    k2 = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    listed = parse_known_hosts(f"10.0.0.1 {k1.export_public_key('openssh').decode()}")
    store = HostKeyStore()
    args = (("10.0.0.1", 22), "10.0.0.1", "10.0.0.1", 22)
    assert not store.decide_untrusted("AcceptNew", listed, *args, k2).accepted
    pinned = HostKeyStore()
    pinned.pin(("10.0.0.1", 22), fingerprint(k1))
    assert not pinned.decide_untrusted("AcceptNew", parse_known_hosts(""), *args, k2).accepted
    assert pinned.decide_untrusted("AcceptNew", parse_known_hosts(""), *args, k1).accepted


def test_parse_known_hosts_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_known_hosts("garbage\n")


async def test_pool_rejects_bad_argv_before_any_io() -> None:
    pool = NodePool()
    with pytest.raises(ValueError):
        await pool.run(NodeAddress("sv1", "192.0.2.1"), make_creds(), Timeouts(), [])
    assert pool.stats()["connects_total"] == 0
    await pool.close()
    with pytest.raises(RuntimeError):
        await pool.run(NodeAddress("sv1", "192.0.2.1"), make_creds(), Timeouts(), ["true"])


@pytest.mark.parametrize(
    "stderr",
    [
        "sudo: a password is required\n",
        "ops is not in the sudoers file.  This incident will be reported.\n",
        "Sorry, user ops is not allowed to execute '/usr/bin/id' as root on sv1.\n",
        "bash: line 1: sudo: command not found\n",
    ],
)
def test_sudo_refusal_is_recognised(stderr: str) -> None:
    assert sudo_refusal(stderr) is not None


def test_sudo_refusal_ignores_ordinary_failures() -> None:
    assert sudo_refusal("cjcmksite: site already exists\n") is None
    assert sudo_refusal("") is None


@pytest.mark.parametrize(
    "kw",
    [{"connect": 0}, {"login": -1}, {"command": 0}, {"keepalive_interval": -1}, {"keepalive_count_max": 0}],
)
def test_timeouts_reject_nonsense(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Timeouts(**kw)  # type: ignore[arg-type]


def test_the_pool_offers_aes_gcm_first_and_keeps_every_default_cipher_after_it() -> None:
    from asyncssh.encryption import get_default_encryption_algs

    from jobcenter_operator.node.pool import ENCRYPTION_ALGS

    assert ENCRYPTION_ALGS[:2] == ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
    assert sorted(ENCRYPTION_ALGS) == sorted(a.decode() for a in get_default_encryption_algs())
    assert len(set(ENCRYPTION_ALGS)) == len(ENCRYPTION_ALGS)
