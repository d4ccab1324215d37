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
    "sub-milli rounds up first": ("PersistentVolumeClaim", claim("1.0001"), [
        'spec.resources.requests[storage]: fractional byte value "1001m" is invalid, must be an integer']),
    "whole bytes in any form": ("PersistentVolumeClaim", claim("1.5Gi", "2e3"), []),
    "malformed size: validation's business": ("PersistentVolumeClaim", claim("lots"), []),
    "Recycle PV (seed 004)": ("PersistentVolume", {"metadata": {}, "spec": {"persistentVolumeReclaimPolicy": "Recycle"}},
                              [RECYCLE]),
    "PV with the beta class annotation and Recycle": (
        "PersistentVolume", {"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "x"}},
                             "spec": {"persistentVolumeReclaimPolicy": "Recycle"}}, [BETA, RECYCLE]),
    "Retain PV": ("PersistentVolume", {"metadata": {}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}}, []),
    "other kinds: none": ("ConfigMap", {"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "x"}}},
                          []),
}


@pytest.mark.parametrize("name", CASES)
def test_warnings(name: str) -> None:
    kind, obj, want = CASES[name]
    assert for_object(kind, obj) == want
