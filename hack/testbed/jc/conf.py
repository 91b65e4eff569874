"""daemon.conf reading/writing (format INFERRED from S1: name=value, '#' comments)."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import BedRecord
from . import guesses


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def read(path: str | Path) -> dict[str, str]:
    try:
        return parse(Path(path).read_text())
    except OSError:
        return {}


def install_mode(bed: BedRecord) -> str:
    """What is installed on the node (the bed knows; a node may have no VERSION file to say it)."""
    return guesses.INSTALL_MODE[bed.mode]


def site_info(dbpath: str) -> dict[str, str] | None:
    """What the site at ``dbpath`` was made for (simulator record) merged with its daemon.conf."""
    nqs = Path(dbpath) / "nqs"
    if not nqs.is_dir():
        return None
    try:
        record: dict[str, str] = json.loads((Path(dbpath) / guesses.SITE_RECORD).read_text())
    except (OSError, ValueError):
        record = {}
    return {**read(nqs / "daemon.conf"), **record}


def site_conf_text(vhost: str, machine_id: int, mode: str, identity_keys: bool) -> str:
    head = f"# daemon.conf of the cluster site {vhost} (created by cjcmksite)\n"
    if not identity_keys:  # variant no-site-identity-keys: nothing says which site this is
        return "# daemon.conf of a JobCenter cluster site (created by cjcmksite)\n"
    return (head + f"{guesses.SITE_KEY_VHOST}={vhost}\n"
            f"{guesses.SITE_KEY_MACHINE_ID}={machine_id}\n"
            f"{guesses.SITE_KEY_MODE}={mode}\n")


def create_site(dbpath: str | Path, vhost: str, machine_id: int, mode: str, identity_keys: bool = True) -> None:
    """What cjcmksite leaves on the database path (also used by `up --state site-exists`)."""
    nqs = Path(dbpath) / "nqs"
    nqs.mkdir()
    for sub in guesses.SITE_SUBDIRS:
        (nqs / sub).mkdir()
    (nqs / "daemon.conf").write_text(site_conf_text(vhost, machine_id, mode, identity_keys))
    record = {guesses.SITE_KEY_VHOST: vhost, guesses.SITE_KEY_MACHINE_ID: str(machine_id),
              guesses.SITE_KEY_MODE: mode}
    (Path(dbpath) / guesses.SITE_RECORD).write_text(json.dumps(record) + "\n")
