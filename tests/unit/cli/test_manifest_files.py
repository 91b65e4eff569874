"""manifest_files: files, directories and stdin in; one site, its cluster and its Secret out; every
failure one line that names the file and the problem."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import yaml

from jobcenter_operator.manifest_files import (
    ManifestError,
    parse_documents,
    read_documents,
    secret_data,
    select,
)

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
NO_STDIN = io.StringIO("")


def _one_line_error(excinfo: pytest.ExceptionInfo[ManifestError]) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and text.strip() == text
    return text


def test_a_directory_is_read_like_kubectl_apply_f_dir(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.yaml").write_text("kind: JobCenterSite")  # not recursive
    for sample in SAMPLES.glob("*.yaml"):
        (tmp_path / sample.name).write_text(sample.read_text())
    documents = read_documents([str(tmp_path)], NO_STDIN)
    assert sorted(d.kind for d in documents) == ["ClusterproCluster", "JobCenterSite", "JobCenterSite",
                                                 "JobCenterSite", "Secret"]
    chosen = select(documents, "jcmgcluster")
    assert chosen.site.spec.mode == "StandardManager"
    assert chosen.cluster.metadata.name == "jc-cluster"
    assert chosen.secret is not None and chosen.secret["known_hosts"].startswith(b"192.168.0.111 ")


def test_stdin_and_files_mix(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text((SAMPLES / "jobcentersite-classic.yaml").read_text())
    stdin = io.StringIO((SAMPLES / "clusterprocluster.yaml").read_text())
    chosen = select(read_documents([str(site), "-"], stdin))
    assert (chosen.site.metadata.name, chosen.cluster.metadata.name, chosen.secret) == ("cluv", "jc-cluster", None)
    assert {d.where for d in read_documents([str(site)], NO_STDIN)} == {str(site)}


def test_a_list_is_unpacked_and_empty_documents_skipped() -> None:
    items = [yaml.safe_load((SAMPLES / n).read_text()) for n in ("clusterprocluster.yaml",
                                                                  "jobcentersite-standard-agent.yaml")]
    text = "---\n---\n" + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})
    chosen = select(parse_documents(text, "list.yaml"))
    assert chosen.site.metadata.name == "jcagcluster"


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (["/nonexistent/site.yaml"], "/nonexistent/site.yaml: no such file or directory"),
        (["EMPTY_DIR"], "EMPTY_DIR: a directory without .yaml, .yml, .json files"),
    ],
)
def test_missing_file_and_empty_directory(tmp_path: Path, sources: list[str], expected: str) -> None:
    (tmp_path / "EMPTY_DIR").mkdir()
    sources = [str(tmp_path / s) if s == "EMPTY_DIR" else s for s in sources]
    with pytest.raises(ManifestError) as caught:
        read_documents(sources, NO_STDIN)
    assert _one_line_error(caught) == expected.replace("EMPTY_DIR", str(tmp_path / "EMPTY_DIR"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: [unclosed\n", "bad.yaml: not valid YAML: "),
        ("kind: A\nkind: B\n", "bad.yaml: not valid YAML: key 'kind' is given twice"),
        ("- just\n- a list\n", "bad.yaml: document 1 is not a Kubernetes object (a list)"),
        ("kind: X\n---\nplain text\n", "bad.yaml: document 2 is not a Kubernetes object (a str)"),
    ],
)
def test_bad_yaml_is_one_line_naming_the_file(text: str, expected: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_documents(text, "bad.yaml")
    assert _one_line_error(caught).startswith(expected)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "key.yaml"
    blob.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ManifestError) as caught:
        read_documents([str(blob)], NO_STDIN)
    assert _one_line_error(caught) == f"{blob}: not a text file (not UTF-8)"


def _docs(*names: str) -> list[dict[str, object]]:
    return [yaml.safe_load((SAMPLES / n).read_text()) for n in names]


def test_invalid_spec_names_every_bad_field_on_one_line() -> None:
    site, cluster = _docs("jobcentersite-classic.yaml", "clusterprocluster.yaml")
    site["spec"].update(machineId=0, floatingIP="127.0.0.1", virtualHost="cluv;reboot")  # type: ignore[union-attr]
    text = yaml.safe_dump_all([site, cluster])
    with pytest.raises(ManifestError) as caught:
        select(parse_documents(text, "all.yaml"))
    message = _one_line_error(caught)
    assert message.startswith("invalid JobCenterSite 'cluv' (all.yaml): ")
    assert "spec.machineId: Input should be greater than or equal to 1" in message
    assert "spec.floatingIP: invalid value '127.0.0.1'" in message
    assert "spec.virtualHost: invalid value 'cluv;reboot'" in message


def test_status_is_not_read() -> None:
    site, cluster = _docs("jobcentersite-classic.yaml", "clusterprocluster.yaml")
    site["status"] = {"fieldOfANewerOperator": 1, "conditions": "not even a list"}
    chosen = select(parse_documents(yaml.safe_dump_all([site, cluster]), "saved.yaml"))
    assert chosen.site.status is None


def test_invalid_cluster_is_named() -> None:
    site, cluster = _docs("jobcentersite-classic.yaml", "clusterprocluster.yaml")
    cluster["spec"]["nodes"][1]["name"] = "CLU1"  # type: ignore[index]
    with pytest.raises(ManifestError) as caught:
        select(parse_documents(yaml.safe_dump_all([site, cluster]), "all.yaml"))
    assert _one_line_error(caught) == ("invalid ClusterproCluster 'jc-cluster' (all.yaml): spec.nodes: "
                                       "node names must be unique (ignoring case)")


@pytest.mark.parametrize(
    ("names", "site", "expected"),
    [
        (["clusterprocluster.yaml"], None, "no JobCenterSite in the given manifests"),
        (["jobcentersite-classic.yaml", "jobcentersite-standard-agent.yaml", "clusterprocluster.yaml"], None,
         "2 JobCenterSites in the given manifests (cluv, jcagcluster): name one"),
        (["jobcentersite-classic.yaml", "clusterprocluster.yaml"], "other",
         "no JobCenterSite named 'other' in the given manifests"),
        (["jobcentersite-classic.yaml"], None,
         "site 'cluv' refers to ClusterproCluster 'jc-cluster', which is not in the given manifests"),
    ],
)
def test_selection_errors(names: list[str], site: str | None, expected: str) -> None:
    text = yaml.safe_dump_all(_docs(*names))
    with pytest.raises(ManifestError) as caught:
        select(parse_documents(text, "x.yaml"), site)
    assert _one_line_error(caught) == expected


def test_secret_data_and_string_data_like_the_api_server() -> None:
    encoded = {"ssh-privatekey": base64.b64encode(b"KEY").decode(), "password": base64.b64encode(b"old").decode()}
    body = {"data": encoded,
            "stringData": {"password": "new", "known_hosts": "h ssh-ed25519 AAAA\n"}}
    assert secret_data(body, "s.yaml") == {"ssh-privatekey": b"KEY", "password": b"new",
                                           "known_hosts": b"h ssh-ed25519 AAAA\n"}
    with pytest.raises(ManifestError) as caught:
        secret_data({"data": {"password": "not base64!"}}, "s.yaml")
    assert _one_line_error(caught) == "s.yaml: Secret key 'password' is not valid base64"
