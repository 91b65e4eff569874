"""Issue 12, holes 5 and 11: which Secrets the operator reads, what it does with a password under
AcceptNew, non-UTF-8 values and the masking of short secrets."""

from __future__ import annotations

import pytest

from jobcenter_operator.api import ClusterproClusterSpec
from jobcenter_operator.errors import InvalidSpec
from jobcenter_operator.node import redact
from jobcenter_operator.reconcile import access_from
from jobcenter_operator.resolve import CREDENTIALS_LABEL, CREDENTIALS_TYPE, is_credentials_secret


def cluster(policy: str = "Strict") -> ClusterproClusterSpec:
    return ClusterproClusterSpec.model_validate({
        "nodes": [{"name": "clu1", "address": "10.0.0.1"}, {"name": "clu2", "address": "10.0.0.2"}],
        "ssh": {"user": "root", "credentialsSecretRef": {"name": "ssh"}, "hostKeyPolicy": policy}})


KNOWN_HOSTS = b"10.0.0.1 ssh-ed25519 AAAA\n"


def test_only_secrets_marked_for_the_operator_are_read() -> None:
    with_password = {"metadata": {"name": "db-admin"}, "type": "Opaque", "data": {"password": "aHVudGVyMg=="}}
    assert not is_credentials_secret(with_password), "a password key alone is no invitation"
    assert is_credentials_secret({**with_password, "metadata": {"labels": {CREDENTIALS_LABEL: "true"}}})
    assert is_credentials_secret({**with_password, "type": CREDENTIALS_TYPE})
    assert not is_credentials_secret({**with_password, "metadata": {"labels": {CREDENTIALS_LABEL: "false"}}})
    assert not is_credentials_secret({"metadata": {}, "type": "kubernetes.io/ssh-auth"})


def test_accept_new_never_sends_a_password() -> None:
    with pytest.raises(InvalidSpec, match="password login needs hostKeyPolicy Strict"):
        access_from(cluster("AcceptNew"), {"password": b"hunter2"})
    both = access_from(cluster("AcceptNew"), {"password": b"hunter2", "ssh-privatekey": b"KEY"})
    assert both.creds.password is None and both.creds.private_key == b"KEY"
    strict = access_from(cluster("Strict"), {"password": b"hunter2", "known_hosts": KNOWN_HOSTS})
    assert strict.creds.password == "hunter2"  # noqa: S105


@pytest.mark.parametrize("key", ["password", "passphrase", "known_hosts"])
def test_a_secret_value_that_is_not_utf8_is_invalid_spec(key: str) -> None:
    secret = {"ssh-privatekey": b"KEY", "known_hosts": KNOWN_HOSTS, key: b"\xff\xfe\x00bad"}
    with pytest.raises(InvalidSpec, match=f"{key} is not UTF-8") as info:
        access_from(cluster(), secret)
    assert not info.value.transient, "retrying cannot fix it"


@pytest.mark.parametrize("secret", ["x", "ab", "p@s"])
def test_secrets_shorter_than_four_characters_are_masked(secret: str) -> None:
    assert secret not in redact(f"sshd: password {secret} refused", [secret]).replace("password", "")
    # A secret that contains a shorter one is masked whole.
    assert redact("token abc-abcdef", ["abc", "abc-abcdef"]) == "token <redacted>"
