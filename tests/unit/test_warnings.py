"""The warnings a write gets (Kubernetes 1.32's WarningsOnCreate / WarningsOnUpdate), as a table."""

from __future__ import annotations

from typing import Any

import pytest

from orlop.registry.warnings import for_object

BETA = 'metadata.annotations[volume.beta.kubernetes.io/storage-class]: deprecated since v1.8; use "storageClassName" ' \
       'attribute instead'
RECYCLE = ("spec.persistentVolumeReclaimPolicy: The Recycle reclaim policy is deprecated. Instead, the recommended "
           "approach is to use dynamic provisioning.")


def claim(requests: Any = "1Gi", limits: Any = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"storage": requests}}
    if limits is not None:
        resources["limits"] = {"storage": limits}
    return {"metadata": {"name": "c", "annotations": annotations or {}}, "spec": {"resources": resources}}


CASES: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "plain claim": ("PersistentVolumeClaim", claim(), []),
    "claim with the beta class annotation (seed 001)": (
        "PersistentVolumeClaim", claim(annotations={"volume.beta.kubernetes.io/storage-class": "slow"}), [BETA]),
    "fractional request": ("PersistentVolumeClaim", claim("1500m"), [
        'spec.resources.requests[storage]: fractional byte value "1500m" is invalid, must be an integer']),
    "fractional limit, canonical text": ("PersistentVolumeClaim", claim("1Gi", "0.5"), [
        'spec.resources.limits[storage]: fractional byte value "500m" is invalid, must be an integer']),
    "sub-milli: the value as given (Quantity.String())": ("PersistentVolumeClaim", claim("1.0001"), [
        'spec.resources.requests[storage]: fractional byte value "1000100u" is invalid, must be an integer']),
    "whole bytes in any form": ("PersistentVolumeClaim", claim("1.5Gi", "2e3"), []),
    "malformed size: validation's business": ("PersistentVolumeClaim", claim("lots"), []),
    "Recycle PV (seed 004)": ("PersistentVolume", {"metadata": {}, "spec": {"persistentVolumeReclaimPolicy": "Recycle"}},
                              [RECYCLE]),
    "PV with the beta class annotation and Recycle": (
        "PersistentVolume", {"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "x"}},
                             "spec": {"persistentVolumeReclaimPolicy": "Recycle"}}, [BETA, RECYCLE]),
    "PV node affinity on a deprecated label": ("PersistentVolume", {"metadata": {}, "spec": {"nodeAffinity": {
        "required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n"]},
            {"key": "failure-domain.beta.kubernetes.io/zone", "operator": "In", "values": ["z"]}]}]}}}}, [
        "spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[1].key: failure-domain.beta.kubernetes.io/zone"
        ' is deprecated since v1.17; use "topology.kubernetes.io/zone" instead']),
    "a glusterfs PV: a plugin Kubernetes (and orlop) no longer serves": (
        "PersistentVolume", {"metadata": {}, "spec": {"glusterfs": {"endpoints": "e", "path": "p"}}},
        ["spec.glusterfs: deprecated in v1.25, non-functional in v1.26+"]),
    "an rbd PV: no warning, orlop serves rbd": ("PersistentVolume", {"metadata": {}, "spec": {"rbd": {"image": "i"}}},
                                               []),
    "Retain PV": ("PersistentVolume", {"metadata": {}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}}, []),
    "other kinds: none": ("ConfigMap", {"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "x"}}},
                          []),
}


@pytest.mark.parametrize("name", CASES)
def test_warnings(name: str) -> None:
    kind, obj, want = CASES[name]
    assert for_object(kind, obj) == want
