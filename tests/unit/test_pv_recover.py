"""Recovery of provisioning a crash interrupted, when the claim is gone by then (``PVController._recover``):
the backend volume made for it is removed; a volume that could never have been made (provisioning
fails for good with the recorded class) leaves nothing to remove; one whose removal fails is tried
again later, never forgotten.  Each intent is handled on its own: one failing does not stop the rest."""

from __future__ import annotations

import os
from typing import Any

from orlop import drivers
from orlop.client import LocalClient
from orlop.controllers.base import Informers
from orlop.controllers.pv.controller import PVController
from orlop.drivers import DriverError, ProvisionRequest, ProvisionResult, Retryable
from orlop.registry.core import Registry
from orlop.store.sqlite import SQLiteStore


class Backend:
    """A backend with scripted answers: a fault (refusal, busy) that a real one gives rarely."""

    name = "test.orlop.io/recover"

    def __init__(self) -> None:
        self.volumes: set[str] = {"pvc-made", "pvc-busy"}
        self.deleted: list[str] = []

    async def provision(self, req: ProvisionRequest) -> ProvisionResult:
        if req.claim["metadata"]["name"] == "never":
            raise DriverError("AuthFailed", "authentication failed")
        return ProvisionResult(source={"hostPath": {"path": f"/tmp/{req.volume_name}"}}, node_affinity=None,
                               capacity_bytes=req.size_bytes)

    async def delete(self, pv: dict[str, Any]) -> None:
        name = pv["metadata"]["name"]
        if name == "pvc-busy":
            raise Retryable("VolumeInUse", "still being used")
        self.volumes.discard(name)
        self.deleted.append(name)


def intent(name: str, uid: str) -> dict[str, Any]:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": name, "namespace": "default", "uid": uid},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                      "storageClassName": "c"}}
    cls = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "c"},
           "provisioner": Backend.name, "reclaimPolicy": "Delete"}
    return {"claim": claim, "class": cls, "provisioner": Backend.name}


async def test_recovery_removes_what_it_can_drops_what_never_was_and_keeps_the_rest(tmp_path: Any) -> None:
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    registry = Registry(store)
    backend = Backend()
    drivers.register(backend)  # type: ignore[arg-type]
    try:
        client = LocalClient(registry, "persistentvolume-controller")
        ctrl = PVController(client, Informers(LocalClient(registry, "informers")))
        await client.put_intent("pvc-never", intent("never", "never"))
        await client.put_intent("pvc-busy", intent("busy", "busy"))
        await client.put_intent("pvc-made", intent("made", "made"))
        await ctrl._recover()
        assert backend.deleted == ["pvc-made"]
        assert set(await client.intents()) == {"pvc-busy"}      # kept: tried again at the next resync
        await ctrl._recover()
        assert set(await client.intents()) == {"pvc-busy"} and "pvc-busy" in backend.volumes
    finally:
        drivers.unregister(Backend.name)
        await store.close()
