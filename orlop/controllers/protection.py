"""PVC and PV protection: in-use storage objects are not deleted from under their users.

Why this exists: Kubernetes' StorageObjectInUseProtection puts
``kubernetes.io/pvc-protection`` on every claim and ``kubernetes.io/pv-protection`` on
every volume at creation (see ``orlop.admission``).  A deleted claim therefore stays
Terminating while a Pod still uses it, and a deleted volume while it is Bound.  This
controller removes the finalizer once that is no longer so:
- claim: no scheduled Pod (``spec.nodeName`` set) in its namespace names it in
  ``spec.volumes[].persistentVolumeClaim.claimName`` -- whatever the Pod's phase: a
  Completed or Failed Pod holds its claim until the Pod object is deleted, and a Pod not
  yet scheduled does not hold it (kubelet never starts a Pod whose claim is being
  deleted, and the scheduler does not place it) -- and no scheduled Pod that has not shut
  down has it as the claim of a generic ephemeral volume (``<pod>-<volume>``, controlled
  by the Pod), as Kubernetes' podUsesPVC;
- volume: its ``status.phase`` is not Bound.
Like Kubernetes, the claim check reads the live Pod list before removing the finalizer,
so a stale cache can never release a claim that is still in use.
"""

from __future__ import annotations

from typing import Any

from ..admission import PV_PROTECTION, PVC_PROTECTION
from ..client import LocalClient
from ..scheduler.decide import pod_claims
from .base import Informers, WorkQueue


def claims_of(pod: dict[str, Any]) -> set[str]:
    vols = (pod.get("spec") or {}).get("volumes") or []
    return {v["persistentVolumeClaim"]["claimName"] for v in vols
            if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)
            and v["persistentVolumeClaim"].get("claimName")}


def _shut_down(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def ephemeral_claims_of(pod: dict[str, Any]) -> set[str]:
    """The claims of the Pod's generic ephemeral volumes (each named <pod>-<volume>)."""
    return {name for name, ephemeral in pod_claims(pod) if ephemeral}


def _ephemeral_claim_of(pod: dict[str, Any], claim: dict[str, Any]) -> bool:
    """A generic ephemeral volume's claim: named <pod>-<volume> and controlled by the pod."""
    meta = claim.get("metadata") or {}
    owned = any(isinstance(r, dict) and r.get("controller") and r.get("uid") == (pod.get("metadata") or {}).get("uid")
                for r in meta.get("ownerReferences") or [])
    return owned and meta.get("name") in ephemeral_claims_of(pod)


def pod_holds_claim(pod: dict[str, Any], claim: dict[str, Any]) -> bool:
    """podUsesPVC: a scheduled Pod keeps a claim it names from being deleted, in any phase; the
    claim of one of its generic ephemeral volumes until the Pod has shut down."""
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    name = (claim.get("metadata") or {}).get("name", "")
    return name in claims_of(pod) or (not _shut_down(pod) and _ephemeral_claim_of(pod, claim))


def pod_uses_claim(pod: dict[str, Any], claim: str) -> bool:
    """isVolumeUsed (recycling): a Pod that has not terminated, scheduled or not, uses the claims it names."""
    return not _shut_down(pod) and claim in claims_of(pod)


class ProtectionController:
    def __init__(self, client: LocalClient, informers: Informers):
        self.client = client
        self.pvcs = informers.get("v1", "PersistentVolumeClaim")
        self.pvs = informers.get("v1", "PersistentVolume")
        self.pods = informers.get("v1", "Pod")
        self.queue = WorkQueue()
        self.pvcs.on_change(self._on_claim)
        self.pvs.on_change(self._on_volume)
        self.pods.on_change(self._on_pod)

    def _on_claim(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        m = obj["metadata"]
        if typ != "DELETED" and m.get("deletionTimestamp") and PVC_PROTECTION in (m.get("finalizers") or []):
            self.queue.add(("pvc", m["namespace"], m["name"]))

    def _on_volume(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        m = obj["metadata"]
        if typ != "DELETED" and m.get("deletionTimestamp") and PV_PROTECTION in (m.get("finalizers") or []):
            self.queue.add(("pv", "", m["name"]))

    def _on_pod(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        # A pod that goes away releases its claims; one that shuts down, its ephemeral claims.
        if typ == "DELETED" or _shut_down(obj):
            for claim in claims_of(obj) | ephemeral_claims_of(obj):
                self.queue.add(("pvc", obj["metadata"]["namespace"], claim))

    async def run(self) -> None:
        await self.queue.process(self.sync, "protection-controller")

    async def sync(self, key: tuple[str, str, str]) -> None:
        kind, namespace, name = key
        if kind == "pvc":
            await self._sync_claim(namespace, name)
        else:
            await self._sync_volume(name)

    async def _sync_claim(self, namespace: str, name: str) -> None:
        pvc = await self.client.get("v1", "PersistentVolumeClaim", namespace, name)
        if pvc is None or not pvc["metadata"].get("deletionTimestamp") or \
                PVC_PROTECTION not in (pvc["metadata"].get("finalizers") or []):
            return
        pods, _ = await self.client.list("v1", "Pod", namespace)
        if any(pod_holds_claim(p, pvc) for p in pods):
            # OBSERVATION: claim Terminating, a scheduled Pod names it: keep the finalizer.
            return
        # OBSERVATION: claim Terminating and unused: release it.
        await self._drop(pvc, PVC_PROTECTION)

    async def _sync_volume(self, name: str) -> None:
        pv = await self.client.get("v1", "PersistentVolume", None, name)
        if pv is None or not pv["metadata"].get("deletionTimestamp") or \
                PV_PROTECTION not in (pv["metadata"].get("finalizers") or []):
            return
        if (pv.get("status") or {}).get("phase") == "Bound":
            # OBSERVATION: volume Terminating while Bound: wait for its claim to let go.
            return
        await self._drop(pv, PV_PROTECTION)

    async def _drop(self, obj: dict[str, Any], finalizer: str) -> None:
        obj["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != finalizer]
        await self.client.update(obj)
