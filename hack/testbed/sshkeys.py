"""SSH material of a bed: one client key, one host key per node, authorized_keys, known_hosts."""

from __future__ import annotations

from pathlib import Path

from .config import BedRecord, node_dir
from .proc import run


def keygen(path: Path, comment: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path.with_suffix(".pub").read_text().strip()


def host_key(bed: BedRecord, node: str) -> Path:
    return node_dir(bed, node) / "ssh" / "ssh_host_ed25519_key"


def client_key(bed: BedRecord) -> Path:
    return bed.dir / "keys" / "id_ed25519"


def known_hosts(bed: BedRecord) -> Path:
    return bed.dir / "keys" / "known_hosts"


def write_known_hosts(bed: BedRecord) -> None:
    """Each node under its address and name; the floating IP (and virtual host) with EVERY node's key,
    because whichever node holds it answers there (feasibility A.5.9)."""
    lines = []
    keys = {}
    for n in bed.nodes:
        typ, key = host_key(bed, n.name).with_suffix(".pub").read_text().split()[:2]
        keys[n.name] = f"{typ} {key}"
        lines.append(f"{n.address},{n.name} {keys[n.name]}")
    if bed.floating_ip:
        names = bed.floating_ip + (f",{bed.virtual_host}" if bed.virtual_host else "")
        lines += [f"{names} {keys[n.name]}" for n in bed.nodes]
    known_hosts(bed).write_text("\n".join(lines) + "\n")


def sshd_config(bed: BedRecord, node: str) -> str:
    d = node_dir(bed, node)
    return "\n".join([
        "Port 22",
        "ListenAddress 0.0.0.0",
        f"HostKey {host_key(bed, node)}",
        f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {bed.dir / 'keys' / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "MaxStartups 200",
        "MaxSessions 200",
        "PrintMotd no",
        "AcceptEnv LANG LC_*",
        "Subsystem sftp internal-sftp",
        "",
    ])


def setup(bed: BedRecord) -> None:
    pub = keygen(client_key(bed), f"jcb-{bed.name}")
    (bed.dir / "keys" / "authorized_keys").write_text(pub + "\n")
    for n in bed.nodes:
        keygen(host_key(bed, n.name), f"root@{n.name}")
        (node_dir(bed, n.name) / "sshd_config").write_text(sshd_config(bed, n.name))
    write_known_hosts(bed)


def rekey(bed: BedRecord, node: str) -> None:
    keygen(host_key(bed, node), f"root@{node}")
