"""The Node object a node agent registers, from the facts of this machine.

Why this exists: ``kubectl get nodes -o wide``, ``kubectl describe node``, the scheduler
(capacity, allocatable, labels) and the API server's exec/log proxy (InternalIP and
``daemonEndpoints.kubeletEndpoint.Port``) all read the Node a kubelet posts.  Its labels,
addresses, capacity (cpu, memory, pods, ephemeral-storage from this machine) and
allocatable (kubelet's default eviction reserve taken off), nodeInfo and the four
conditions with kubelet's reasons and messages are built here, without I/O beyond
reading /proc and /etc.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from typing import Any

KUBELET_VERSION = "v1.32.0-orlop"
MAX_PODS = 110
EVICTION_MEMORY_KI = 100 * 1024          # memory.available<100Mi
EVICTION_NODEFS = 0.10                   # nodefs.available<10%

ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
        "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}

CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def _mem_total_ki() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def arch() -> str:
    m = platform.machine()
    return ARCH.get(m, m)


def host_ip(address: str) -> str:
    """The address others reach this node at: the bound one, or the primary one for a wildcard."""
    if address and address not in ("0.0.0.0", "::"):
        return address
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))      # no packet is sent: this only picks the route's source
        return str(s.getsockname()[0])
    return "127.0.0.1"


def machine_facts(root_dir: str) -> dict[str, Any]:
    st = os.statvfs(root_dir)
    return {
        "cpu": os.cpu_count() or 1,
        "memory_ki": _mem_total_ki(),
        "storage_bytes": st.f_blocks * st.f_frsize,
        "machine_id": _read("/etc/machine-id"),
        "system_uuid": _read("/sys/class/dmi/id/product_uuid") or _read("/etc/machine-id"),
        "boot_id": _read("/proc/sys/kernel/random/boot_id"),
        "kernel": platform.release(),
        "os_image": _os_image(),
        "arch": arch(),
    }


def conditions(now: str, old: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    prior = {c.get("type"): c for c in old or []}
    out = []
    for ctype, status, reason, message in CONDITIONS:
        p = prior.get(ctype)
        since = p["lastTransitionTime"] if p and p.get("status") == status and p.get("lastTransitionTime") else now
        out.append({"type": ctype, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": since,
                    "reason": reason, "message": message})
    return out


def node_labels(name: str, architecture: str) -> dict[str, str]:
    return {"beta.kubernetes.io/arch": architecture, "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": architecture, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}


def node_status(name: str, ip: str, port: int, facts: dict[str, Any], runtime: str, now: str,
                old: dict[str, Any] | None = None) -> dict[str, Any]:
    mem = facts["memory_ki"]
    storage = facts["storage_bytes"]
    capacity = {"cpu": str(facts["cpu"]), "ephemeral-storage": f"{storage // 1024}Ki", "hugepages-1Gi": "0",
                "hugepages-2Mi": "0", "memory": f"{mem}Ki", "pods": str(MAX_PODS)}
    allocatable = dict(capacity, memory=f"{max(0, mem - EVICTION_MEMORY_KI)}Ki",
                       **{"ephemeral-storage": str(int(storage * (1 - EVICTION_NODEFS)))})
    return {
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": conditions(now, (old or {}).get("conditions")),
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": facts["machine_id"], "systemUUID": facts["system_uuid"], "bootID": facts["boot_id"],
            "kernelVersion": facts["kernel"], "osImage": facts["os_image"], "containerRuntimeVersion": runtime,
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "operatingSystem": "linux",
            "architecture": facts["arch"],
        },
    }


def node_object(name: str, ip: str, port: int, facts: dict[str, Any], runtime: str, now: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name, facts["arch"]),
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {},
        "status": node_status(name, ip, port, facts, runtime, now),
    }
