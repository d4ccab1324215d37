"""Which pods keep a claim: podUsesPVC (protection) and isVolumeUsed (recycling), as a table."""

from __future__ import annotations

from typing import Any

import pytest

from orlop.controllers.protection import pod_holds_claim, pod_uses_claim


def pod(node: str = "", phase: str = "Running", claim: str = "data", ephemeral: str = "") -> dict[str, Any]:
    vols: list[dict[str, Any]] = [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}] if claim else []
    if ephemeral:
        vols.append({"name": ephemeral, "ephemeral": {"volumeClaimTemplate": {"spec": {}}}})
    spec: dict[str, Any] = {"volumes": vols}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": "p", "uid": "pod-uid"}, "spec": spec, "status": {"phase": phase}}


def claim(name: str = "data", owner: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner:
        meta["ownerReferences"] = [{"kind": "Pod", "name": "p", "uid": owner, "controller": True}]
    return {"metadata": meta}


# name: (pod, claim, holds it (protection), uses it (recycling))
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], bool, bool]] = {
    "scheduled, running": (pod("n1"), claim(), True, True),
    "scheduled, completed: still holds it until deleted": (pod("n1", "Succeeded"), claim(), True, False),
    "scheduled, failed": (pod("n1", "Failed"), claim(), True, False),
    "not scheduled: holds nothing": (pod(""), claim(), False, True),
    "another claim": (pod("n1"), claim("other"), False, False),
    "ephemeral claim of a running pod": (pod("n1", claim="", ephemeral="scratch"), claim("p-scratch", "pod-uid"),
                                         True, False),
    "ephemeral claim of a pod that shut down": (pod("n1", "Succeeded", claim="", ephemeral="scratch"),
                                                claim("p-scratch", "pod-uid"), False, False),
    "a claim named like an ephemeral one but not the pod's": (pod("n1", claim="", ephemeral="scratch"),
                                                              claim("p-scratch", "someone-else"), False, False),
}


@pytest.mark.parametrize("name", CASES)
def test_which_pods_keep_a_claim(name: str) -> None:
    p, c, holds, uses = CASES[name]
    assert pod_holds_claim(p, c) is holds
    assert pod_uses_claim(p, c["metadata"]["name"]) is uses
