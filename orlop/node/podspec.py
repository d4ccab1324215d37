"""From a Pod's spec to what a runtime starts: argv, environment, mounts, hostname.

Why this exists: a container's environment and command are not in the pod as written.
The kubelet resolves ``valueFrom`` (fieldRef, resourceFieldRef, configMapKeyRef,
secretKeyRef), ``envFrom``, expands ``$(VAR)`` references in env values, command and
args, maps ``volumeMounts`` (with ``subPath``/``subPathExpr``) onto the host paths of the
pod's volumes, and derives the hostname.  These are pure functions of the pod, the
referenced ConfigMaps/Secrets and the node: no I/O, table-tested.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

from ..quantity import parse_quantity
from .runtime import ContainerConfig, Mount

HOSTNAME_MAX = 63
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")
_VAR = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


class ConfigError(Exception):
    """The container cannot be configured (kubelet's CreateContainerConfigError); str() is the message."""


def hostname_of(pod: dict[str, Any]) -> str:
    """spec.hostname, else the pod name, cut to 63 characters without a trailing '-' or '.' (as kubelet)."""
    name = (pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"]
    if len(name) > HOSTNAME_MAX:
        name = name[:HOSTNAME_MAX].rstrip("-.")
    return name


def _format_map(m: dict[str, str]) -> str:
    return "\n".join(f'{k}="{_escape(v)}"' for k, v in sorted(m.items()))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def field_value(pod: dict[str, Any], path: str, host_ip: str) -> str:
    """The value of a downward API fieldRef (env or downwardAPI volume)."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName") or spec.get("serviceAccount") or "",
        "status.hostIP": status.get("hostIP") or host_ip,
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []) or host_ip,
        "status.podIP": status.get("podIP") or host_ip,
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or []) or host_ip,
    }
    if path in simple:
        return str(simple[path])
    if path == "metadata.labels":
        return _format_map(meta.get("labels") or {})
    if path == "metadata.annotations":
        return _format_map(meta.get("annotations") or {})
    m = _FIELD_KEY.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ConfigError(f"unsupported fieldPath: {path}")


def resource_value(container: dict[str, Any], ref: dict[str, Any], node_allocatable: dict[str, str]) -> str:
    """A resourceFieldRef: the container's limit or request, divided by ``divisor``, rounded up.

    An unset limit is the node's allocatable amount (as kubelet's defaulting); an unset request is 0.
    """
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f"unsupported container resource: {resource}")
    res = (container.get("resources") or {}).get(kind) or {}
    raw = res.get(name)
    if raw is None and kind == "limits":
        raw = node_allocatable.get(name, "0")
    value = parse_quantity(raw or "0")
    divisor = parse_quantity(ref.get("divisor") or "1") or parse_quantity("1")
    return str(math.ceil(value / divisor))


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined vars are replaced, $$ is a literal $, others stay."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return _VAR.sub(sub, text)


def _data_of(obj: dict[str, Any]) -> dict[str, str]:
    """String values of a ConfigMap's data or a Secret's (base64) data."""
    if obj.get("kind") == "Secret":
        out = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
        out.update(obj.get("stringData") or {})
        return out
    return dict(obj.get("data") or {})


def referenced_objects(container: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of the ConfigMaps and Secrets a container's environment reads."""
    out: set[tuple[str, str]] = set()
    for src in container.get("envFrom") or []:
        if (src.get("configMapRef") or {}).get("name"):
            out.add(("ConfigMap", src["configMapRef"]["name"]))
        if (src.get("secretRef") or {}).get("name"):
            out.add(("Secret", src["secretRef"]["name"]))
    for e in container.get("env") or []:
        vf = e.get("valueFrom") or {}
        if (vf.get("configMapKeyRef") or {}).get("name"):
            out.add(("ConfigMap", vf["configMapKeyRef"]["name"]))
        if (vf.get("secretKeyRef") or {}).get("name"):
            out.add(("Secret", vf["secretKeyRef"]["name"]))
    return out


def _kind_word(kind: str) -> str:
    return "configmap" if kind == "ConfigMap" else "secret"


def container_env(pod: dict[str, Any], container: dict[str, Any], host_ip: str,
                  objects: dict[tuple[str, str], dict[str, Any] | None],
                  node_allocatable: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The container's environment, in order: envFrom first, then env (later names win)."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = src.get(key)
            if not ref:
                continue
            obj = objects.get((kind, ref.get("name", "")))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{_kind_word(kind)} "{ref.get("name", "")}" not found')
            for k, v in _data_of(obj).items():
                env[src.get("prefix", "") + k] = v
    for e in container.get("env") or []:
        name = e["name"]
        if "valueFrom" not in e:
            env[name] = expand(str(e.get("value") or ""), env)
            continue
        vf = e["valueFrom"] or {}
        if "fieldRef" in vf:
            env[name] = field_value(pod, vf["fieldRef"].get("fieldPath", ""), host_ip)
        elif "resourceFieldRef" in vf:
            env[name] = resource_value(container, vf["resourceFieldRef"], node_allocatable or {})
        else:
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                ref = vf.get(key)
                if not ref:
                    continue
                obj = objects.get((kind, ref.get("name", "")))
                data = _data_of(obj) if obj is not None else None
                if data is None or ref.get("key") not in data:
                    if ref.get("optional"):
                        break
                    if data is None:
                        raise ConfigError(f'{_kind_word(kind)} "{ref.get("name", "")}" not found')
                    raise ConfigError(f"couldn't find key {ref.get('key')} in {kind} "
                                      f"{pod['metadata'].get('namespace')}/{ref.get('name')}")
                env[name] = data[ref["key"]]
    return list(env.items())


def container_argv(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    """command + args, $(VAR)-expanded.

    Without a command the image's entrypoint would run, with ``args`` as its arguments;
    images are not pulled here, so such a container idles (empty argv: the runtime's
    long sleep) and stays exec-able, as the seeds' nginx and mysql pods are used.
    """
    if not container.get("command"):
        return []
    return [expand(str(a), env) for a in (container.get("command") or []) + (container.get("args") or [])]


def container_mounts(container: dict[str, Any], volume_paths: dict[str, str], env: dict[str, str]) -> list[Mount]:
    """volumeMounts onto host paths; subPath/subPathExpr appended (creating it is the caller's job)."""
    out = []
    for vm in container.get("volumeMounts") or []:
        base = volume_paths.get(vm.get("name", ""))
        if base is None:
            raise ConfigError(f"cannot find volume {vm.get('name')!r} to mount into container {container['name']!r}")
        sub = vm.get("subPath") or ""
        if vm.get("subPathExpr"):
            sub = expand(vm["subPathExpr"], env)
        if sub:
            if sub.startswith("/") or ".." in sub.split("/"):
                raise ConfigError(f"subPath {sub!r} must be a relative path without '..'")
            base = base.rstrip("/") + "/" + sub.strip("/")
        out.append(Mount(base, vm.get("mountPath", ""), bool(vm.get("readOnly"))))
    return out


def container_config(pod: dict[str, Any], container: dict[str, Any], *, init: bool, host_ip: str,
                     volume_paths: dict[str, str], objects: dict[tuple[str, str], dict[str, Any] | None],
                     node_allocatable: dict[str, str] | None = None) -> ContainerConfig:
    env_list = container_env(pod, container, host_ip, objects, node_allocatable)
    env = dict(env_list)
    return ContainerConfig(
        name=container["name"], image=container.get("image", ""), argv=container_argv(container, env),
        env=env_list, working_dir=container.get("workingDir", ""),
        mounts=container_mounts(container, volume_paths, env), tty=bool(container.get("tty")), init=init)
