"""Ceph RBD images on the node: one ``rbd-fuse`` per image, staged like an image volume.

Why this exists: the seeds' pods use RBD images (inline ``rbd:`` volumes with a keyring
file or a Secret, PVs with an ``rbd`` source, CSI PVs of ``rbd.csi.ceph.com`` made by the
provisioner), and this machine's kernel has neither ``rbd`` nor ``nbd``: ``rbd map`` cannot
work.  ``rbd-fuse`` exposes an image as a regular file, and a file holding a filesystem
is what ``orlop.node.block`` already stages (loop device, mkfs on first use only, one
mount per node, growth).  This module is the part in between:

- what a volume source says (``RbdVolume``, with the in-tree plugin's defaults: pool
  ``rbd``, user ``admin``, keyring ``/etc/ceph/keyring``, fsType ``ext4``) and which key to
  use (``credentials``: the Secret when one is named -- it wins over the keyring file, as
  upstream -- else the keyring file);
- before a new ``rbd-fuse`` starts, a bounded librbd check that says plainly what is wrong
  (bad key, unreachable monitors, no such pool or image, an image still used elsewhere
  read-write: upstream's "rbd image <pool>/<image> is still being used");
- one ``rbd-fuse -f`` per image (``-r IMAGE``), in its own session so it outlives the
  node agent, with a private ceph.conf + keyring (``ceph.client_files``: no /etc/ceph, no
  DNS SRV lookups), ``attr_timeout=0`` so a grown image shows its new size at once, and
  1 MiB FUSE writes with librbd's write-back cache (the filesystem's flushes reach Ceph);
  a restarted agent finds the running process (by its command line naming our mount
  point) and its mount, loop device and filesystem, and reuses them: never a second
  ``rbd-fuse`` for one image;
- unstage, in the only order that works: filesystem unmounted and loop device detached
  (``block.unstage``), the fuse mount unmounted and its directory removed (that detaches
  copies containers carry in their own mount namespaces), then the process waited for
  (SIGTERM, then SIGKILL, each bounded), so the image has no watchers left and
  ``rbd rm`` works.

Layout under the agent root (kubelet keeps the rbd global mount under its plugin directory
too, as ``<pool>-image-<image>``)::

    plugins/kubernetes.io~rbd/images/<pool>-image-<image>/ceph.conf, keyring, client.log,
                                                          rbd-fuse.log
    plugins/kubernetes.io~rbd/images/<pool>-image-<image>/fuse/<image>   the image as a file
    plugins/kubernetes.io~rbd/mounts/<pool>-image-<image>                the filesystem

Growth: the provisioner resizes the image with librbd; rbd-fuse's open image follows the
header update and (attributes never cached) the file reports the new size at once, so
``losetup -c`` and an online grow (``block.BlockVolumes.expand``) need no remount.

All ``RbdVolumes`` methods except ``stage`` block (subprocesses, waits): run them in a
thread.  Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..drivers import ceph
from . import block, mounts
from .block import BlockError, BlockVolumes, ImageVolume, Staged

log = logging.getLogger(__name__)

PLUGIN_DIR = "kubernetes.io~rbd"
IN_TREE_PLUGIN = "kubernetes.io/rbd"
CSI_DRIVER = "rbd.csi.ceph.com"
DEFAULT_POOL = "rbd"
DEFAULT_USER = "admin"
DEFAULT_KEYRING = "/etc/ceph/keyring"
DEFAULT_FS_TYPE = "ext4"
START_TIMEOUT = 20.0      # seconds for rbd-fuse to mount and show the image
STOP_TIMEOUT = 15.0       # seconds for rbd-fuse to exit once unmounted (then SIGTERM, then SIGKILL)
LOOP_GONE_TIMEOUT = 10.0  # seconds for a loop device whose detach the kernel deferred
GROW_SEEN_TIMEOUT = 5.0   # seconds for the image file to report a grown image's size


class RbdError(BlockError):
    """An RBD volume cannot be staged or unstaged here; ``message`` names the cause."""


# --- what a volume source says -----------------------------------------------------------

@dataclass(frozen=True)
class RbdVolume:
    """One use of an RBD image, from an inline volume or a PV."""

    name: str                          # what events call it: the PV's name, or the pod's volume name
    monitors: tuple[str, ...]
    pool: str
    image: str
    user: str                          # without "client."
    keyring: str                       # the key file when no Secret is named
    secret: tuple[str, str] | None     # (namespace, name) of the Secret holding the key
    fs_type: str                       # "" for volumeMode Block
    read_only: bool                    # staged read-only (the source's readOnly)
    mount_options: tuple[str, ...] = ()
    pv_name: str = ""

    @property
    def key(self) -> str:
        """The node-wide name of the image's staging (kubelet's ``<pool>-image-<image>``)."""
        return f"{self.pool}-image-{self.image}"

    @property
    def spec(self) -> str:
        return f"{self.pool}/{self.image}"


def _name(value: Any, what: str, default: str = "") -> str:
    text = str(value) if isinstance(value, str) and value else default
    if not text:
        raise ValueError(f"{what} is required")
    if "/" in text or "\x00" in text or text in (".", "..") or any(c.isspace() for c in text) or len(text) > 200:
        raise ValueError(f"{what} {text!r} cannot be used: it must not contain '/' or whitespace")
    return text


def _user(value: Any) -> str:
    user = _name(value, "user", DEFAULT_USER)
    return user[len("client."):] if user.startswith("client.") else user


def _fs_type(value: Any, name: str) -> str:
    fs_type = str(value or "") or DEFAULT_FS_TYPE
    if fs_type not in block.FS_TYPES:
        raise ValueError(f'filesystem type "{fs_type}" of volume {name} is not supported: use ext4 or xfs')
    return fs_type


def is_rbd_pv(pv: dict[str, Any]) -> bool:
    """A PV this module mounts: an in-tree ``rbd`` source or a ceph-csi RBD volume."""
    spec = pv.get("spec") or {}
    if isinstance(spec.get("rbd"), dict):
        return True
    csi = spec.get("csi")
    return isinstance(csi, dict) and csi.get("driver") == CSI_DRIVER


def inline_volume(volume: dict[str, Any], pod_namespace: str) -> RbdVolume:
    """The ``rbd:`` source of a pod volume; its secretRef names a Secret in the pod's namespace."""
    src = volume.get("rbd") or {}
    name = str(volume.get("name") or "")
    return _from_rbd_source(src, name, pod_namespace, "", block_mode=False)


def pv_volume(pv: dict[str, Any], pod_namespace: str) -> RbdVolume:
    """An RBD PV as the node uses it; ValueError when it cannot be.  A secretRef without a
    namespace means the pod's, as upstream."""
    spec = pv.get("spec") or {}
    name = (pv.get("metadata") or {}).get("name", "")
    block_mode = spec.get("volumeMode") == "Block"
    modes = set(spec.get("accessModes") or [])
    options = block.mount_options(pv)
    if isinstance(spec.get("rbd"), dict):
        vol = _from_rbd_source(spec["rbd"], name, pod_namespace, name, block_mode)
        return replace(vol, mount_options=options, read_only=vol.read_only or modes == {"ReadOnlyMany"})
    csi = spec.get("csi") or {}
    if csi.get("driver") != CSI_DRIVER:
        raise ValueError(f"volume {name} is not an RBD volume")
    attrs = csi.get("volumeAttributes") or {}
    monitors = tuple(ceph.parse_monitors(attrs.get("monitors") or ""))
    if not monitors:
        raise ValueError(f"volume {name} of driver {CSI_DRIVER} names no Ceph monitors (volumeAttributes.monitors; "
                         f"clusterID {attrs.get('clusterID', '')!r} is not known on this node)")
    ref = csi.get("nodeStageSecretRef") or {}
    secret = (str(ref.get("namespace") or pod_namespace), str(ref["name"])) if ref.get("name") else None
    return RbdVolume(
        name=name, monitors=monitors, pool=_name(attrs.get("pool"), "volumeAttributes.pool", DEFAULT_POOL),
        image=_name(attrs.get("imageName"), "volumeAttributes.imageName"), user=_user(attrs.get("userID")),
        keyring=DEFAULT_KEYRING, secret=secret,
        fs_type="" if block_mode else _fs_type(csi.get("fsType"), name),
        read_only=bool(csi.get("readOnly")) or modes == {"ReadOnlyMany"}, mount_options=options, pv_name=name)


def _from_rbd_source(src: dict[str, Any], name: str, secret_namespace: str, pv_name: str,
                     block_mode: bool) -> RbdVolume:
    monitors = tuple(ceph.parse_monitors(src.get("monitors") or []))
    if not monitors:
        raise ValueError(f"rbd volume {name} names no Ceph monitors")
    ref = src.get("secretRef") or {}
    secret = (str(ref.get("namespace") or secret_namespace), str(ref["name"])) if ref.get("name") else None
    return RbdVolume(
        name=name, monitors=monitors, pool=_name(src.get("pool"), "pool", DEFAULT_POOL),
        image=_name(src.get("image"), "image"), user=_user(src.get("user")),
        keyring=str(src.get("keyring") or DEFAULT_KEYRING), secret=secret,
        fs_type="" if block_mode else _fs_type(src.get("fsType"), name),
        read_only=bool(src.get("readOnly")), pv_name=pv_name)


def credentials(vol: RbdVolume, secret: dict[str, Any] | None) -> ceph.Credentials:
    """The key to use: the named Secret (``data.key``, or ceph-csi's ``userID``/``userKey``),
    else the keyring file on this node.  CephError naming what is missing."""
    if vol.secret is not None:
        ns, name = vol.secret
        return ceph.credentials_from_secret(secret, list(vol.monitors), vol.user, f"secret {ns}/{name}")
    key = ceph.read_keyring(vol.keyring, vol.user)
    if key is None:
        if not os.path.exists(vol.keyring):
            raise ceph.CephError("KeyringNotFound", f"keyring {vol.keyring} does not exist on this node (and the "
                                 "volume names no secretRef)", retryable=False)
        raise ceph.CephError("InvalidKeyring", f"keyring {vol.keyring} holds no key for client.{vol.user}",
                             retryable=False)
    return ceph.Credentials.of(list(vol.monitors), vol.user, key)


async def check_image(creds: ceph.Credentials, vol: RbdVolume, timeout: float = ceph.DEFAULT_TIMEOUT) -> int:
    """Before rbd-fuse starts: the image exists and (for read-write use) nobody else has it
    open.  Returns its size; CephError/RbdError saying what is wrong, within a bounded time."""
    def work(s: ceph.Session) -> tuple[int, list[dict[str, Any]]]:
        try:
            with s.ioctx(vol.pool) as ctx:
                # Read-only: looks without registering a watch of its own.
                image = s.call(f"opening rbd image {vol.spec}", s.rbd.Image, ctx, vol.image, read_only=True)
                try:
                    size = s.call(f"reading the size of rbd image {vol.spec}", image.size)
                    watchers = [] if vol.read_only else s.call(f"listing the watchers of rbd image {vol.spec}",
                                                               lambda: list(image.watchers_list()))
                finally:
                    image.close()
        except ceph.CephError as e:
            if e.reason != "NotFound":
                raise
            if e.message.startswith("opening pool"):
                raise RbdError("PoolNotFound", f'pool "{vol.pool}" does not exist in the Ceph cluster at '
                                               f"{','.join(vol.monitors)}") from None
            raise RbdError("ImageNotFound", f"rbd image {vol.spec} does not exist") from None
        return int(size), watchers

    size, watchers = await ceph.run(creds, work, timeout=timeout, total=timeout * 3)
    if watchers:
        who = ", ".join(str(w.get("addr", "?")) for w in watchers)
        raise RbdError("VolumeInUse", f"rbd image {vol.spec} is still being used (watchers: {who})")
    return size


# --- processes -----------------------------------------------------------------------------

def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="surrogateescape") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def fuse_pids(fuse_dir: str) -> list[int]:
    """The rbd-fuse processes serving ``fuse_dir`` (their command line names it)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(int(entry))
        if argv and os.path.basename(argv[0]) == "rbd-fuse" and fuse_dir in argv and _alive(int(entry)):
            out.append(int(entry))
    return sorted(out)


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie); reaps it when it is our child and has exited."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    return left


def _signal(pids: Iterable[int], fuse_dir: str, sig: int) -> None:
    for pid in pids:
        if fuse_dir in _cmdline(pid):          # never a recycled pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as f:
            text = [ln.strip() for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# --- the node's RBD stagings ------------------------------------------------------------------

class _Staging(BlockVolumes):
    """block.py's staging, with the filesystem mounts under the rbd plugin directory."""

    def __init__(self, root_dir: str, mounts_dir: str):
        super().__init__(root_dir)
        self.mounts_dir = mounts_dir


@dataclass(frozen=True)
class FuseState:
    pids: tuple[int, ...]
    mounted: bool
    read_only: bool
    file_ok: bool          # the image file answers (the process behind the mount is alive)

    @property
    def running(self) -> bool:
        return bool(self.pids) and self.mounted and self.file_ok


class RbdVolumes:
    """The RBD images staged on this node: one rbd-fuse, loop device and mount each."""

    def __init__(self, root_dir: str, timeout: float = ceph.DEFAULT_TIMEOUT):
        self.root_dir = os.path.abspath(root_dir)
        self.plugin_dir = os.path.join(self.root_dir, "plugins", PLUGIN_DIR)
        self.images_dir = os.path.join(self.plugin_dir, "images")
        self.block = _Staging(self.root_dir, os.path.join(self.plugin_dir, "mounts"))
        self.timeout = timeout
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    # ------------------------------------------------------------------- paths
    def client_dir(self, key: str) -> str:
        if not key or "/" in key or key in (".", ".."):
            raise ValueError(f"invalid rbd staging name {key!r}")
        return os.path.join(self.images_dir, key)

    def fuse_dir(self, key: str) -> str:
        return os.path.join(self.client_dir(key), "fuse")

    def image_file(self, vol: RbdVolume) -> str:
        return os.path.join(self.fuse_dir(vol.key), vol.image)

    def staging_path(self, key: str) -> str:
        return self.block.staging_path(key)

    def staged_keys(self) -> set[str]:
        """Images with a directory here (running, or left behind)."""
        try:
            names = set(os.listdir(self.images_dir))
        except FileNotFoundError:
            names = set()
        return names | self.block.staged_names()

    # ------------------------------------------------------------------- state
    def fuse_state(self, vol: RbdVolume) -> FuseState:
        fuse = self.fuse_dir(vol.key)
        entry = block.mount_entry(fuse)
        mounted = entry is not None and entry.fstype.startswith("fuse")
        file_ok = False
        if mounted:
            try:
                os.stat(self.image_file(vol))
                file_ok = True
            except OSError:
                pass
        return FuseState(tuple(fuse_pids(fuse)), mounted, bool(entry and "ro" in entry.options), file_ok)

    def running(self, vol: RbdVolume) -> bool:
        return self.fuse_state(vol).running

    # ------------------------------------------------------------------- stage
    async def stage(self, vol: RbdVolume, creds: ceph.Credentials) -> Staged:
        """Stage the image (once per node) and return the mount point (Filesystem) or the loop
        device (Block).  Before a new rbd-fuse starts the image is checked through librbd."""
        if not await asyncio.to_thread(self.running, vol):
            block.check_node()
            self._rbd_fuse()
            await check_image(creds, vol, self.timeout)
        return await asyncio.to_thread(self.stage_sync, vol, creds)

    def stage_sync(self, vol: RbdVolume, creds: ceph.Credentials) -> Staged:
        """The blocking part of ``stage``: adopt or start rbd-fuse, then loop, mkfs, mount."""
        block.check_node()
        with self._lock(vol.key):
            state = self.fuse_state(vol)
            started = False
            if not state.running:
                if state.pids or state.mounted:
                    log.warning("rbd image %s: rbd-fuse (pids %s) no longer serves %s; starting it again",
                                vol.spec, list(state.pids), self.fuse_dir(vol.key))
                    self._reset(vol)
                self._start(vol, creds)
                started = True
            elif state.read_only and not vol.read_only:
                raise RbdError("ReadOnlyStaged", f"rbd image {vol.spec} is mounted read-only on this node (by a "
                                                 "pod using it read-only); it cannot also be used read-write here "
                                                 "until that pod is gone")
            image = ImageVolume(vol.key, self.image_file(vol), vol.fs_type, (), vol.mount_options,
                                vol.read_only or state.read_only)
            try:
                return self.block.stage(image)
            except BaseException:
                if started:
                    with contextlib.suppress(BlockError, OSError):
                        self._unstage_locked(vol.key, vol.image)
                raise

    def _rbd_fuse(self) -> str:
        exe = block.find_tool("rbd-fuse")
        if exe is None:
            raise RbdError("ToolMissing", 'executable file not found in $PATH: "rbd-fuse" is needed on this node to '
                                          "mount rbd volumes (install rbd-fuse)")
        return exe

    def _start(self, vol: RbdVolume, creds: ceph.Credentials) -> None:
        exe = self._rbd_fuse()
        cdir, fuse = self.client_dir(vol.key), self.fuse_dir(vol.key)
        conf = ceph.client_files(cdir, creds, self.timeout)
        with open(os.path.join(cdir, "volume.json"), "w") as f:
            json.dump({"pool": vol.pool, "image": vol.image, "monitors": list(vol.monitors), "user": creds.user,
                       "readOnly": vol.read_only}, f)
        os.makedirs(fuse, mode=0o700, exist_ok=True)
        # big_writes + max_write: 1 MiB FUSE requests instead of 4 KiB ones.  The librbd cache is
        # on, as qemu runs RBD disks: write-through until the first flush, then write-back with
        # every flush from the filesystem (journal commit, fsync -> loop -> fsync -> rbd_flush)
        # honoured — 5x the write throughput of an uncached rbd-fuse, same durability points.
        opts = ["subtype=rbd-fuse", "attr_timeout=0", "entry_timeout=0", "big_writes", "max_write=1048576"]
        if not any(c in vol.spec for c in ",\\"):
            opts.insert(0, f"fsname=rbd:{vol.spec}")
        if vol.read_only:
            opts.append("ro")
        argv = [exe, "-c", conf, "--id", creds.user, "--rbd_cache=true", "-p", vol.pool, "-r", vol.image,
                "-f", "-o", ",".join(opts), fuse]
        log_path = os.path.join(cdir, "rbd-fuse.log")
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd="/", close_fds=True)
        self._procs[proc.pid] = proc
        log.info("rbd image %s: started rbd-fuse (pid %d) at %s as client.%s", vol.spec, proc.pid, fuse, creds.user)
        deadline = time.monotonic() + START_TIMEOUT
        file = self.image_file(vol)
        while True:
            if proc.poll() is not None:
                self._procs.pop(proc.pid, None)
                why = _tail(log_path) or "no output"
                with contextlib.suppress(BlockError, OSError):
                    self._unstage_locked(vol.key, vol.image)
                raise RbdError("RbdFuseFailed", f"rbd-fuse for rbd image {vol.spec} exited with status "
                                                f"{proc.returncode}: {why}")
            entry = block.mount_entry(fuse)
            if entry is not None and entry.fstype.startswith("fuse"):
                with contextlib.suppress(OSError):     # mounted, the image not (yet) listed
                    os.stat(file)
                    return
            if time.monotonic() > deadline:
                mounted = entry is not None
                with contextlib.suppress(BlockError, OSError):
                    self._unstage_locked(vol.key, vol.image)
                if mounted:
                    raise RbdError("ImageNotFound", f"rbd-fuse does not show rbd image {vol.spec} (does it exist, "
                                                    f"and may client.{creds.user} read pool {vol.pool}?)")
                raise RbdError("Timeout", f"rbd-fuse for rbd image {vol.spec} did not mount within "
                                          f"{START_TIMEOUT:.0f}s: {_tail(log_path) or 'no output'}")
            time.sleep(0.05)

    # ------------------------------------------------------------------- unstage
    def unstage(self, key: str, image: str | None = None) -> None:
        """Unmount, detach, stop rbd-fuse and wait for it; nothing left is fine.  RbdError when
        something on this node still holds the image (it is then left running)."""
        with self._lock(key):
            self._unstage_locked(key, image)

    def _image_name(self, key: str) -> str | None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError), \
                open(os.path.join(self.client_dir(key), "volume.json")) as f:
            return str(json.load(f)["image"])
        _, sep, rest = key.partition("-image-")
        return rest if sep else None

    def _unstage_locked(self, key: str, image: str | None) -> None:
        fuse = self.fuse_dir(key)
        image = image or self._image_name(key)
        file = os.path.join(fuse, image) if image else ""
        fuse_dev = self._fuse_device(fuse)
        self.block.unstage(key, file or None)
        left = self._loops_on(fuse_dev, file)
        deadline = time.monotonic() + LOOP_GONE_TIMEOUT
        while left and time.monotonic() < deadline:
            for device in left:
                if not block.mount_points_of(device):
                    with contextlib.suppress(BlockError):
                        block.detach(device)
            time.sleep(0.1)
            left = self._loops_on(fuse_dev, file)
        if left:
            raise RbdError("VolumeBusy", f"loop device {', '.join(left)} of rbd image {key} is still in use on "
                                         "this node; rbd-fuse is left running")
        self._stop_fuse(fuse)
        # Never a plain rmtree here: below a live rbd-fuse mount, deleting the file would ask to
        # remove the image itself.  safe_rmtree refuses while anything is mounted below.
        try:
            mounts.safe_rmtree(self.client_dir(key))
        except mounts.StillMounted as e:
            raise RbdError("StillMounted", str(e)) from None

    @staticmethod
    def _fuse_device(fuse: str) -> tuple[int, int] | None:
        entry = block.mount_entry(fuse)
        return entry.device if entry is not None and entry.fstype.startswith("fuse") else None

    @staticmethod
    def _loops_on(fuse_dev: tuple[int, int] | None, file: str) -> list[str]:
        """Loop devices backed by the image file, by the fuse mount's device or by the file's path
        (which the kernel reports as "<path> (deleted)" once rbd-fuse died)."""
        if block.find_tool("losetup") is None:
            return []
        cp = block.run(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE,BACK-MAJ:MIN"])
        if not cp.stdout.strip():
            return []
        want = f"{fuse_dev[0]}:{fuse_dev[1]}" if fuse_dev else None
        out = []
        for d in json.loads(cp.stdout).get("loopdevices") or []:
            back, dev = str(d.get("back-file") or ""), str(d.get("back-maj:min") or "").strip()
            if (want is not None and dev == want) or (file and back.removesuffix(" (deleted)") == file):
                out.append(str(d["name"]))
        return out

    def _stop_fuse(self, fuse: str) -> None:
        pids = fuse_pids(fuse)
        try:
            mounts.umount(fuse)
        except OSError as e:
            if e.errno == errno.EBUSY:
                raise RbdError("VolumeBusy", f"the rbd-fuse mount {fuse} is still in use; rbd-fuse is left "
                                             "running") from None
            if e.errno not in (errno.EINVAL, errno.ENOENT):
                raise RbdError("UnmountFailed", f"unmount {fuse}: {os.strerror(e.errno or 0)}") from None
        # Removing the mount point also detaches the copies containers started meanwhile carry in
        # their own mount namespaces: then rbd-fuse sees its last mount go and exits.
        with contextlib.suppress(OSError):
            os.rmdir(fuse)
        left = _wait_gone(pids, STOP_TIMEOUT)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not left:
                break
            log.warning("rbd-fuse %s for %s did not exit after its unmount; sending %s", left, fuse, sig.name)
            _signal(left, fuse, sig)
            left = _wait_gone(left, wait)
        for pid in pids:
            proc = self._procs.pop(pid, None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.1)
        if left:
            raise RbdError("StopFailed", f"rbd-fuse (pid {', '.join(map(str, left))}) for {fuse} did not exit")

    def _reset(self, vol: RbdVolume) -> None:
        """What a dead rbd-fuse left (its mount answers ENOTCONN): taken down, lazily where busy."""
        fuse = self.fuse_dir(vol.key)
        loops = self._loops_on(self._fuse_device(fuse), self.image_file(vol))
        target = self.staging_path(vol.key)
        if block.mount_entry(target) is not None:
            with contextlib.suppress(OSError):
                mounts.umount(target, mounts.MNT_DETACH)
        with contextlib.suppress(OSError):
            os.rmdir(target)
        for device in loops:
            with contextlib.suppress(BlockError):
                block.detach(device)
        pids = fuse_pids(fuse)
        if block.mount_entry(fuse) is not None:
            with contextlib.suppress(OSError):
                mounts.umount(fuse, mounts.MNT_DETACH)
        _signal(pids, fuse, signal.SIGTERM)
        left = _wait_gone(pids, 5.0)
        _signal(left, fuse, signal.SIGKILL)
        _wait_gone(left, 5.0)

    # ------------------------------------------------------------------- growth
    def expand(self, vol: RbdVolume, want_bytes: int = 0) -> Staged | None:
        """Grow a staged image's loop device and filesystem online to the image's size; None when
        it is not staged here.  Waits (bounded) for the file to report ``want_bytes``."""
        with self._lock(vol.key):
            if not self.fuse_state(vol).running:
                return None
            file = self.image_file(vol)
            deadline = time.monotonic() + GROW_SEEN_TIMEOUT
            while want_bytes and os.stat(file).st_size < want_bytes and time.monotonic() < deadline:
                time.sleep(0.05)
            return self.block.expand(ImageVolume(vol.key, file, vol.fs_type, (), vol.mount_options, vol.read_only))

    # ------------------------------------------------------------------- restarts
    def bound_in_pods(self, key: str, pods_dir: str) -> bool:
        """Some pod directory still has the staged filesystem bind-mounted."""
        entry = block.mount_entry(self.staging_path(key))
        if entry is None:
            return False
        prefix = os.path.abspath(pods_dir).rstrip("/") + "/"
        return any(m.device == entry.device and m.mount_point.startswith(prefix) for m in block.read_mountinfo())

    def leftovers(self, in_use: set[str], pods_dir: str) -> set[str]:
        """Images staged here that no pod uses: not in ``in_use`` and bound into no pod directory."""
        return {k for k in self.staged_keys() - in_use if not self.bound_in_pods(k, pods_dir)}


def purge(root_dir: str) -> list[str]:
    """Unstage every RBD image staged under an agent root (tests, administrators retiring a
    node directory): what a stopped agent leaves running by design.  Returns the keys."""
    nodes = RbdVolumes(root_dir)
    done = []
    for key in sorted(nodes.staged_keys()):
        nodes.unstage(key)
        done.append(key)
    return done
