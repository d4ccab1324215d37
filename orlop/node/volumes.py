"""A pod's volumes on the node: resolved, attached, mounted, and gone again.

Why this exists: the kubelet's volume manager and the attach-detach controller between
them make sure a container sees its claim's directory, that a ReadWriteOnce volume is
used from one node at a time, and that nothing stays mounted once the pod is gone.
Here, for each pod:

- every ``persistentVolumeClaim`` must be Bound (else the pod waits, with kubelet's
  FailedMount message after a while); its PV's ``hostPath`` or ``local`` path is the source;
- a PV that is not ReadWriteMany (or ReadOnlyMany used read-only) is *attached* to this
  node first: the PV annotation ``orlop.io/attached-node`` is set by compare-and-swap;
  if another node holds it and a pod there still uses the claim, the pod waits with the
  attach-detach controller's Multi-Attach event; the annotation is cleared when the last
  pod using the volume on this node is gone;
- each volume gets a host path ``<root>/pods/<uid>/volumes/<name>``: a bind mount of the
  claim's or hostPath's directory (read-only when the pod's claim says ``readOnly``), a
  plain directory for emptyDir (tmpfs for ``medium: Memory``), files for configMap,
  secret, downwardAPI and projected volumes;
- on removal everything below the pod's volume directory is unmounted, checked against
  ``/proc/self/mountinfo``, and only then deleted;
- ``orlop.io/image`` volumes (csi driver ``image.orlop.io``) are staged by
  ``orlop.node.block`` (loop device, mkfs on first use, one mount per node) and
  bind-mounted into each pod (the device node itself for ``volumeMode: Block``); the last
  pod on the node using one unstages it (unmount, ``losetup -d``).  A claim with ``FileSystemResizePending`` whose volume is staged here is
  grown on the node (online where the filesystem can, else at its next stage), then gets
  its new ``status.capacity`` and kubelet's FileSystemResizeSuccessful events.
- Ceph RBD images (inline ``rbd:`` volumes, PVs with an ``rbd`` source or a ceph-csi
  ``rbd.csi.ceph.com`` source) are staged by ``orlop.node.rbd`` (one rbd-fuse per image,
  then the same loop/mkfs/mount path), keyed by ``<pool>-image-<image>``: every pod on
  the node using one image shares the staging, the last one gone unstages it.  The key
  comes from the named Secret (pod's namespace unless the PV's secretRef says otherwise)
  or the node's keyring file.  RBD claims grow like image volumes.

With a runtime that runs nothing (``mount=False``) only the waiting and attaching happen.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import stat
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..controllers.expand import RESIZE_CONDITIONS
from ..drivers.ceph import CephError
from ..errors import StatusError
from ..jsonobj import clone
from ..quantity import parse_quantity
from . import mounts, rbd
from .block import BlockError, BlockVolumes, ImageVolume, Staged, image_volume, is_image_volume
from .podspec import ConfigError, field_value
from .runtime import Mount

log = logging.getLogger(__name__)

ATTACHED_NODE = "orlop.io/attached-node"
Lookup = Callable[[str | None, str], dict[str, Any] | None]      # (namespace, name) -> object
Emit = Callable[[dict[str, Any], str, str, str], None]           # (object, type, reason, message)
RESIZE_PENDING = "FileSystemResizePending"


class VolumeClient(Protocol):
    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def list(self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "",
                   field_selector: str = "") -> tuple[list[dict[str, Any]], str]: ...

    async def update(self, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]: ...


class VolumeWait(Exception):
    """The pod's volumes are not ready; the pod waits (ContainerCreating) and is retried.

    ``reason``/``message``/``component`` are the Warning event to record; a ``delayed`` one
    only once the pod has waited a while (a claim about to be bound is not worth a warning).
    """

    def __init__(self, reason: str, message: str, component: str = "kubelet", retry_after: float = 5.0,
                 delayed: bool = False):
        super().__init__(message)
        self.reason, self.message, self.component = reason, message, component
        self.retry_after, self.delayed = retry_after, delayed


def claims_of(pod: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(volume name, claim name, readOnly) for each persistentVolumeClaim volume."""
    out = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        src = v.get("persistentVolumeClaim")
        if isinstance(src, dict) and src.get("claimName"):
            out.append((v["name"], src["claimName"], bool(src.get("readOnly"))))
    return out


def needs_attach(pv: dict[str, Any], read_only: bool) -> bool:
    """Whether a PV must be attached to one node at a time for this use."""
    modes = set((pv.get("spec") or {}).get("accessModes") or [])
    if "ReadWriteMany" in modes:
        return False
    return not ("ReadOnlyMany" in modes and read_only)


def pv_source(pv: dict[str, Any]) -> tuple[str, str]:
    """(host path, hostPath type) of a PV this node can mount; ValueError otherwise."""
    spec = pv.get("spec") or {}
    if isinstance(spec.get("hostPath"), dict):
        return spec["hostPath"].get("path", ""), spec["hostPath"].get("type") or ""
    if isinstance(spec.get("local"), dict):
        return spec["local"].get("path", ""), "Directory"
    raise ValueError("unsupported volume source: only hostPath, local, rbd, orlop.io/image and rbd.csi.ceph.com "
                     "(csi) volumes can be mounted on this node")


def unbound_message(volume: str, namespace: str, claim_name: str, claim: dict[str, Any] | None) -> str:
    """kubelet's FailedMount message for a claim that is not (yet) Bound."""
    if claim is None:
        why = f'persistentvolumeclaim "{claim_name}" not found'
    else:
        phase = (claim.get("status") or {}).get("phase") or ""
        vol = (claim.get("spec") or {}).get("volumeName") or ""
        why = (f'PVC {namespace}/{claim_name} has non-bound phase ("{phase}") or empty pvc.Spec.VolumeName '
               f'("{vol}")')
    return (f"Unable to attach or mount volumes: unmounted volumes=[{volume}], unattached volumes=[], "
            f"failed to process volumes=[{volume}]: error processing PVC {namespace}/{claim_name}: {why}")


def multi_attach_message(pv_name: str, users: list[str]) -> str:
    return f'Multi-Attach error for volume "{pv_name}" Volume is already used by pod(s) {", ".join(users)}'


def check_host_path(path: str, typ: str, create: bool) -> None:
    """hostPath ``type`` semantics; DirectoryOrCreate / FileOrCreate create when ``create``."""
    def fail(what: str) -> None:
        raise ValueError(f"hostPath type check failed: {path} is not {what}")
    if typ == "DirectoryOrCreate":
        if create:
            os.makedirs(path, mode=0o755, exist_ok=True)
        elif not os.path.isdir(path):
            fail("a directory")
    elif typ == "FileOrCreate":
        if create and not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            with open(path, "a"):
                pass
            os.chmod(path, 0o644)
    elif typ == "" and create and not os.path.exists(path):
        # No type: no checks, and a missing path is made a directory, as containerd's CRI does.
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif typ == "Directory" and not os.path.isdir(path):
        fail("a directory")
    elif typ == "File" and not os.path.isfile(path):
        fail("a file")
    elif typ in ("Socket", "CharDevice", "BlockDevice"):
        checks = {"Socket": (stat.S_ISSOCK, "a socket file"), "CharDevice": (stat.S_ISCHR, "a character device"),
                  "BlockDevice": (stat.S_ISBLK, "a block device")}
        test, what = checks[typ]
        try:
            ok = test(os.stat(path).st_mode)
        except FileNotFoundError:
            ok = False
        if not ok:
            fail(what)


def _mode(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int) else default


def _write_file(base: str, rel: str, data: bytes, mode: int) -> None:
    if rel.startswith("/") or ".." in rel.split("/"):
        raise ValueError(f"invalid path {rel!r}")
    path = os.path.join(base, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".orlop-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode & 0o777)
    os.replace(tmp, path)


def object_files(obj: dict[str, Any]) -> dict[str, bytes]:
    """Key -> bytes of a ConfigMap (data, binaryData) or Secret (data, stringData)."""
    if obj.get("kind") == "Secret":
        out = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        out.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
        return out
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def project_keys(kind: str, name: str, files: dict[str, bytes] | None, src: dict[str, Any],
                 default_mode: int) -> list[tuple[str, bytes, int]]:
    """(path, data, mode) of a configMap/secret source, honouring items and optional."""
    if files is None:
        if src.get("optional"):
            return []
        raise ValueError(f'{"configmap" if kind == "ConfigMap" else "secret"} "{name}" not found')
    items = src.get("items")
    if not items:
        return [(k, v, default_mode) for k, v in sorted(files.items())]
    out = []
    for it in items:
        key = it.get("key", "")
        if key not in files:
            if src.get("optional"):
                continue
            raise ValueError(f"{'configmap' if kind == 'ConfigMap' else 'secret'} references non-existent "
                             f"{'config ' if kind == 'ConfigMap' else 'secret '}key: {key}")
        out.append((it.get("path") or key, files[key], _mode(it.get("mode"), default_mode)))
    return out


def resize_pending(claim: dict[str, Any]) -> bool:
    return any(c.get("type") == RESIZE_PENDING and c.get("status") == "True"
               for c in (claim.get("status") or {}).get("conditions") or [])


def resized_claim(claim: dict[str, Any], capacity: str) -> dict[str, Any]:
    """kubelet's MarkFSResizeFinished: the new capacity, no resize conditions, no resize status."""
    new = clone(claim)
    status = new.setdefault("status", {})
    status["capacity"] = {**(status.get("capacity") or {}), "storage": capacity}
    conds = [c for c in status.get("conditions") or [] if c.get("type") not in RESIZE_CONDITIONS]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)
    statuses = dict(status.get("allocatedResourceStatuses") or {})
    statuses.pop("storage", None)
    if statuses:
        status["allocatedResourceStatuses"] = statuses
    else:
        status.pop("allocatedResourceStatuses", None)
    return new


def volume_device_mounts(container: dict[str, Any], volume_paths: dict[str, str]) -> list[Mount]:
    """volumeDevices: the pod's device node of a Block volume at each devicePath."""
    out = []
    for vd in container.get("volumeDevices") or []:
        host = volume_paths.get(vd.get("name", ""))
        if host is None:
            raise ConfigError(f"cannot find volume {vd.get('name')!r} to map into container {container['name']!r}")
        out.append(Mount(host, vd.get("devicePath", ""), False))
    return out


class VolumeManager:
    def __init__(self, client: VolumeClient, node_name: str, pods_dir: str, mount: bool,
                 block: BlockVolumes | None = None, emit: Emit | None = None, rbd_volumes: rbd.RbdVolumes | None = None):
        self.client, self.node_name, self.pods_dir, self.mount = client, node_name, pods_dir, mount
        root = os.path.dirname(os.path.abspath(pods_dir))
        self.block = block if block is not None else BlockVolumes(root)
        self.rbd = rbd_volumes if rbd_volumes is not None else rbd.RbdVolumes(root)
        self.emit = emit
        self._ready: dict[str, dict[str, str]] = {}          # pod uid -> volume name -> host path
        self._pod_pvs: dict[str, set[str]] = {}               # pod uid -> attached PV names
        self._users: dict[str, set[str]] = {}                 # PV name -> pod uids on this node
        self._pv_locks: dict[str, asyncio.Lock] = {}          # one attach/detach decision per PV at a time
        self._image_users: dict[str, set[str]] = {}           # image PV name -> pod uids it is published to
        self._pod_images: dict[str, dict[str, ImageVolume]] = {}  # pod uid -> image PV name -> volume
        self._image_pods: dict[str, dict[str, Any]] = {}      # pod uid -> pod (for events)
        self._stage_locks: dict[str, asyncio.Lock] = {}       # one stage/unstage/expand per image PV at a time
        self._rbd_users: dict[str, set[str]] = {}             # rbd staging key -> pod uids it is published to
        self._pod_rbd: dict[str, dict[str, rbd.RbdVolume]] = {}  # pod uid -> rbd staging key -> volume
        self._rbd_pvs: dict[str, str] = {}                    # rbd PV name -> staging key

    def _pv_lock(self, pv_name: str) -> asyncio.Lock:
        return self._pv_locks.setdefault(pv_name, asyncio.Lock())

    def volumes_dir(self, uid: str) -> str:
        return os.path.join(self.pods_dir, uid, "volumes")

    def ready(self, uid: str) -> dict[str, str] | None:
        return self._ready.get(uid)

    # ------------------------------------------------------------------ setup
    async def setup(self, pod: dict[str, Any], claim: Lookup, volume: Lookup) -> dict[str, str]:
        """Host path of every volume of the pod; raises VolumeWait while that cannot be."""
        uid = pod["metadata"]["uid"]
        if uid in self._ready:
            return self._ready[uid]
        ns = pod["metadata"].get("namespace") or "default"
        pvs: dict[str, tuple[dict[str, Any], bool]] = {}
        claims: dict[str, dict[str, Any]] = {}
        for vol_name, claim_name, read_only in claims_of(pod):
            c = claim(ns, claim_name)
            bound = c is not None and (c.get("status") or {}).get("phase") == "Bound" and \
                (c.get("spec") or {}).get("volumeName")
            if not bound:
                raise VolumeWait("FailedMount", unbound_message(vol_name, ns, claim_name, c), delayed=True)
            assert c is not None
            pv = volume(None, c["spec"]["volumeName"])
            if pv is None:
                raise VolumeWait("FailedMount", f"Unable to attach or mount volumes: unmounted volumes=[{vol_name}], "
                                 f"unattached volumes=[], failed to process volumes=[{vol_name}]: error processing "
                                 f"PVC {ns}/{claim_name}: failed to fetch PV {c['spec']['volumeName']} from API server",
                                 delayed=True)
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            if ref.get("uid") and ref["uid"] != c["metadata"].get("uid"):
                raise VolumeWait("FailedMount", f'MountVolume.SetUp failed for volume "{vol_name}" : the '
                                 f'PersistentVolume {pv["metadata"]["name"]} is bound to another claim')
            pvs[vol_name] = (pv, read_only)
            claims[vol_name] = c
        for pv, read_only in pvs.values():
            if needs_attach(pv, read_only):
                await self.attach(pod, pv["metadata"]["name"], (pv.get("spec") or {}).get("claimRef") or {})
        paths: dict[str, str] = {}
        base = self.volumes_dir(uid)
        for v in (pod.get("spec") or {}).get("volumes") or []:
            name = v["name"]
            try:
                if name in pvs and is_image_volume(pvs[name][0]):
                    paths[name] = await self._setup_image(pod, os.path.join(base, name), *pvs[name], claims[name])
                    continue
                if name in pvs and rbd.is_rbd_pv(pvs[name][0]):
                    pv, read_only = pvs[name]
                    paths[name] = await self._setup_rbd(pod, os.path.join(base, name), rbd.pv_volume(pv, ns),
                                                        read_only, claims[name])
                    continue
                if isinstance(v.get("rbd"), dict):
                    paths[name] = await self._setup_rbd(pod, os.path.join(base, name), rbd.inline_volume(v, ns),
                                                        False, None)
                    continue
                paths[name] = await self._setup_one(pod, v, os.path.join(base, name), pvs.get(name))
            except (ValueError, OSError, ConfigError) as e:
                raise VolumeWait("FailedMount", f'MountVolume.SetUp failed for volume "{name}" : {e}') from None
        self._ready[uid] = paths
        return paths

    async def _setup_one(self, pod: dict[str, Any], v: dict[str, Any], target: str,
                         pv: tuple[dict[str, Any], bool] | None) -> str:
        if pv is not None:
            source, typ = pv_source(pv[0])
            if not self.mount:
                return source
            check_host_path(source, typ, create=True)
            return self._bind(source, target, pv[1])
        if isinstance(v.get("hostPath"), dict):
            source, typ = v["hostPath"].get("path", ""), v["hostPath"].get("type") or ""
            if not self.mount:
                return source
            check_host_path(source, typ, create=True)
            return self._bind(source, target, False)
        if not self.mount:
            return target
        if "emptyDir" in v:
            ed = v.get("emptyDir") or {}
            os.makedirs(target, exist_ok=True)
            if ed.get("medium") == "Memory" and not mounts.is_mount_point(target):
                size = ed.get("sizeLimit")
                opts = f"mode=0777,size={int(parse_quantity(size))}" if size else "mode=0777"
                mounts.mount("tmpfs", target, "tmpfs", mounts.MS_NOSUID | mounts.MS_NODEV, opts)
            else:
                os.chmod(target, 0o777)
            return target
        files = await self._files_of(pod, v)
        if files is None:
            raise ValueError("unsupported volume type: this node mounts persistentVolumeClaim, hostPath, "
                             "emptyDir, configMap, secret, downwardAPI and projected volumes")
        os.makedirs(target, exist_ok=True)
        for rel, data, mode in files:
            _write_file(target, rel, data, mode)
        return target

    # ----------------------------------------------------------- image volumes
    def _stage_lock(self, pv_name: str) -> asyncio.Lock:
        return self._stage_locks.setdefault(pv_name, asyncio.Lock())

    async def _setup_image(self, pod: dict[str, Any], target: str, pv: dict[str, Any], read_only: bool,
                           claim: dict[str, Any]) -> str:
        """Stage the image volume on this node (once) and publish it into the pod."""
        pv_name = pv["metadata"]["name"]
        try:
            vol = image_volume(pv)
        except ValueError as e:
            raise VolumeWait("FailedMount", f'MountVolume.MountDevice failed for volume "{pv_name}" : {e}') from None
        if not self.mount:
            return vol.path
        uid = pod["metadata"]["uid"]
        async with self._stage_lock(pv_name):
            try:
                staged = await asyncio.to_thread(self.block.stage, vol)
            except (BlockError, OSError) as e:
                raise VolumeWait("FailedMount", f'MountVolume.MountDevice failed for volume "{pv_name}" : {e}') \
                    from None
            self._image_users.setdefault(pv_name, set()).add(uid)
            self._pod_images.setdefault(uid, {})[pv_name] = vol
            self._image_pods[uid] = pod
        await self._finish_resize(claim, pv_name, staged)
        return self._bind(staged.path, target, read_only or vol.read_only)

    def wants_resize(self, claim: dict[str, Any]) -> bool:
        """A claim waiting for the node to grow its filesystem, whose volume is staged here."""
        name = (claim.get("spec") or {}).get("volumeName") or ""
        staged = bool(self._image_users.get(name)) or bool(self._rbd_users.get(self._rbd_pvs.get(name, "")))
        return staged and resize_pending(claim)

    async def resize(self, claim: dict[str, Any]) -> None:
        """NodeExpandVolume for a staged image or RBD volume; the claim is finished when the filesystem fills it."""
        name = (claim.get("spec") or {}).get("volumeName") or ""
        pv = await self.client.get("v1", "PersistentVolume", None, name)
        if pv is not None and rbd.is_rbd_pv(pv):
            await self._resize_rbd(claim, pv)
            return
        if pv is None or not is_image_volume(pv):
            return
        vol = image_volume(pv)
        async with self._stage_lock(name):
            if not self._image_users.get(name):
                return            # not staged here (any more): it grows at its next stage
            try:
                staged = await asyncio.to_thread(self.block.expand, vol)
            except BlockError as e:
                self._event(claim, "Warning", "FileSystemResizeFailed",
                            f'MountVolume.NodeExpandVolume failed for volume "{name}" : {e}')
                raise
        if staged is not None:
            await self._finish_resize(claim, name, staged)

    async def _resize_rbd(self, claim: dict[str, Any], pv: dict[str, Any]) -> None:
        name = pv["metadata"]["name"]
        try:
            vol = rbd.pv_volume(pv, claim["metadata"].get("namespace") or "default")
        except ValueError:
            return
        capacity = ((pv.get("spec") or {}).get("capacity") or {}).get("storage")
        want = int(parse_quantity(capacity)) if capacity else 0
        async with self._stage_lock("rbd:" + vol.key):
            if not self._rbd_users.get(vol.key):
                return            # not staged here (any more): it grows at its next stage
            try:
                staged = await asyncio.to_thread(self.rbd.expand, vol, want)
            except (BlockError, OSError) as e:
                self._event(claim, "Warning", "FileSystemResizeFailed",
                            f'MountVolume.NodeExpandVolume failed for volume "{name}" : {e}')
                raise
        if staged is not None:
            await self._finish_resize(claim, name, staged, self._rbd_users.get(vol.key, set()))

    async def _finish_resize(self, claim: dict[str, Any], pv_name: str, staged: Staged,
                             users: set[str] | None = None) -> None:
        if not resize_pending(claim) or not staged.fs_complete:
            return
        pv = await self.client.get("v1", "PersistentVolume", None, pv_name)
        capacity = ((pv or {}).get("spec") or {}).get("capacity", {}).get("storage")
        if not capacity or staged.device_bytes < parse_quantity(capacity):
            return                # the volume itself has not grown to the PV's size yet
        meta = claim["metadata"]
        for _ in range(5):
            fresh = await self.client.get("v1", "PersistentVolumeClaim", meta.get("namespace"), meta["name"])
            if fresh is None or fresh["metadata"].get("uid") != meta.get("uid") or not resize_pending(fresh):
                return
            try:
                await self.client.update(resized_claim(fresh, capacity), subresource="status")
                break
            except StatusError as e:
                if e.code != 409:
                    raise
        else:
            return
        message = f'MountVolume.NodeExpandVolume succeeded for volume "{pv_name}" {self.node_name}'
        for uid in sorted(users if users is not None else self._image_users.get(pv_name, set())):
            if uid in self._image_pods:
                self._event(self._image_pods[uid], "Normal", "FileSystemResizeSuccessful", message)
        self._event(claim, "Normal", "FileSystemResizeSuccessful", message)

    def _event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self.emit is not None:
            self.emit(obj, type_, reason, message)

    async def _setup_rbd(self, pod: dict[str, Any], target: str, vol: rbd.RbdVolume, read_only: bool,
                         claim: dict[str, Any] | None) -> str:
        """Stage the RBD image on this node (once: rbd-fuse, loop, mkfs, mount) and publish it into the pod."""
        if not self.mount:
            return self.rbd.staging_path(vol.key)
        uid = pod["metadata"]["uid"]
        secret = None
        if vol.secret is not None:
            secret = await self.client.get("v1", "Secret", vol.secret[0], vol.secret[1])
        try:
            creds = rbd.credentials(vol, secret)
        except CephError as e:
            raise VolumeWait("FailedMount", f'MountVolume.NewMounter initialization failed for volume "{vol.name}" : '
                                            f"{e}") from None
        async with self._stage_lock("rbd:" + vol.key):
            try:
                staged = await self.rbd.stage(vol, creds)
            except (BlockError, CephError, OSError) as e:
                raise VolumeWait("FailedMount", f'MountVolume.MountDevice failed for volume "{vol.name}" : {e}') \
                    from None
            self._rbd_users.setdefault(vol.key, set()).add(uid)
            self._pod_rbd.setdefault(uid, {})[vol.key] = vol
            self._image_pods[uid] = pod
            if vol.pv_name:
                self._rbd_pvs[vol.pv_name] = vol.key
        if claim is not None and vol.pv_name:
            await self._finish_resize(claim, vol.pv_name, staged, self._rbd_users.get(vol.key, set()))
        return self._bind(staged.path, target, read_only or vol.read_only)

    async def _unpublish_rbd(self, uid: str) -> None:
        """The pod's binds are gone: unstage the RBD images no other pod here uses (rbd-fuse stops)."""
        for key in sorted(self._pod_rbd.get(uid, {})):
            async with self._stage_lock("rbd:" + key):
                users = self._rbd_users.get(key, set())
                if users <= {uid}:
                    await asyncio.to_thread(self.rbd.unstage, key, self._pod_rbd[uid][key].image)
                    self._rbd_users.pop(key, None)
                    for pv_name in [n for n, k in self._rbd_pvs.items() if k == key]:
                        del self._rbd_pvs[pv_name]
                else:
                    users.discard(uid)
            self._pod_rbd.get(uid, {}).pop(key, None)
        self._pod_rbd.pop(uid, None)

    async def _unpublish_images(self, uid: str) -> None:
        """The pod's binds are gone: unstage the image volumes no other pod here uses."""
        for name, vol in sorted(self._pod_images.get(uid, {}).items()):
            async with self._stage_lock(name):
                users = self._image_users.get(name, set())
                if users <= {uid}:
                    await asyncio.to_thread(self.block.unstage, name, vol.path)
                    self._image_users.pop(name, None)
                else:
                    users.discard(uid)
            self._pod_images.get(uid, {}).pop(name, None)
        self._pod_images.pop(uid, None)
        await self._unpublish_rbd(uid)
        self._image_pods.pop(uid, None)

    async def cleanup_images(self, in_use: set[str], volumes: Iterable[dict[str, Any]]) -> None:
        """After a restart: unstage image volumes no pod of this node uses (mounts and loop devices);
        thaw the ones in use (a process killed during a snapshot must not leave them frozen).  RBD
        images are unstaged (rbd-fuse stopped) when no PV in ``in_use`` names them, no pod directory
        still binds them and no pod set up since uses them."""
        if not self.mount:
            return
        paths: dict[str, str] = {}
        rbd_in_use = {k for k, users in self._rbd_users.items() if users}
        for pv in volumes:
            if is_image_volume(pv):
                with contextlib.suppress(ValueError):
                    paths[pv["metadata"]["name"]] = image_volume(pv).path
            elif rbd.is_rbd_pv(pv) and pv["metadata"]["name"] in in_use:
                with contextlib.suppress(ValueError):
                    rbd_in_use.add(rbd.pv_volume(pv, "").key)
        await self._cleanup_rbd(rbd_in_use)
        try:
            leftovers = await asyncio.to_thread(self.block.leftovers, paths, in_use)
        except BlockError as e:
            log.info("image volumes left by an earlier run not checked: %s", e)
            return
        for name in sorted(leftovers):
            try:
                async with self._stage_lock(name):
                    if not self._image_users.get(name):
                        await asyncio.to_thread(self.block.unstage, name, paths.get(name))
            except (BlockError, OSError) as e:
                log.warning("unstaging image volume %s left by an earlier run failed: %s", name, e)

    async def _cleanup_rbd(self, in_use: set[str]) -> None:
        try:
            leftovers = await asyncio.to_thread(self.rbd.leftovers, in_use, self.pods_dir)
        except (BlockError, OSError) as e:
            log.info("rbd images left by an earlier run not checked: %s", e)
            return
        for key in sorted(leftovers):
            try:
                async with self._stage_lock("rbd:" + key):
                    if not self._rbd_users.get(key):
                        await asyncio.to_thread(self.rbd.unstage, key)
            except (BlockError, OSError) as e:
                log.warning("unstaging rbd image %s left by an earlier run failed: %s", key, e)

    def _bind(self, source: str, target: str, read_only: bool) -> str:
        if mounts.is_mount_point(target):
            return target
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "a"):
                pass
        mounts.bind(source, target, read_only)
        return target

    async def _files_of(self, pod: dict[str, Any], v: dict[str, Any]) -> list[tuple[str, bytes, int]] | None:
        ns = pod["metadata"].get("namespace") or "default"

        async def source(kind: str, src: dict[str, Any], default_mode: int) -> list[tuple[str, bytes, int]]:
            name = src.get("name") or src.get("secretName") or ""
            obj = await self.client.get("v1", kind, ns, name)
            return project_keys(kind, name, object_files(obj) if obj else None, src, default_mode)

        def downward(src: dict[str, Any], default_mode: int) -> list[tuple[str, bytes, int]]:
            out = []
            for it in src.get("items") or []:
                if "fieldRef" in it:
                    value = field_value(pod, it["fieldRef"].get("fieldPath", ""), "")
                    out.append((it["path"], value.encode(), _mode(it.get("mode"), default_mode)))
            return out

        if isinstance(v.get("configMap"), dict):
            src = v["configMap"]
            return await source("ConfigMap", src, _mode(src.get("defaultMode"), 0o644))
        if isinstance(v.get("secret"), dict):
            src = v["secret"]
            return await source("Secret", src, _mode(src.get("defaultMode"), 0o644))
        if isinstance(v.get("downwardAPI"), dict):
            src = v["downwardAPI"]
            return downward(src, _mode(src.get("defaultMode"), 0o644))
        if isinstance(v.get("projected"), dict):
            proj = v["projected"]
            mode = _mode(proj.get("defaultMode"), 0o644)
            out: list[tuple[str, bytes, int]] = []
            for s in proj.get("sources") or []:
                if isinstance(s.get("configMap"), dict):
                    out += await source("ConfigMap", s["configMap"], mode)
                elif isinstance(s.get("secret"), dict):
                    out += await source("Secret", s["secret"], mode)
                elif isinstance(s.get("downwardAPI"), dict):
                    out += downward(s["downwardAPI"], mode)
                elif isinstance(s.get("serviceAccountToken"), dict):
                    # No token issuer on this node: the file exists, empty.
                    out.append((s["serviceAccountToken"].get("path") or "token", b"", mode))
            return out
        return None

    # ---------------------------------------------------------------- attach
    async def attach(self, pod: dict[str, Any], pv_name: str, claim_ref: dict[str, Any]) -> None:
        """Record this node as the PV's user (compare-and-swap); VolumeWait on a Multi-Attach conflict."""
        async with self._pv_lock(pv_name):
            await self._attach(pod["metadata"]["uid"], pv_name, claim_ref)

    async def _attach(self, uid: str, pv_name: str, claim_ref: dict[str, Any]) -> None:
        for _ in range(10):
            pv = await self.client.get("v1", "PersistentVolume", None, pv_name)
            if pv is None:
                raise VolumeWait("FailedMount", f"failed to fetch PV {pv_name} from API server")
            annotations = pv["metadata"].get("annotations") or {}
            holder = annotations.get(ATTACHED_NODE)
            if holder and holder != self.node_name:
                users = await self._users_on(holder, claim_ref)
                if users:
                    raise VolumeWait("FailedAttachVolume", multi_attach_message(pv_name, users),
                                     component="attachdetach-controller", retry_after=2.0)
            if holder != self.node_name:
                pv["metadata"].setdefault("annotations", {})[ATTACHED_NODE] = self.node_name
                try:
                    await self.client.update(pv)
                except StatusError as e:
                    if e.code == 409:
                        continue
                    raise
            self._users.setdefault(pv_name, set()).add(uid)
            self._pod_pvs.setdefault(uid, set()).add(pv_name)
            return
        raise VolumeWait("FailedAttachVolume", f"AttachVolume.Attach failed for volume \"{pv_name}\" : "
                         "the volume kept changing", component="attachdetach-controller", retry_after=1.0)

    async def _users_on(self, node: str, claim_ref: dict[str, Any]) -> list[str]:
        """Names of the pods on ``node`` that have not terminated and use the claim."""
        ns, claim = claim_ref.get("namespace"), claim_ref.get("name")
        if not ns or not claim:
            return []
        pods, _ = await self.client.list("v1", "Pod", ns, field_selector=f"spec.nodeName={node}")
        out = []
        for p in pods:
            if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if any(c == claim for _, c, _ in claims_of(p)):
                out.append(p["metadata"]["name"])
        return sorted(out)

    async def detach(self, pv_name: str) -> None:
        """Clear this node's attachment of a PV (compare-and-swap), if it is still ours."""
        for _ in range(10):
            pv = await self.client.get("v1", "PersistentVolume", None, pv_name)
            if pv is None:
                return
            annotations = pv["metadata"].get("annotations") or {}
            if annotations.get(ATTACHED_NODE) != self.node_name:
                return
            del annotations[ATTACHED_NODE]
            try:
                await self.client.update(pv)
                return
            except StatusError as e:
                if e.code == 404:
                    return
                if e.code != 409:
                    raise

    def attached(self) -> dict[str, set[str]]:
        return {k: set(v) for k, v in self._users.items() if v}

    async def release(self, uid: str) -> None:
        """The pod no longer uses its volumes: detach the PVs no other pod here uses."""
        for pv_name in sorted(self._pod_pvs.pop(uid, set())):
            async with self._pv_lock(pv_name):
                users = self._users.get(pv_name, set())
                users.discard(uid)
                if not users:
                    self._users.pop(pv_name, None)
                    await self.detach(pv_name)

    # -------------------------------------------------------------- teardown
    async def teardown(self, uid: str) -> None:
        """Unmount and delete the pod's volume directory, then release its attachments."""
        self._ready.pop(uid, None)
        base = self.volumes_dir(uid)
        if self.mount:
            left = mounts.unmount_all(base)
            if left:
                raise mounts.StillMounted(f"still mounted after unmount: {', '.join(left)}")
            with contextlib.suppress(FileNotFoundError):
                mounts.safe_rmtree(base)
            await self._unpublish_images(uid)
        await self.release(uid)

    def leftover_pods(self) -> set[str]:
        """Pod uids that have something mounted under the pods directory."""
        out = set()
        prefix = self.pods_dir.rstrip("/") + "/"
        for mp in mounts.mount_points(self.pods_dir):
            rest = mp[len(prefix):] if mp.startswith(prefix) else ""
            if rest:
                out.add(rest.split("/", 1)[0])
        return out


def ensure_subpath(mount_host_path: str, volume_host_path: str) -> None:
    """Create a subPath inside a volume (as kubelet does), refusing one that escapes it through symlinks."""
    if mount_host_path == volume_host_path or not os.path.isdir(volume_host_path):
        return
    os.makedirs(mount_host_path, mode=0o755, exist_ok=True)
    real, base = os.path.realpath(mount_host_path), os.path.realpath(volume_host_path)
    if real != base and not real.startswith(base.rstrip("/") + "/"):
        raise ConfigError(f"subpath {mount_host_path!r} escapes its volume")
