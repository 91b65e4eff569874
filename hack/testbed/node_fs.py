"""Seed each node's private product trees and overlay upper layers before it boots."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .clp import conf as clpconf
from .clp import services as clp_services
from .clp.templates import exec_template
from .config import OVERLAY_DIRS, PRIVATE_DIRS, BedRecord, node_dir, node_private, shared_disk_dir
from .jc import guesses
from .nodetools import CLP_TOOLS, DIRECT_ONLY, TOOL_PATHS
from .toolshim import DIRECT_DIR, DISPATCH_FILE, build_shim, wanted_dispatch


def overlay_upper(bed: BedRecord, node: str, d: str) -> Path:
    return node_dir(bed, node) / "ovl" / d.replace("/", "_") / "upper"


def _wrapper(bed: BedRecord, node: str, tool: str) -> str:
    # Two lines of sh: the simulated command is Python code of this repo, run by the bed's venv.
    return (f"#!/bin/sh\nJCB_CLUSTER_DIR='{bed.dir}' JCB_NODE='{node}' PYTHONPATH='{bed.repo}' "
            f"exec '{bed.python}' -m hack.testbed.nodetools {tool} \"$@\"\n")


def _install(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    os.chmod(path, mode)


def _tool_host_path(bed: BedRecord, node: str, inside: str) -> Path:
    for d in PRIVATE_DIRS:
        if inside.startswith("/" + d + "/"):
            return node_private(bed, node, inside)
    for d in sorted(OVERLAY_DIRS, key=len, reverse=True):
        if inside.startswith("/" + d + "/"):
            return overlay_upper(bed, node, d) / inside[len(d) + 2:]
    raise ValueError(inside)


def initial_groups(bed: BedRecord) -> list[clpconf.InitialGroup]:
    """The failover groups a fresh bed starts with (mode `standard`: the MG group, then the AG one)."""
    agent = bed.mode == "standard-agent"
    suffix = "jcmg" if bed.mode == "standard" else "jc"
    groups = [clpconf.InitialGroup(name=bed.group, fip=None if agent else bed.floating_ip,
                                   fip_name=f"fip-{suffix}", disk_name=bed.disk_name,
                                   mount_point=bed.database_path, exec_name=bed.exec_resource)]
    if bed.mode == "standard":
        groups.append(clpconf.InitialGroup(name=bed.agent_group, fip=None, fip_name="", disk_name="disk-jcag",
                                           mount_point=bed.agent_database_path,
                                           exec_name=bed.agent_exec_resource))
    return groups


def clp_charset(bed: BedRecord) -> str:
    return "EUC-JP" if bed.has("clp-conf-euc-jp") else "ASCII"


def initial_clp_conf(bed: BedRecord) -> bytes:
    """clp.conf bytes in the bed's charset (variant clp-conf-euc-jp: EUC-JP with Japanese text)."""
    charset = clp_charset(bed)
    return clpconf.encode(clpconf.build_initial_groups(servers=[(n.name, n.address) for n in bed.nodes],
                                                       groups=initial_groups(bed), charset=charset), charset)


def hosts_file(bed: BedRecord) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{n.address}\t{n.name}" for n in bed.nodes]
    if bed.virtual_host and bed.start_state != "no-vhost-dns":
        lines.append(f"{bed.floating_ip}\t{bed.virtual_host}")
    return "\n".join(lines) + "\n"


def install_tools(bed: BedRecord, node: str, tools: list[str], shim: Path | None) -> None:
    """Put each tool at its real path: the C shim (resident helper) or the direct wrapper.

    The direct wrappers always exist under DIRECT_DIR: the shim's fallback, and DIRECT_ONLY tools.
    """
    for t in tools:
        direct = _tool_host_path(bed, node, f"{DIRECT_DIR}/{t}")
        _install(direct, _wrapper(bed, node, t), 0o755)
        target = _tool_host_path(bed, node, TOOL_PATHS[t])
        if shim is None or t in DIRECT_ONLY:
            _install(target, _wrapper(bed, node, t), 0o755)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shim, target)
            os.chmod(target, 0o755)  # noqa: S103 - a command, as the wrappers are
    _install(_tool_host_path(bed, node, DISPATCH_FILE), "direct\n" if shim is None else "resident\n")


def populate(bed: BedRecord) -> None:
    shim = build_shim() if wanted_dispatch() == "resident" else None
    clp_conf = initial_clp_conf(bed)
    groups = initial_groups(bed)
    shared_disk_dir(bed).mkdir(parents=True, exist_ok=True)
    for n in bed.nodes:
        nd = node_dir(bed, n.name)
        for d in PRIVATE_DIRS:
            (nd / "root" / d).mkdir(parents=True, exist_ok=True)
        for d in OVERLAY_DIRS:
            (nd / "ovl" / d.replace("/", "_") / "work").mkdir(parents=True, exist_ok=True)
            overlay_upper(bed, n.name, d).mkdir(parents=True, exist_ok=True)
        # mount points of the node-private dirs, created in the overlays (never on the host)
        for d in PRIVATE_DIRS:
            parent = next(o for o in sorted(OVERLAY_DIRS, key=len, reverse=True) if d.startswith(o + "/"))
            (overlay_upper(bed, n.name, parent) / d[len(parent) + 1:]).mkdir(parents=True, exist_ok=True)
        # one-line .bashrc: the host's runs `pyenv init` and costs 85 ms per SSH command (A.5.4)
        _install(overlay_upper(bed, n.name, "root") / ".bashrc",
                 "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
        _install(nd / "etc" / "hosts", hosts_file(bed))
        _install(nd / "etc" / "hostname", n.name + "\n")
        # CLUSTERPRO
        _install(node_private(bed, n.name, "/opt/nec/clusterpro/etc/clp.conf"), clp_conf)
        for g in groups:
            sdir = f"/opt/nec/clusterpro/scripts/{g.name}/{g.exec_name}"
            for kind in ("start", "stop"):
                _install(node_private(bed, n.name, f"{sdir}/{kind}.sh"), exec_template(kind), 0o755)
        # the version's units where the product's package puts them (the operator finds them there)
        for unit in clp_services.units(bed.variant("clp-version")):
            _install(overlay_upper(bed, n.name, "usr/lib") / clp_services.UNIT_DIR.removeprefix("/usr/lib/")
                     / f"{unit}.service", clp_services.unit_file(unit))
        node_private(bed, n.name, "/opt/nec/clusterpro/log").mkdir(parents=True, exist_ok=True)
        node_private(bed, n.name, "/opt/nec/clusterpro/work").mkdir(parents=True, exist_ok=True)
        # JobCenter
        tools = [*list(CLP_TOOLS), "clplogcmd", "systemctl"]
        if bed.has_agent:
            tools += ["jcagctrl"]
        if bed.has_manager:
            tools += ["cjcmksite", "cjcpw", "cjcls", "nqsstart", "nqsstop"]
            _install(node_private(bed, n.name, guesses.LOCAL_DAEMON_CONF), guesses.DEFAULT_DAEMON_CONF)
        install_tools(bed, n.name, tools, shim)
        if bed.has("version-file"):  # GUESS file; variant no-version-file leaves it out
            _install(node_private(bed, n.name, guesses.VERSION_FILE),
                     f"PRODUCT=WebSAM JobCenter\nVERSION={guesses.VERSION}\n"
                     f"MODE={guesses.INSTALL_MODE[bed.mode]}\n")
        # the installed daemon binaries (what ps shows; started only through cjcpw / nqsstart / units)
        modes = {"standard": ["STANDARD", "STANDARD-AGENT"]}.get(bed.mode, [guesses.INSTALL_MODE[bed.mode]])
        for m in modes:
            for path in guesses.DAEMON_BINARIES[m]:
                _install(node_private(bed, n.name, path),
                         "#!/bin/sh\necho \"$0: a JobCenter daemon is started by cjcpw, nqsstart or its unit "
                         "(test bed)\" >&2\nexit 1\n", 0o755)
        if bed.has_agent:
            unit = guesses.unit_name(bed.agent_instance_id)
            _install(node_private(bed, n.name, guesses.AG_REGISTRY), json.dumps([{
                "id": bed.agent_instance_id, "name": bed.agent_instance_name, "agent": bed.agent_name,
                "enable": True, "data": bed.agent_data_path}], indent=2) + "\n")
            etc = overlay_upper(bed, n.name, "etc")
            unit_file = etc / guesses.AG_UNIT_DIR[len("/etc/"):] / unit
            _install(unit_file, f"[Unit]\nDescription=JobCenter agent instance {bed.agent_instance_name}\n\n"
                                f"[Service]\nExecStart={guesses.AG_PROCESS[0]} {bed.agent_instance_id}\n\n"
                                "[Install]\nWantedBy=multi-user.target\n")
            wants = etc / guesses.AG_WANTS_DIR[len("/etc/"):] / unit
            wants.parent.mkdir(parents=True, exist_ok=True)
            # enabled at boot, as the AG installer leaves it (the operator must disable it)
            wants.symlink_to(f"{guesses.AG_UNIT_DIR}/{unit}")
