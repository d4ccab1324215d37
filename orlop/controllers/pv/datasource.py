"""Provisioning from a data source: what a new volume starts as (a snapshot, or a clone of a claim).

Why this exists: a claim whose ``dataSource`` / ``dataSourceRef`` names a VolumeSnapshot
(snapshot.storage.k8s.io) or another PersistentVolumeClaim is provisioned from it, as the
CSI external-provisioner does: the snapshot must be bound to its content, of the class's
driver, ready to use and no larger than the claim's request; the claim to clone must be
Bound, in the same namespace, on a volume of the same driver, no larger than the request.
``fill`` checks this and puts the snapshot's handle (``source_snapshot_handle``) or the
source volume (``source_volume``) into the ProvisionRequest; what it refuses it refuses
with the external-provisioner's message ("error getting handle for DataSource Type
VolumeSnapshot by Name snap1: snapshot snap1 is not Ready"), and the provisioning is retried.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...drivers import DriverError, ProvisionRequest, Retryable, get_driver
from ...gofmt import go_quote
from ...quantity import parse_quantity

SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
SNAPSHOT_API = f"{SNAPSHOT_GROUP}/v1"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


class Reader(Protocol):
    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...


def _data_source(claim: dict[str, Any]) -> dict[str, Any] | None:
    spec = claim.get("spec") or {}
    ref = spec.get("dataSourceRef") or spec.get("dataSource")
    return ref if isinstance(ref, dict) and ref.get("name") else None


def _drivers_of(pv: dict[str, Any]) -> set[str]:
    """A volume's driver names: its CSI driver and the provisioner that made it."""
    names = set()
    csi = (pv.get("spec") or {}).get("csi")
    if isinstance(csi, dict) and csi.get("driver"):
        names.add(str(csi["driver"]))
    made_by = ((pv.get("metadata") or {}).get("annotations") or {}).get(ANN_PROVISIONED_BY)
    if made_by:
        names.add(str(made_by))
    return names


def _names(provisioner: str) -> set[str]:
    """The names the class's driver goes by: the provisioner, and the CSI name its PVs carry."""
    driver = get_driver(provisioner)
    return {provisioner, str(getattr(driver, "csi_driver", "") or provisioner)}


def _bytes(q: Any) -> int:
    return int(parse_quantity(q))


async def fill(client: Reader, req: ProvisionRequest) -> None:
    """Set ``req.source_snapshot_handle`` or ``req.source_volume`` from the claim's data source."""
    ref = _data_source(req.claim)
    if ref is None:
        return
    group, kind, name = str(ref.get("apiGroup") or ""), str(ref.get("kind") or ""), str(ref["name"])
    namespace = (req.claim.get("metadata") or {}).get("namespace") or ""
    prefix = f"error getting handle for DataSource Type {kind} by Name {name}: "
    if ref.get("namespace") not in (None, "", namespace):
        raise DriverError("UnsupportedDataSource", f"{prefix}a data source in another namespace "
                                                   f"({ref['namespace']}) is not supported")
    provisioner = str(req.storage_class.get("provisioner") or "")
    if group == SNAPSHOT_GROUP and kind == "VolumeSnapshot":
        req.source_snapshot_handle = await _snapshot_handle(client, req, namespace, name, provisioner, prefix)
    elif group == "" and kind == "PersistentVolumeClaim":
        req.source_volume = await _clone_source(client, req, namespace, name, provisioner, prefix)
    else:
        raise DriverError("UnsupportedDataSource",
                          f"{prefix}{provisioner} cannot populate a volume from a {kind}"
                          + (f".{group}" if group else ""))


async def _snapshot_handle(client: Reader, req: ProvisionRequest, namespace: str, name: str, provisioner: str,
                           prefix: str) -> str:
    """getSnapshotSource."""
    vs = await client.get(SNAPSHOT_API, "VolumeSnapshot", namespace, name)
    if vs is None:
        raise Retryable("SnapshotNotFound", f"{prefix}error getting snapshot {name} from api server: "
                                            f"volumesnapshots.{SNAPSHOT_GROUP} {go_quote(name)} not found")
    if vs["metadata"].get("deletionTimestamp"):
        raise Retryable("SnapshotDeleting", f"{prefix}snapshot {name} is being deleted")
    status = vs.get("status") or {}
    not_bound = Retryable("SnapshotNotBound", f"{prefix}snapshot {name} not bound")
    content_name = status.get("boundVolumeSnapshotContentName")
    if not content_name:
        raise not_bound
    content = await client.get(SNAPSHOT_API, "VolumeSnapshotContent", None, content_name)
    if content is None:
        raise not_bound
    cref = (content.get("spec") or {}).get("volumeSnapshotRef") or {}
    if (cref.get("uid") != vs["metadata"].get("uid") or cref.get("namespace") != namespace
            or cref.get("name") != name or (content.get("spec") or {}).get("driver") not in _names(provisioner)):
        raise not_bound
    if status.get("readyToUse") is not True:
        raise Retryable("SnapshotNotReady", f"{prefix}snapshot {name} is not Ready")
    handle = (content.get("status") or {}).get("snapshotHandle")
    if not handle:
        raise Retryable("SnapshotNotReady", f"{prefix}snapshot handle {name} is not available")
    if status.get("restoreSize") is not None:
        size = _bytes(status["restoreSize"])
        if req.size_bytes < size:
            raise DriverError("VolumeTooSmall", f"{prefix}requested volume size {req.size_bytes} is less than the "
                                                f"size {size} for the source snapshot {name}")
    return str(handle)


async def _clone_source(client: Reader, req: ProvisionRequest, namespace: str, name: str, provisioner: str,
                        prefix: str) -> dict[str, Any]:
    """getPVCSource."""
    src = await client.get("v1", "PersistentVolumeClaim", namespace, name)
    if src is None:
        raise Retryable("SourceNotFound", f"{prefix}error getting PVC {name} (namespace {go_quote(namespace)}) from "
                                          f"api server: persistentvolumeclaim {go_quote(name)} not found")
    phase = (src.get("status") or {}).get("phase") or "Pending"
    if phase != "Bound":
        raise Retryable("SourceNotBound", f"{prefix}the PVC DataSource {name} must have a status of Bound.  "
                                          f"Got {phase}")
    if src["metadata"].get("deletionTimestamp"):
        raise Retryable("SourceDeleting", f"{prefix}the PVC DataSource {name} is currently being deleted")
    if not (src.get("spec") or {}).get("storageClassName"):
        raise DriverError("SourceInvalid", f"{prefix}the source PVC ({name}) storageclass cannot be empty")
    source_size = _bytes(((src.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", "0"))
    if req.size_bytes < source_size:
        raise DriverError("VolumeTooSmall", f"{prefix}error, new PVC request must be greater than or equal in size "
                                            f"to the specified PVC data source, requested {req.size_bytes} but "
                                            f"source is {source_size}")
    pv_name = (src.get("spec") or {}).get("volumeName")
    if not pv_name:
        raise Retryable("SourceNotBound", f"{prefix}volume name is empty in source PVC {name}")
    pv = await client.get("v1", "PersistentVolume", None, pv_name)
    invalid = Retryable("SourceInvalid", f"{prefix}claim in dataSource not bound or invalid")
    if pv is None or not _drivers_of(pv) & _names(provisioner):
        raise invalid
    claim_ref = (pv.get("spec") or {}).get("claimRef") or {}
    if (claim_ref.get("uid") != src["metadata"].get("uid") or claim_ref.get("namespace") != namespace
            or claim_ref.get("name") != name or (pv.get("status") or {}).get("phase") != "Bound"):
        raise invalid
    source_mode = (pv.get("spec") or {}).get("volumeMode") or "Filesystem"
    if source_mode != req.volume_mode:
        raise DriverError("VolumeModeMismatch", f"{prefix}the source PVC and destination PVCs must have the same "
                                                f"volume mode for cloning.  Source is {source_mode}, but new PVC "
                                                f"requested {req.volume_mode}")
    return pv
