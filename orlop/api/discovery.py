"""API discovery documents, built from the resource table.

Why this exists: clients learn what the server serves before they do anything else.
kubectl 1.32 asks for *aggregated* discovery (apidiscovery.k8s.io v2, or v2beta1 for
older kubectls); the Python clients, kopf and kr8s use the *legacy* per-group-version
documents.  Both forms are generated from ``registry.resources`` so they can never
disagree with what the router actually serves.
"""

from __future__ import annotations

from typing import Any

from ..registry.resources import GROUP_VERSIONS, RESOURCES, Resource

SCALE_GVK = {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def _subresources(r: Resource) -> list[tuple[str, dict[str, str], list[str]]]:
    out = []
    gvk = {"group": r.group, "version": r.version, "kind": r.kind}
    if r.status:
        out.append(("status", gvk, ["get", "patch", "update"]))
    if r.scale:
        out.append(("scale", SCALE_GVK, ["get", "patch", "update"]))
    if r.kind == "Pod" and not r.group:
        out.append(("binding", {"group": "", "version": "v1", "kind": "Binding"}, ["create"]))
        out.append(("exec", {"group": "", "version": "v1", "kind": "PodExecOptions"}, ["create", "get"]))
        out.append(("log", gvk, ["get"]))
    return out


def _of(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]


def aggregated(legacy_core: bool, version: str = "v2") -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (legacy_core) or /apis."""
    items = []
    groups = [""] if legacy_core else [g for g in GROUP_VERSIONS if g]
    for group in groups:
        versions = []
        for v in GROUP_VERSIONS[group]:
            resources = []
            for r in _of(group, v):
                entry: dict[str, Any] = {
                    "resource": r.plural,
                    "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                    "scope": "Namespaced" if r.namespaced else "Cluster",
                    "singularResource": r.singular,
                    "verbs": list(r.verbs),
                }
                if r.short_names:
                    entry["shortNames"] = list(r.short_names)
                if r.categories:
                    entry["categories"] = list(r.categories)
                subs = [{"subresource": name, "responseKind": kind, "verbs": verbs}
                        for name, kind, verbs in _subresources(r)]
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            versions.append({"version": v, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}", "metadata": {},
            "items": items}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUP_VERSIONS[group]]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in GROUP_VERSIONS if g]}


def api_group(group: str) -> dict[str, Any] | None:
    if not group or group not in GROUP_VERSIONS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group)}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    rs = _of(group, version)
    if not rs:
        return None
    resources: list[dict[str, Any]] = []
    for r in rs:
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for name, kind, verbs in _subresources(r):
            sub: dict[str, Any] = {"name": f"{r.plural}/{name}", "singularName": "", "namespaced": r.namespaced,
                                   "kind": kind["kind"], "verbs": verbs}
            if kind["group"] != r.group or kind["version"] != r.version:
                sub["group"], sub["version"] = kind["group"], kind["version"]
            resources.append(sub)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
