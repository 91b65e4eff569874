"""daemon.conf reading/writing (format INFERRED from S1: name=value, '#' comments)."""

from __future__ import annotations

from pathlib import Path

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


def install_mode() -> str:
    return read(guesses.VERSION_FILE).get("MODE", "CLASSIC")


def site_info(dbpath: str) -> dict[str, str] | None:
    p = Path(dbpath) / guesses.SITE_CONF
    if not p.is_file():
        return None
    return read(p)


def site_conf_text(vhost: str, machine_id: int, mode: str) -> str:
    return (
        f"# daemon.conf of the cluster site {vhost} (created by cjcmksite)\n"
        f"{guesses.SITE_KEY_VHOST}={vhost}\n"
        f"{guesses.SITE_KEY_MACHINE_ID}={machine_id}\n"
        f"{guesses.SITE_KEY_MODE}={mode}\n"
    )


def create_site(dbpath: str | Path, vhost: str, machine_id: int, mode: str) -> None:
    """What cjcmksite leaves on the database path (also used by `up --state site-exists`)."""
    nqs = Path(dbpath) / "nqs"
    nqs.mkdir()
    for sub in guesses.SITE_SUBDIRS:
        (nqs / sub).mkdir()
    (nqs / "daemon.conf").write_text(site_conf_text(vhost, machine_id, mode))
