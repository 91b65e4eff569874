"""The restricted Pod Security Standard (kubernetes.io/docs/concepts/security/pod-security-standards,
profile "restricted", which includes "baseline"), checked field by field on a pod spec.

``violations(pod_spec)`` returns one line per broken rule (empty: the pod is admitted by a namespace
labelled ``pod-security.kubernetes.io/enforce: restricted``). Windows-only fields are left out: the
operator runs on Linux.
"""

from __future__ import annotations

from typing import Any

# Baseline: capabilities a container may add (restricted narrows this to NET_BIND_SERVICE).
RESTRICTED_ADD = {"NET_BIND_SERVICE"}
VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", []), *spec.get("ephemeralContainers", [])]


def _selinux(where: str, opts: dict[str, Any] | None) -> list[str]:
    if not opts:
        return []
    out = []
    if opts.get("type", "") not in SELINUX_TYPES:
        out.append(f"{where}.seLinuxOptions.type {opts['type']!r} is not allowed")
    for field in ("user", "role"):
        if opts.get(field):
            out.append(f"{where}.seLinuxOptions.{field} must be unset")
    return out


def _seccomp_type(ctx: dict[str, Any]) -> str | None:
    return (ctx.get("seccompProfile") or {}).get("type")


def violations(spec: dict[str, Any]) -> list[str]:
    out: list[str] = []
    pod_ctx = spec.get("securityContext") or {}
    # Baseline: host namespaces, host paths and ports, sysctls, SELinux, AppArmor, seccomp not Unconfined.
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"spec.{field} must be false")
    for vol in spec.get("volumes", []):
        kinds = set(vol) - {"name"}
        if not kinds <= VOLUME_TYPES:
            out.append(f"volume {vol.get('name')}: type {sorted(kinds - VOLUME_TYPES)} is not allowed")
    for sysctl in pod_ctx.get("sysctls", []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"sysctl {sysctl.get('name')} is not allowed")
    out += _selinux("spec.securityContext", pod_ctx.get("seLinuxOptions"))
    if (pod_ctx.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        out.append("spec.securityContext.appArmorProfile must be RuntimeDefault or Localhost")
    if (pod_ctx.get("windowsOptions") or {}).get("hostProcess"):
        out.append("spec.securityContext.windowsOptions.hostProcess must be false")
    pod_seccomp = _seccomp_type(pod_ctx)
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"spec.securityContext.seccompProfile.type {pod_seccomp!r} is not allowed")
    if pod_ctx.get("runAsUser") == 0:
        out.append("spec.securityContext.runAsUser must not be 0")

    for c in _containers(spec):
        where = f"container {c.get('name')}"
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            out.append(f"{where}: privileged must be false")
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{where}: windowsOptions.hostProcess must be false")
        if ctx.get("procMount", "Default") != "Default":
            out.append(f"{where}: procMount must be Default")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                out.append(f"{where}: hostPort {port['hostPort']} is not allowed")
        out += [f"{where}: {v}" for v in _selinux("securityContext", ctx.get("seLinuxOptions"))]
        if (ctx.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"{where}: appArmorProfile must be RuntimeDefault or Localhost")
        # Restricted.
        if ctx.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation must be false")
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"{where}: runAsNonRoot must be true (in the pod or the container)")
        if ctx.get("runAsUser") == 0:
            out.append(f"{where}: runAsUser must not be 0")
        seccomp = _seccomp_type(ctx) or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost (got {seccomp!r})")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}: capabilities.drop must contain ALL")
        added = set(caps.get("add") or []) - RESTRICTED_ADD
        if added:
            out.append(f"{where}: capabilities.add {sorted(added)} is not allowed")
    return out
