"""Build orlop's served OpenAPI v3 documents from a real kube-apiserver's documents.

Why this exists: kubectl decides whether to send ``fieldValidation=Strict`` (and ``kubectl explain``
works at all) from the OpenAPI v3 documents the server serves, and orlop's strict field validation
and strategic merge patch read the same schemas.  The reference documents come from Kubernetes
1.26 and hold every kind of those groups; orlop serves fewer kinds and reports itself as 1.32.
This tool trims the documents to orlop's kinds, adds the fields 1.32 has that 1.26 lacks, derives
the legacy apps/v1beta1 and apps/v1beta2 documents, builds the documents of the custom resource
groups (snapshot.storage.k8s.io/v1, orlop.io/v1alpha1) from the CRDs in ``orlop/registry/crds/``
as kube-apiserver publishes CRDs, and writes deterministic compact JSON into
``orlop/registry/openapi/`` (committed data; rerun this tool after changing it, resources.py or a CRD).

Usage: ``python tools/build_openapi.py [reference_dir] [out_dir]``
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orlop.registry import crd as crds  # noqa: E402
from orlop.registry.resources import RESOURCES  # noqa: E402

# The reference documents live in shared/, beside the repository.
DEFAULT_REF = ROOT.parent / "shared" / "reference" / "openapi-v3-k8s-1.26"
DEFAULT_OUT = ROOT / "orlop" / "registry" / "openapi"

# group-version path -> reference file
SOURCES: dict[str, str] = {
    "api/v1": "api_v1.json",
    "apis/storage.k8s.io/v1": "apis_storage.k8s.io_v1.json",
    "apis/apps/v1": "apis_apps_v1.json",
    "apis/coordination.k8s.io/v1": "apis_coordination.k8s.io_v1.json",
}
# apis/autoscaling/v1 is not served: orlop serves no kind there, and the Scale schema the
# statefulsets/scale operations use lives in the apps documents (as in Kubernetes).
# Legacy group-versions derived from apps/v1 (not in the reference).
DERIVED: dict[str, str] = {"apis/apps/v1beta1": "v1beta1", "apis/apps/v1beta2": "v1beta2"}

# Subresources orlop serves besides status/scale (from resources.py).
EXTRA_SUBRESOURCES: dict[str, set[str]] = {"pods": {"binding", "exec", "log"}}

REF_PREFIX = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
CORE = "io.k8s.api.core.v1."


def _ref(name: str) -> dict[str, Any]:
    return {"allOf": [{"$ref": REF_PREFIX + name}]}


def _str(desc: str, **extra: Any) -> dict[str, Any]:
    return {"description": desc, "type": "string", **extra}


def _time(desc: str) -> dict[str, Any]:
    return {"description": desc, **_ref(META + "Time")}


def _list_of(item: dict[str, Any], desc: str, **extra: Any) -> dict[str, Any]:
    return {"description": desc, "type": "array", "items": item, **extra}


def _obj_item(name: str) -> dict[str, Any]:
    return {"default": {}, **_ref(name)}


# --- Kubernetes 1.27 .. 1.32 changes to the kinds orlop serves --------------------------------------
# Found by comparing the 1.26 schemas with the field lists of the release-1.32 API (the kubernetes
# Python client 32.0.1 models, generated from it); list metadata from staging/src/k8s.io/api/core/v1
# types.go.  Descriptions are shortened.
_INT32 = {"type": "integer", "format": "int32"}
_INT64 = {"type": "integer", "format": "int64"}
_QUANTITY_MAP = {"type": "object", "additionalProperties": _ref("io.k8s.apimachinery.pkg.api.resource.Quantity")["allOf"][0]}
_STR_ITEMS = {"type": "string", "default": ""}


def _obj(desc: str, props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"description": desc, "type": "object", "properties": props, **extra}
    if required:
        out["required"] = required
    return out


NEW_SCHEMAS: dict[str, dict[str, Any]] = {
    CORE + "AppArmorProfile": _obj(
        "AppArmorProfile defines a pod or container's AppArmor settings.",
        {"localhostProfile": _str("localhostProfile indicates a profile loaded on the node that should be used."),
         "type": _str("type indicates which kind of AppArmor profile will be applied.", default="",
                      enum=["Localhost", "RuntimeDefault", "Unconfined"])},
        ["type"], **{"x-kubernetes-unions": [{"discriminator": "type",
                                              "fields-to-discriminateBy": {"localhostProfile": "LocalhostProfile"}}]}),
    CORE + "ClusterTrustBundleProjection": _obj(
        "ClusterTrustBundleProjection describes how to select a set of ClusterTrustBundle objects and project "
        "their contents into the pod filesystem.",
        {"labelSelector": {"description": "Select all ClusterTrustBundles that match this label selector.",
                           **_ref(META + "LabelSelector")},
         "name": _str("Select a single ClusterTrustBundle by object name."),
         "optional": {"description": "If true, don't block pod startup if the referenced ClusterTrustBundle(s) "
                                     "aren't available.", "type": "boolean"},
         "path": _str("Relative path from the volume root to write the bundle.", default=""),
         "signerName": _str("Select all ClusterTrustBundles that match this signer name.")},
        ["path"]),
    CORE + "ContainerResizePolicy": _obj(
        "ContainerResizePolicy represents resource resize policy for the container.",
        {"resourceName": _str("Name of the resource to which this resource resize policy applies.", default=""),
         "restartPolicy": _str("Restart policy to apply when specified resource is resized.", default="")},
        ["resourceName", "restartPolicy"]),
    CORE + "ContainerUser": _obj(
        "ContainerUser represents user identity information",
        {"linux": {"description": "Linux holds user identity information initially attached to the first "
                                  "process of the containers in Linux.", **_ref(CORE + "LinuxContainerUser")}}),
    CORE + "HostIP": _obj("HostIP represents a single IP address allocated to the host.",
                          {"ip": _str("IP is the IP address assigned to the host", default="")}, ["ip"]),
    CORE + "ImageVolumeSource": _obj(
        "ImageVolumeSource represents a image volume resource.",
        {"pullPolicy": _str("Policy for pulling OCI objects.", enum=["Always", "IfNotPresent", "Never"]),
         "reference": _str("Required: Image or artifact reference to be used.")}),
    CORE + "LinuxContainerUser": _obj(
        "LinuxContainerUser represents user identity information in Linux containers",
        {"gid": {"description": "GID is the primary gid initially attached to the first process in the container",
                 **_INT64},
         "supplementalGroups": _list_of(dict(_INT64, default=0), "SupplementalGroups are the supplemental groups "
                                        "initially attached to the first process in the container",
                                        **{"x-kubernetes-list-type": "atomic"}),
         "uid": {"description": "UID is the primary uid initially attached to the first process in the container",
                 **_INT64}},
        ["uid", "gid"]),
    CORE + "ModifyVolumeStatus": _obj(
        "ModifyVolumeStatus represents the status object of ControllerModifyVolume operation",
        {"status": _str("status is the status of the ControllerModifyVolume operation.", default="",
                        enum=["InProgress", "Infeasible", "Pending"]),
         "targetVolumeAttributesClassName": _str("targetVolumeAttributesClassName is the name of the "
                                                 "VolumeAttributesClass the PVC currently being reconciled")},
        ["status"]),
    CORE + "NodeFeatures": _obj(
        "NodeFeatures describes the set of features implemented by the CRI implementation.",
        {"supplementalGroupsPolicy": {"description": "SupplementalGroupsPolicy is set to true if the runtime "
                                                     "supports SupplementalGroupsPolicy and ContainerUser.",
                                      "type": "boolean"}}),
    CORE + "NodeRuntimeHandler": _obj(
        "NodeRuntimeHandler is a set of runtime handler information.",
        {"features": {"description": "Supported features.", **_ref(CORE + "NodeRuntimeHandlerFeatures")},
         "name": _str("Runtime handler name. Empty for the default runtime handler.", default="")}),
    CORE + "NodeRuntimeHandlerFeatures": _obj(
        "NodeRuntimeHandlerFeatures is a set of features implemented by the runtime handler.",
        {"recursiveReadOnlyMounts": {"description": "RecursiveReadOnlyMounts is set to true if the runtime "
                                                    "handler supports RecursiveReadOnlyMounts.", "type": "boolean"},
         "userNamespaces": {"description": "UserNamespaces is set to true if the runtime handler supports "
                                           "UserNamespaces, including for volumes.", "type": "boolean"}}),
    CORE + "PodResourceClaimStatus": _obj(
        "PodResourceClaimStatus is stored in the PodStatus for each PodResourceClaim which references a "
        "ResourceClaimTemplate.",
        {"name": _str("Name uniquely identifies this resource claim inside the pod.", default=""),
         "resourceClaimName": _str("ResourceClaimName is the name of the ResourceClaim that was generated for the "
                                   "Pod in the namespace of the Pod.")},
        ["name"]),
    CORE + "ResourceHealth": _obj(
        "ResourceHealth represents the health of a resource.",
        {"health": _str("Health of the resource. can be one of: Healthy, Unhealthy, Unknown"),
         "resourceID": _str("ResourceID is the unique identifier of the resource.", default="")},
        ["resourceID"]),
    CORE + "ResourceStatus": _obj(
        "ResourceStatus represents the status of a single resource allocated to a Pod.",
        {"name": _str("Name of the resource. Must be unique within the pod and in case of non-DRA resource, "
                      "match one of the resources from the pod spec.", default=""),
         "resources": _list_of(_obj_item(CORE + "ResourceHealth"), "List of unique resources health.",
                               **{"x-kubernetes-list-map-keys": ["resourceID"], "x-kubernetes-list-type": "map"})},
        ["name"]),
    CORE + "SleepAction": _obj("SleepAction describes a \"sleep\" action.",
                               {"seconds": {"description": "Seconds is the number of seconds to sleep.",
                                            "default": 0, **_INT64}},
                               ["seconds"]),
    CORE + "VolumeMountStatus": _obj(
        "VolumeMountStatus shows status of volume mounts.",
        {"mountPath": _str("MountPath corresponds to the original VolumeMount.", default=""),
         "name": _str("Name corresponds to the name of the original VolumeMount.", default=""),
         "readOnly": {"description": "ReadOnly corresponds to the original VolumeMount.", "type": "boolean"},
         "recursiveReadOnly": _str("RecursiveReadOnly must be set to Disabled, Enabled, or unspecified (for "
                                   "non-readonly mounts).")},
        ["name", "mountPath"]),
    CORE + "VolumeResourceRequirements": _obj(
        "VolumeResourceRequirements describes the storage resource requirements for a volume.",
        {"limits": {"description": "Limits describes the maximum amount of compute resources allowed.",
                    **_QUANTITY_MAP},
         "requests": {"description": "Requests describes the minimum amount of compute resources required.",
                      **_QUANTITY_MAP}}),
}

_RESIZE_POLICY = _list_of(_obj_item(CORE + "ContainerResizePolicy"), "Resources resize policy for the container.",
                          **{"x-kubernetes-list-type": "atomic"})
_CONTAINER_RESTART = _str("RestartPolicy defines the restart behavior of individual containers in a pod. The "
                          "only allowed value is \"Always\", for init containers (sidecars).")
_APPARMOR = {"description": "appArmorProfile is the AppArmor options to use.", **_ref(CORE + "AppArmorProfile")}
_VAC_NAME = "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim."

NEW_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "io.k8s.api.coordination.v1.LeaseSpec": {
        "preferredHolder": _str("PreferredHolder signals to a lease holder that the lease has a more optimal "
                                "holder and should be given up."),
        "strategy": _str("Strategy indicates the strategy for picking the leader for coordinated leader "
                         "election."),
    },
    CORE + "Container": {"resizePolicy": _RESIZE_POLICY, "restartPolicy": _CONTAINER_RESTART},
    CORE + "EphemeralContainer": {"resizePolicy": _RESIZE_POLICY, "restartPolicy": _CONTAINER_RESTART},
    CORE + "ContainerStatus": {
        "allocatedResources": {"description": "AllocatedResources represents the compute resources allocated "
                                              "for this container by the node.", **_QUANTITY_MAP},
        "allocatedResourcesStatus": _list_of(
            _obj_item(CORE + "ResourceStatus"), "AllocatedResourcesStatus represents the status of various "
            "resources allocated for this Pod.",
            **{"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
               "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}),
        "resources": {"description": "Resources represents the compute resource requests and limits that have "
                                     "been successfully enacted on the running container.",
                      **_ref(CORE + "ResourceRequirements")},
        "user": {"description": "User represents user identity information initially attached to the first "
                                "process of the container", **_ref(CORE + "ContainerUser")},
        "volumeMounts": _list_of(_obj_item(CORE + "VolumeMountStatus"), "Status of volume mounts.",
                                 **{"x-kubernetes-list-map-keys": ["mountPath"], "x-kubernetes-list-type": "map",
                                    "x-kubernetes-patch-merge-key": "mountPath",
                                    "x-kubernetes-patch-strategy": "merge"}),
    },
    CORE + "LifecycleHandler": {
        "sleep": {"description": "Sleep represents a duration that the container should sleep.",
                  **_ref(CORE + "SleepAction")},
    },
    CORE + "LoadBalancerIngress": {
        "ipMode": _str("IPMode specifies how the load-balancer IP behaves, and may only be specified when the ip "
                       "field is specified."),
    },
    CORE + "NodeStatus": {
        "features": {"description": "Features describes the set of features implemented by the CRI "
                                    "implementation.", **_ref(CORE + "NodeFeatures")},
        "runtimeHandlers": _list_of(_obj_item(CORE + "NodeRuntimeHandler"), "The available runtime handlers.",
                                    **{"x-kubernetes-list-type": "atomic"}),
    },
    CORE + "PersistentVolumeClaimSpec": {
        "resources": {"description": "resources represents the minimum resources the volume should have.",
                      "default": {}, **_ref(CORE + "VolumeResourceRequirements")},
        "volumeAttributesClassName": _str(_VAC_NAME),
    },
    CORE + "PersistentVolumeClaimStatus": {
        "allocatedResourceStatuses": {
            "description": "allocatedResourceStatuses stores status of resource being resized for the given PVC.",
            "type": "object", "additionalProperties": {"type": "string", "default": ""},
            "x-kubernetes-map-type": "granular"},
        "currentVolumeAttributesClassName": _str("currentVolumeAttributesClassName is the current name of the "
                                                 "VolumeAttributesClass the PVC is using."),
        "modifyVolumeStatus": {"description": "ModifyVolumeStatus represents the status object of "
                                              "ControllerModifyVolume operation.",
                               **_ref(CORE + "ModifyVolumeStatus")},
    },
    CORE + "PersistentVolumeSpec": {
        "volumeAttributesClassName": _str("Name of VolumeAttributesClass to which this persistent volume belongs."),
    },
    CORE + "PersistentVolumeStatus": {
        "lastPhaseTransitionTime": _time("lastPhaseTransitionTime is the time the phase transitioned from one to "
                                         "another and automatically resets to current time everytime a volume "
                                         "phase transitions."),
    },
    CORE + "PodAffinityTerm": {
        "matchLabelKeys": _list_of(dict(_STR_ITEMS), "MatchLabelKeys is a set of pod label keys to select which "
                                   "pods will be taken into consideration.", **{"x-kubernetes-list-type": "atomic"}),
        "mismatchLabelKeys": _list_of(dict(_STR_ITEMS), "MismatchLabelKeys is a set of pod label keys to select "
                                      "which pods will be taken into consideration.",
                                      **{"x-kubernetes-list-type": "atomic"}),
    },
    CORE + "PodResourceClaim": {
        "resourceClaimName": _str("ResourceClaimName is the name of a ResourceClaim object in the same namespace "
                                  "as this pod."),
        "resourceClaimTemplateName": _str("ResourceClaimTemplateName is the name of a ResourceClaimTemplate "
                                          "object in the same namespace as this pod."),
    },
    CORE + "PodSecurityContext": {
        "appArmorProfile": _APPARMOR,
        "seLinuxChangePolicy": _str("seLinuxChangePolicy defines how the container's SELinux label is applied to "
                                    "all volumes used by the Pod."),
        "supplementalGroupsPolicy": _str("Defines how supplemental groups of the first container processes are "
                                         "calculated.", enum=["Merge", "Strict"]),
    },
    CORE + "PodSpec": {
        "resources": {"description": "Resources is the total amount of CPU and Memory resources required by all "
                                     "containers in the pod.", **_ref(CORE + "ResourceRequirements")},
    },
    CORE + "PodStatus": {
        "hostIPs": _list_of(_obj_item(CORE + "HostIP"), "hostIPs holds the IP addresses allocated to the host.",
                            **{"x-kubernetes-list-type": "atomic", "x-kubernetes-patch-merge-key": "ip",
                               "x-kubernetes-patch-strategy": "merge"}),
        "resize": _str("Status of resources resize desired for pod's containers."),
        "resourceClaimStatuses": _list_of(
            _obj_item(CORE + "PodResourceClaimStatus"), "Status of resource claims.",
            **{"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
               "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge,retainKeys"}),
    },
    CORE + "ResourceClaim": {
        "request": _str("Request is the name chosen for a request in the referenced claim."),
    },
    CORE + "SecurityContext": {"appArmorProfile": _APPARMOR},
    CORE + "ServiceSpec": {
        "trafficDistribution": _str("TrafficDistribution offers a way to express preferences for how traffic is "
                                    "distributed to Service endpoints."),
    },
    CORE + "Volume": {
        "image": {"description": "image represents an OCI object (a container image or artifact) pulled and "
                                 "mounted on the kubelet's host machine.", **_ref(CORE + "ImageVolumeSource")},
    },
    CORE + "VolumeMount": {
        "recursiveReadOnly": _str("RecursiveReadOnly specifies whether read-only mounts should be handled "
                                  "recursively."),
    },
    CORE + "VolumeProjection": {
        "clusterTrustBundle": {"description": "ClusterTrustBundle allows a pod to access the `.spec.trustBundle` "
                                              "field of ClusterTrustBundle objects in an auto-updating file.",
                               **_ref(CORE + "ClusterTrustBundleProjection")},
    },
    META + "DeleteOptions": {
        "ignoreStoreReadErrorWithClusterBreakingPotential": {
            "description": "if set to true, it will trigger an unsafe deletion of the resource in case the normal "
                           "deletion flow fails with a corrupt object error.", "type": "boolean"},
    },
}

REMOVED_FIELDS: dict[str, list[str]] = {
    CORE + "PersistentVolumeClaimStatus": ["resizeStatus"],   # replaced by allocatedResourceStatuses (1.28)
    CORE + "PodResourceClaim": ["source"],                    # flattened into the claim (1.31)
}

# --- trimming -----------------------------------------------------------------------------------------

def _served() -> dict[str, dict[str, set[str | None]]]:
    """group-version path -> plural -> subresources served (None = the resource itself)."""
    out: dict[str, dict[str, set[str | None]]] = {}
    for r in RESOURCES:
        gv = f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}"
        subs: set[str | None] = {None}
        if r.status:
            subs.add("status")
        if r.scale:
            subs.add("scale")
        subs |= EXTRA_SUBRESOURCES.get(r.plural, set())
        out.setdefault(gv, {})[r.plural] = subs
    return out


def _path_target(gv: str, path: str) -> tuple[str, str | None] | None:
    """(plural, subresource) a path addresses, or None for the group-version root."""
    rest = path[len("/" + gv):].strip("/")
    segs = rest.split("/") if rest else []
    if segs[:1] == ["watch"]:
        segs = segs[1:]
    if len(segs) > 2 and segs[0] == "namespaces" and segs[1] == "{namespace}":
        segs = segs[2:]
    if not segs:
        return None
    plural = segs[0]
    if len(segs) <= 2:
        return plural, None
    if len(segs) == 3:
        return plural, segs[2]
    return plural, "/".join(segs[2:])


def _keep_path(gv: str, path: str, served: dict[str, set[str | None]]) -> bool:
    target = _path_target(gv, path)
    if target is None:
        return True
    plural, sub = target
    return plural in served and sub in served[plural]


def _refs(node: Any, acc: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            acc.add(ref[len(REF_PREFIX):])
        for v in node.values():
            _refs(v, acc)
    elif isinstance(node, list):
        for v in node:
            _refs(v, acc)


def _closure(roots: set[str], schemas: dict[str, Any]) -> dict[str, Any]:
    seen: set[str] = set()
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in schemas:
            raise KeyError(f"schema {name} referenced but not defined")
        seen.add(name)
        found: set[str] = set()
        _refs(schemas[name], found)
        todo.extend(sorted(found - seen))
    return {n: schemas[n] for n in sorted(seen)}


def _augment(schemas: dict[str, Any]) -> None:
    """Bring the 1.26 schemas up to 1.32 for our kinds."""
    for name, schema in NEW_SCHEMAS.items():
        schemas.setdefault(name, copy.deepcopy(schema))
    for name, fields in NEW_FIELDS.items():
        if name in schemas:
            props = schemas[name].setdefault("properties", {})
            for fname, fschema in fields.items():
                props[fname] = copy.deepcopy(fschema)
    for name, fields in REMOVED_FIELDS.items():
        if name in schemas:
            for fname in fields:
                schemas[name].get("properties", {}).pop(fname, None)
                if fname in schemas[name].get("required", []):
                    schemas[name]["required"].remove(fname)


def trim(gv: str, doc: dict[str, Any], served: dict[str, set[str | None]]) -> dict[str, Any]:
    schemas = copy.deepcopy(doc["components"]["schemas"])
    _augment(schemas)
    paths = {p: v for p, v in doc["paths"].items() if _keep_path(gv, p, served)}
    roots: set[str] = set()
    _refs(paths, roots)
    return {
        "openapi": doc["openapi"],
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": _closure(roots, schemas)},
    }


def _check_patch_ops(gv: str, doc: dict[str, Any]) -> None:
    """kubectl needs, per kind, a patch operation with the GVK and the fieldValidation parameter."""
    for path, item in doc["paths"].items():
        op = item.get("patch")
        if op is None:
            continue
        names = {(p.get("name"), p.get("in")) for p in op.get("parameters", []) + item.get("parameters", [])}
        if ("fieldValidation", "query") not in names or "x-kubernetes-group-version-kind" not in op:
            raise ValueError(f"{gv} {path}: patch lacks fieldValidation or x-kubernetes-group-version-kind")


def _retarget(node: Any, old: str, new: str, version: str, cloned: set[str]) -> Any:
    """Copy ``node`` with apps/v1 StatefulSet references and GVKs moved to ``version``."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v[len(REF_PREFIX):] in cloned:
                out[k] = v.replace(old, new)
            elif k == "x-kubernetes-group-version-kind":
                out[k] = _retarget_gvk(v, version)
            else:
                out[k] = _retarget(v, old, new, version, cloned)
        return out
    if isinstance(node, list):
        return [_retarget(v, old, new, version, cloned) for v in node]
    return node


def _retarget_gvk(v: Any, version: str) -> Any:
    def one(g: dict[str, str]) -> dict[str, str]:
        if g.get("group") == "apps" and g.get("version") == "v1":
            return {**g, "version": version}
        return g
    return [one(g) for g in v] if isinstance(v, list) else one(v)


def derive_apps_beta(v1: dict[str, Any], version: str) -> dict[str, Any]:
    """apps/<version> served as apps/v1's StatefulSet paths under the older version."""
    old_prefix, new_prefix = "/apis/apps/v1/", f"/apis/apps/{version}/"
    old_pkg, new_pkg = "io.k8s.api.apps.v1.", f"io.k8s.api.apps.{version}."
    cloned = {old_pkg + "StatefulSet", old_pkg + "StatefulSetList"}
    paths = {}
    for p, item in v1["paths"].items():
        if p.rstrip("/") == old_prefix.rstrip("/") or "statefulsets" in p:
            np = new_prefix + p[len(old_prefix):] if p.startswith(old_prefix) else new_prefix
            paths[np] = _retarget(item, old_pkg, new_pkg, version, cloned)
    schemas = dict(v1["components"]["schemas"])
    for name in cloned:
        schemas[name.replace(old_pkg, new_pkg)] = _retarget(schemas[name], old_pkg, new_pkg, version, cloned)
    roots: set[str] = set()
    _refs(paths, roots)
    return {"openapi": v1["openapi"], "info": v1["info"], "paths": paths,
            "components": {"schemas": _closure(roots, schemas)}}


# --- custom resources -----------------------------------------------------------------------------------
# kube-apiserver publishes a CRD's served version as the CRD's openAPIV3Schema (metadata as ObjectMeta,
# plus the GVK), a <Kind>List schema, and the operations of its routes: list/create/deletecollection,
# get/replace/patch/delete (delete answers a Status), the status subresource, and for namespaced kinds
# the all-namespaces list; JSON and YAML only, and no strategic merge patch (which is how kubectl's
# apply knows to send a JSON merge patch).  The operations are the core PVC (namespaced) and PV
# (cluster) ones, renamed.

_CR_TEMPLATES = {
    True: ("PersistentVolumeClaim", "persistentvolumeclaims",
           ["/api/v1/namespaces/{namespace}/persistentvolumeclaims",
            "/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}",
            "/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}/status",
            "/api/v1/persistentvolumeclaims"]),
    False: ("PersistentVolume", "persistentvolumes",
            ["/api/v1/persistentvolumes", "/api/v1/persistentvolumes/{name}",
             "/api/v1/persistentvolumes/{name}/status"]),
}
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_OBJECT_META_DESC = ("Standard object's metadata. More info: "
                     "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
_LIST_META_DESC = ("Standard list metadata. More info: "
                   "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")


def cr_package(group: str, version: str) -> str:
    """Schema name prefix of a CR group-version: the reversed group ("io.k8s.storage.snapshot.v1.")."""
    return ".".join(reversed(group.split("."))) + f".{version}."


def _op_prefix(group: str, version: str) -> tuple[str, str]:
    """operationId infix and tag of a group-version ("SnapshotStorageK8sIoV1", "snapshotStorageK8sIo_v1")."""
    words = [w[:1].upper() + w[1:] for w in group.split(".")]
    camel = "".join(words)
    return camel + version[:1].upper() + version[1:], camel[:1].lower() + camel[1:] + "_" + version


def _rename(node: Any, subs: list[tuple[re.Pattern[str], str]]) -> Any:
    if isinstance(node, dict):
        return {k: _rename(v, subs) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename(v, subs) for v in node]
    if isinstance(node, str):
        for rx, repl in subs:
            node = rx.sub(repl, node)
    return node


def _cr_operation(op: dict[str, Any], definition: Any, kind_ref: str, delete: bool) -> dict[str, Any]:
    op = copy.deepcopy(op)
    gvk = {"group": definition.group, "kind": definition.kind, "version": definition.version}
    if "x-kubernetes-group-version-kind" in op:
        op["x-kubernetes-group-version-kind"] = gvk
    body = op.get("requestBody")
    if isinstance(body, dict):
        content = body.get("content", {})
        content.pop("application/strategic-merge-patch+json", None)
        content.pop(_PROTOBUF, None)
    for resp in (op.get("responses") or {}).values():
        content = resp.get("content") if isinstance(resp, dict) else None
        if not isinstance(content, dict):
            continue
        for ctype in [c for c in content if "protobuf" in c]:
            del content[ctype]
        if delete:
            for media in content.values():
                if media.get("schema", {}).get("$ref") == REF_PREFIX + kind_ref:
                    media["schema"] = {"$ref": REF_PREFIX + META + "Status"}
    return op


def _cr_schemas(definition: Any) -> dict[str, Any]:
    pkg = cr_package(definition.group, definition.version)
    schema = copy.deepcopy(definition.schema)
    schema.setdefault("properties", {})["metadata"] = {"allOf": [{"$ref": REF_PREFIX + META + "ObjectMeta"}],
                                                      "description": _OBJECT_META_DESC}
    schema["x-kubernetes-group-version-kind"] = [
        {"group": definition.group, "kind": definition.kind, "version": definition.version}]
    props = schema["properties"]
    listed = {
        "description": f"{definition.list_kind} is a list of {definition.kind}",
        "properties": {
            "apiVersion": props.get("apiVersion", {"type": "string"}),
            "items": {"description": f"List of {definition.plural}. More info: "
                                     "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                                     "api-conventions.md",
                      "items": {"$ref": REF_PREFIX + pkg + definition.kind}, "type": "array"},
            "kind": props.get("kind", {"type": "string"}),
            "metadata": {"allOf": [{"$ref": REF_PREFIX + META + "ListMeta"}], "description": _LIST_META_DESC},
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": definition.group, "kind": definition.list_kind, "version": definition.version}],
    }
    return {pkg + definition.kind: schema, pkg + definition.list_kind: listed}


def custom_resource_documents(core: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The apis/<group>/<version> documents of the CRDs in orlop/registry/crds/."""
    by_gv: dict[str, list[Any]] = {}
    for definition in crds.crds().values():
        by_gv.setdefault(f"apis/{definition.group}/{definition.version}", []).append(definition)
    base = copy.deepcopy(core["components"]["schemas"])
    _augment(base)
    out = {}
    for gv, definitions in sorted(by_gv.items()):
        paths: dict[str, Any] = {}
        schemas = dict(base)
        for d in sorted(definitions, key=lambda x: x.kind):
            pkg = cr_package(d.group, d.version)
            schemas.update(_cr_schemas(d))
            kind0, plural0, templates = _CR_TEMPLATES[d.namespaced]
            op_infix, tag = _op_prefix(d.group, d.version)
            subs = [
                (re.compile(r"io\.k8s\.api\.core\.v1\." + kind0 + r"(List)?\b"), pkg + d.kind + r"\1"),
                (re.compile(kind0 + r"(List)?(?![a-z]|Claim)"), d.kind + r"\1"),
                (re.compile(r"\b" + plural0 + r"\b"), d.plural),
                (re.compile(r"CoreV1"), op_infix),
                (re.compile(r"^core_v1$"), tag),
                (re.compile(r"^/api/v1/"), f"/{gv}/"),
            ]
            for tpath in templates:
                if tpath.endswith("/status") and not d.status:
                    continue
                item = _rename(core["paths"][tpath], subs)
                new_item = {}
                for method, op in item.items():
                    if method == "parameters":
                        new_item[method] = op
                    else:
                        new_item[method] = _cr_operation(op, d, pkg + d.kind,
                                                         delete=method == "delete" and "{name}" in tpath)
                paths[_rename(tpath, subs)] = new_item
        paths[f"/{gv}/"] = _rename(core["paths"]["/api/v1/"], [(re.compile(r"CoreV1"), _op_prefix(
            definitions[0].group, definitions[0].version)[0]), (re.compile(r"^core_v1$"), _op_prefix(
                definitions[0].group, definitions[0].version)[1])])
        roots: set[str] = set()
        _refs(paths, roots)
        out[gv] = {"openapi": core["openapi"], "info": {"title": "Kubernetes", "version": "v1.32.0"},
                   "paths": dict(sorted(paths.items())), "components": {"schemas": _closure(roots, schemas)}}
    return out


def file_name(gv: str) -> str:
    return gv.replace("/", "__") + ".json"


def dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def build(ref_dir: Path = DEFAULT_REF) -> dict[str, dict[str, Any]]:
    served = _served()
    docs: dict[str, dict[str, Any]] = {}
    for gv, fname in SOURCES.items():
        with open(ref_dir / fname, encoding="utf-8") as f:
            docs[gv] = trim(gv, json.load(f), served.get(gv, {}))
    for gv, version in DERIVED.items():
        docs[gv] = derive_apps_beta(docs["apis/apps/v1"], version)
    with open(ref_dir / SOURCES["api/v1"], encoding="utf-8") as f:
        core = json.load(f)
    docs.update(custom_resource_documents(core))
    for gv, doc in docs.items():
        _check_patch_ops(gv, doc)
    return docs


def main(argv: list[str]) -> int:
    ref_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_REF
    out_dir = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = build(ref_dir)
    for old in out_dir.glob("*.json"):
        if old.name not in {file_name(gv) for gv in docs}:
            old.unlink()
    for gv, doc in sorted(docs.items()):
        data = dump(doc)
        (out_dir / file_name(gv)).write_bytes(data)
        print(f"{gv}: {len(doc['paths'])} paths, {len(doc['components']['schemas'])} schemas, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
