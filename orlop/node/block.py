"""The node side of image volumes: a file (or block device) holding a filesystem, made a mount.

Why this exists: an ``orlop.io/image`` volume is a sparse file on the machine.  Before a
pod can use it, something must do what kubelet and a CSI node plugin do for a disk:
attach it (a loop device), put a filesystem on it the first time only, mount it once per
node, let each pod bind that mount (or, for ``volumeMode: Block``, the device node),
grow it when the claim grows, and take it all down when the last pod is gone.  The unit
here is "a file or block device that holds a filesystem", so the same path serves an RBD
image exposed as a file (rbd-fuse) or a real block device later.

How, step by step (the same commands kubelet's mount-utils and CSI node plugins run):

- attach: ``losetup -j`` semantics (same backing inode) find a loop device attached
  before (an agent restart must reuse it, never attach a second one); otherwise
  ``losetup -f --show --direct-io=on`` (direct I/O to the image when the host filesystem
  allows it: no double caching, honest durability).  A block device is used as it is.
- format: ``blkid -p`` reads the device's signatures.  Only a device with none at all is
  formatted (``mkfs.ext4 -F -m0`` / ``mkfs.xfs -f`` with the class's ``mkfsOptions``
  first), logging kubelet's "Disk appears to be unformatted, attempting to format as
  type"; a device holding another filesystem or a partition table is never touched.
- stage: mounted once per node at ``<agent root>/plugins/orlop.io~image/mounts/<pv>``
  with the PV's mount options (``volume.beta.kubernetes.io/mount-options`` replacing
  ``spec.mountOptions``, as kubelet).  XFS always gets ``nouuid``: a snapshot or clone
  carries its source's UUID, and XFS refuses a second mount of one UUID otherwise.
- unstage: unmount, remove the staging directory, then ``losetup -d``.  Removing the
  directory also detaches the copies of the staging mount that containers started
  meanwhile carry in their own mount namespaces (Linux >= 3.18), so the device really
  goes; if something still holds the filesystem the kernel defers the detach (autoclear),
  and an offline grow waits (``e2fsck`` would refuse a busy device anyway).
- expand: ``losetup -c`` makes the loop device see the grown file; XFS grows online
  (``xfs_growfs``); ext4 tries ``resize2fs`` online and, where that is refused (no
  CAP_SYS_RESOURCE, as on these machines), grows offline before its next mount
  (``e2fsck -f -y`` then ``resize2fs``).  A filesystem "fills" its device when the
  difference is at most one block (kubelet's rule).
- freeze: ``fsfreeze -f``/``-u`` around copies, for crash-consistent snapshots and clones.

Nothing half-made is left: a stage that fails after attaching detaches again, so a
failed mkfs leaves the image unformatted and unattached.  Errors are ``BlockError``
with a reason and a message that names what is missing (a tool and its package, root,
loop support).  All functions block (subprocesses): callers run them off the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import stat
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..drivers.hostpath import MountEntry, read_mountinfo
from . import mounts

log = logging.getLogger(__name__)

IMAGE_DRIVER = "image.orlop.io"      # spec.csi.driver: Kubernetes requires a DNS subdomain there
IMAGE_PROVISIONER = "orlop.io/image"  # the StorageClass provisioner (and provisioned-by) name
PLUGIN_DIR = "orlop.io~image"
MOUNT_OPTIONS_ANNOTATION = "volume.beta.kubernetes.io/mount-options"
FS_TYPES = ("ext4", "ext3", "xfs")
EXT_TYPES = ("ext3", "ext4")
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_BLKGETSIZE64 = 0x80081272
_PACKAGES = {"losetup": "util-linux", "blkid": "util-linux", "mount": "util-linux", "fsfreeze": "util-linux",
             "mkfs.ext4": "e2fsprogs", "mkfs.ext3": "e2fsprogs", "e2fsck": "e2fsprogs", "resize2fs": "e2fsprogs",
             "dumpe2fs": "e2fsprogs", "mkfs.xfs": "xfsprogs", "xfs_growfs": "xfsprogs", "xfs_info": "xfsprogs"}


class BlockError(Exception):
    """A node-side block operation failed; ``message`` is what the FailedMount event says."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message

    def __str__(self) -> str:
        return self.message


# --- commands ------------------------------------------------------------------------

def find_tool(name: str) -> str | None:
    """The executable ``name`` on $PATH or in the sbin directories (an agent's PATH may lack them)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    return shutil.which(name, path=path)


def missing_tool(name: str) -> BlockError:
    package = _PACKAGES.get(name)
    hint = f" (install {package})" if package else ""
    return BlockError("ToolMissing", f'executable file not found in $PATH: "{name}" is needed on this node{hint}')


def run(argv: list[str], *, ok: tuple[int, ...] = (0,), timeout: float = 900.0) -> subprocess.CompletedProcess[str]:
    """Run a tool (C locale); BlockError naming the tool when it is missing or fails."""
    exe = find_tool(argv[0])
    if exe is None:
        raise missing_tool(argv[0])
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        cp = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=timeout, env=env,
                            stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BlockError("Timeout", f"{' '.join(argv)} did not finish within {timeout:.0f}s") from None
    if cp.returncode not in ok:
        out = " ".join((cp.stderr.strip() or cp.stdout.strip()).split())
        raise BlockError("CommandFailed", f"{' '.join(argv)} failed with exit status {cp.returncode}: {out}")
    return cp


def check_node() -> None:
    """Root and loop support: what every attach needs, said plainly when absent."""
    if os.geteuid() != 0:
        raise BlockError("NotRoot", "attaching and mounting image volumes needs root (loop devices, mount); "
                                    f"this node agent runs as uid {os.geteuid()}")
    if not os.path.exists("/dev/loop-control"):
        raise BlockError("NoLoopDevices", "no loop device support on this node: /dev/loop-control is missing "
                                          "(load the loop kernel module: modprobe loop)")


# --- loop devices --------------------------------------------------------------------

@dataclass(frozen=True)
class Loop:
    """One configured loop device, as ``losetup --list`` reports it."""

    device: str
    backing_file: str
    inode: int
    backing_dev: str          # "major:minor" of the filesystem holding the backing file
    read_only: bool
    autoclear: bool


def list_loops() -> list[Loop]:
    cp = run(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE,BACK-INO,BACK-MAJ:MIN,RO,AUTOCLEAR"])
    if not cp.stdout.strip():
        return []
    out = []
    for d in json.loads(cp.stdout).get("loopdevices") or []:
        back = str(d.get("back-file") or "")
        if back.endswith(" (deleted)"):
            continue                    # the image was removed while attached: nothing can find it by path
        out.append(Loop(str(d["name"]), back, int(d.get("back-ino") or 0), str(d.get("back-maj:min") or "").strip(),
                        _flag(d.get("ro")), _flag(d.get("autoclear"))))
    return out


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true")


def find_loop(path: str, loops: list[Loop] | None = None) -> str | None:
    """The loop device backed by this very file (same filesystem and inode, as ``losetup -j``)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    want = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    real = os.path.realpath(path)
    found = [lp.device for lp in (list_loops() if loops is None else loops)
             if lp.inode == st.st_ino and (lp.backing_dev == want or os.path.realpath(lp.backing_file) == real)]
    return sorted(found, key=_loop_number)[0] if found else None


def _loop_number(device: str) -> int:
    digits = "".join(ch for ch in os.path.basename(device) if ch.isdigit())
    return int(digits) if digits else 0


def attach(path: str, read_only: bool = False) -> str:
    """A new loop device for ``path`` (direct I/O when the host filesystem allows it)."""
    base = ["losetup", "--find", "--show"] + (["--read-only"] if read_only else [])
    try:
        cp = run([*base, "--direct-io=on", path])
    except BlockError as e:
        if e.reason == "ToolMissing":
            raise
        cp = run([*base, path])
    device = cp.stdout.strip().splitlines()[-1] if cp.stdout.strip() else ""
    if not device.startswith("/dev/"):
        raise BlockError("AttachFailed", f"losetup did not name a loop device for {path}: {cp.stdout.strip()!r}")
    return device


def detach(device: str) -> None:
    """``losetup -d``; a device already gone is detached."""
    try:
        run(["losetup", "--detach", device])
    except BlockError as e:
        if "No such device" in e.message or "No such file" in e.message:
            return
        raise


def refresh(device: str) -> None:
    """``losetup -c``: the loop device takes the backing file's current size."""
    run(["losetup", "--set-capacity", device])


def device_size(device: str) -> int:
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if stat.S_ISBLK(os.fstat(fd).st_mode):
            return int(struct.unpack("Q", fcntl.ioctl(fd, _BLKGETSIZE64, b"\0" * 8))[0])
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def rdev(device: str) -> tuple[int, int]:
    r = os.stat(device).st_rdev
    return os.major(r), os.minor(r)


# --- filesystems ---------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    fs_type: str        # "" when the device holds no signature at all
    uuid: str


def probe(device: str) -> Probe:
    """What ``blkid -p`` (low-level probe, no cache) finds; refuses anything ambiguous."""
    cp = run(["blkid", "-p", "-s", "TYPE", "-s", "UUID", "-s", "PTTYPE", "-o", "export", device], ok=(0, 2, 8))
    if cp.returncode == 2:
        return Probe("", "")
    if cp.returncode == 8:
        raise BlockError("AmbiguousContent", f"{device} holds more than one signature (blkid -p: ambivalent "
                                             "result); refusing to format or mount it")
    values = dict(line.split("=", 1) for line in cp.stdout.splitlines() if "=" in line)
    if not values.get("TYPE") and values.get("PTTYPE"):
        raise BlockError("UnknownContent", f"{device} holds a partition table ({values['PTTYPE']}), not a "
                                           "filesystem; refusing to format it")
    return Probe(values.get("TYPE", ""), values.get("UUID", ""))


def make_fs(device: str, fs_type: str, options: tuple[str, ...] = ()) -> None:
    """mkfs as kubelet's mount-utils runs it (the class's options first)."""
    if fs_type in EXT_TYPES:
        defaults = ["-F", "-m0"]
    elif fs_type == "xfs":
        defaults = ["-f"]
    else:
        raise BlockError("UnsupportedFsType", f'filesystem type "{fs_type}" is not supported: use ext4 or xfs')
    args = [*options, *defaults, device]
    log.info('Disk "%s" appears to be unformatted, attempting to format as type: "%s" with options: [%s]',
             device, fs_type, " ".join(args))
    run([f"mkfs.{fs_type}", *args])


def fs_size(device: str, fs_type: str, mount_point: str | None) -> tuple[int, int]:
    """(filesystem bytes, block size) from the superblock (ext*) or xfs_info (XFS, mounted)."""
    if fs_type in EXT_TYPES:
        out = run(["dumpe2fs", "-h", device]).stdout
        fields = dict(_colon_fields(out))
        bs = int(fields.get("Block size", "0") or 0)
        return int(fields.get("Block count", "0") or 0) * bs, bs
    if fs_type == "xfs" and mount_point:
        for line in run(["xfs_info", mount_point]).stdout.splitlines():
            if line.startswith("data"):
                parts = dict(p.split("=", 1) for p in line.replace(",", " ").split() if "=" in p)
                bs = int(parts.get("bsize", "0"))
                return int(parts.get("blocks", "0")) * bs, bs
    return 0, 0


def _colon_fields(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            yield key.strip(), value.strip()


def in_use_elsewhere(device: str) -> bool:
    """A filesystem on the device is mounted somewhere (any mount namespace): O_EXCL fails with EBUSY."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.EBUSY:
            return True
        raise
    os.close(fd)
    return False


def fills(device_bytes: int, fs_bytes: int, block: int) -> bool:
    """kubelet's NeedResize, inverted: at most one block of the device unused."""
    return device_bytes <= fs_bytes + block


def grow_offline(device: str, fs_type: str) -> None:
    """ext*: check, then grow to the device (the filesystem must not be mounted anywhere)."""
    cp = run(["e2fsck", "-f", "-y", device], ok=(0, 1, 2, 4, 8, 12, 16, 32))
    if cp.returncode >= 4:
        out = " ".join((cp.stdout.strip().splitlines() or [""])[-1:])
        raise BlockError("FsckFailed", f"e2fsck -f -y {device} failed with exit status {cp.returncode} "
                                       f"(filesystem errors left uncorrected{': ' + out if out else ''}); "
                                       "not resizing")
    run(["resize2fs", device])


def mount_fs(device: str, target: str, fs_type: str, options: tuple[str, ...], read_only: bool) -> None:
    opts = list(options)
    if read_only and "ro" not in opts:
        opts.append("ro")
    if fs_type == "xfs" and "nouuid" not in opts:
        opts.append("nouuid")
    run(["mount", "-t", fs_type, *(["-o", ",".join(opts)] if opts else []), device, target])


def mount_entry(target: str) -> MountEntry | None:
    target = target.rstrip("/")
    found = None
    for m in read_mountinfo():
        if m.mount_point == target:
            found = m           # the last one is the top of the stack
    return found


def mount_points_of(device: str) -> list[str]:
    """Where the filesystem on ``device`` is mounted in this mount namespace (binds included)."""
    try:
        want = rdev(device)
    except FileNotFoundError:
        return []
    return [m.mount_point for m in read_mountinfo() if m.device == want]


def unmount(target: str) -> None:
    """Unmount; a busy mount is detached lazily (it leaves the tree now, the device when unused)."""
    try:
        mounts.umount(target)
    except OSError as e:
        if e.errno == 22:         # EINVAL: not mounted
            return
        if e.errno != 16:         # EBUSY
            raise BlockError("UnmountFailed", f"unmount {target}: {os.strerror(e.errno or 0)}") from None
        try:
            mounts.umount(target, mounts.MNT_DETACH)
        except OSError as e2:
            raise BlockError("UnmountFailed", f"unmount {target}: {os.strerror(e2.errno or 0)}") from None


@contextlib.contextmanager
def frozen(mount_point: str | None) -> Iterator[None]:
    """``fsfreeze -f`` for the duration (nothing when not mounted); always thawed after."""
    if not mount_point:
        yield
        return
    run(["fsfreeze", "--freeze", mount_point])
    try:
        yield
    finally:
        run(["fsfreeze", "--unfreeze", mount_point], ok=(0, 1))


def thaw(mount_point: str) -> None:
    """Best effort ``fsfreeze -u`` (a process killed while frozen must not leave the volume frozen)."""
    with contextlib.suppress(BlockError):
        run(["fsfreeze", "--unfreeze", mount_point], ok=(0, 1))


# --- volumes -------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageVolume:
    """What the node needs to know about one image PV."""

    name: str                       # the PV name
    path: str                       # image file (or block device)
    fs_type: str                    # "" for volumeMode Block
    mkfs_options: tuple[str, ...] = ()
    mount_options: tuple[str, ...] = ()
    read_only: bool = False         # staged read-only (csi.readOnly, or ReadOnlyMany only)

    @property
    def block_mode(self) -> bool:
        return not self.fs_type


def is_image_volume(pv: dict[str, Any]) -> bool:
    csi = (pv.get("spec") or {}).get("csi")
    return isinstance(csi, dict) and csi.get("driver") in (IMAGE_DRIVER, IMAGE_PROVISIONER)


def mount_options(pv: dict[str, Any]) -> tuple[str, ...]:
    """kubelet's MountOptionFromSpec: the beta annotation, else spec.mountOptions; sorted, unique."""
    ann = ((pv.get("metadata") or {}).get("annotations") or {}).get(MOUNT_OPTIONS_ANNOTATION)
    opts = ann.split(",") if ann is not None else list((pv.get("spec") or {}).get("mountOptions") or [])
    return tuple(sorted({o.strip() for o in opts if o and o.strip()}))


def image_volume(pv: dict[str, Any]) -> ImageVolume:
    """The node's view of an ``orlop.io/image`` PV; ValueError when it cannot be used."""
    spec = pv.get("spec") or {}
    csi = spec.get("csi") or {}
    name = (pv.get("metadata") or {}).get("name", "")
    attrs = csi.get("volumeAttributes") or {}
    path = str(attrs.get("path") or "")
    if not os.path.isabs(path) or "\x00" in path:
        raise ValueError(f"volume {name} of driver {IMAGE_DRIVER} has no absolute volumeAttributes.path: "
                         f"{path!r}")
    block_mode = spec.get("volumeMode") == "Block"
    fs_type = "" if block_mode else str(csi.get("fsType") or "ext4")
    if fs_type and fs_type not in FS_TYPES:
        raise ValueError(f'filesystem type "{fs_type}" of volume {name} is not supported: use ext4 or xfs')
    modes = set(spec.get("accessModes") or [])
    read_only = bool(csi.get("readOnly")) or modes == {"ReadOnlyMany"}
    return ImageVolume(name, os.path.normpath(path), fs_type, tuple(str(attrs.get("mkfsOptions") or "").split()),
                       mount_options(pv), read_only)


@dataclass(frozen=True)
class Staged:
    """A volume ready for pods: ``path`` is the mount point (Filesystem) or the device (Block)."""

    device: str
    path: str
    formatted: bool          # mkfs ran now
    device_bytes: int
    fs_complete: bool        # the filesystem fills the device (no resize left to do)


class BlockVolumes:
    """The image volumes staged on this node (one loop device and one mount each)."""

    def __init__(self, root_dir: str):
        self.root_dir = os.path.abspath(root_dir)
        self.mounts_dir = os.path.join(self.root_dir, "plugins", PLUGIN_DIR, "mounts")
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def staging_path(self, pv_name: str) -> str:
        if not pv_name or "/" in pv_name or pv_name in (".", ".."):
            raise ValueError(f"invalid volume name {pv_name!r}")
        return os.path.join(self.mounts_dir, pv_name)

    def staged_names(self) -> set[str]:
        """PV names with a staging directory (mounted or left behind)."""
        try:
            return set(os.listdir(self.mounts_dir))
        except FileNotFoundError:
            return set()

    # ---------------------------------------------------------------- stage
    def stage(self, vol: ImageVolume) -> Staged:
        """Attach, format if blank, mount once; idempotent (finds what an earlier run made)."""
        check_node()
        with self._lock(vol.name):
            device, attached_now = self._attach(vol)
            target = self.staging_path(vol.name)
            try:
                if vol.block_mode:
                    return Staged(device, device, False, device_size(device), True)
                entry = mount_entry(target)
                if entry is not None:
                    if entry.device != rdev(device):
                        raise BlockError("StagingConflict", f"{target} is mounted from another device "
                                                            f"({entry.source}), not {device}")
                    # Staged before (another pod, or before an agent restart): grow it if the image grew.
                    return self._grow_mounted(vol, device, target, entry)
                found = probe(device)
                formatted = False
                if not found.fs_type:
                    if vol.read_only:
                        raise BlockError("UnformattedReadOnly", "failed to mount unformatted volume as read only")
                    make_fs(device, vol.fs_type, vol.mkfs_options)
                    formatted = True
                elif found.fs_type != vol.fs_type:
                    raise BlockError("FsTypeMismatch", f'failed to mount the volume as "{vol.fs_type}", it already '
                                                       f"contains {found.fs_type}")
                if found.fs_type in EXT_TYPES and not vol.read_only:
                    self._grow_ext_offline(device, found.fs_type)
                os.makedirs(target, exist_ok=True)
                mount_fs(device, target, vol.fs_type, vol.mount_options, vol.read_only)
                if vol.fs_type == "xfs" and not vol.read_only:
                    self._grow_xfs(device, target)
                return self._staged(vol, device, target, vol.fs_type, formatted)
            except BaseException:
                if not vol.block_mode and mount_entry(target) is None:
                    with contextlib.suppress(OSError):
                        os.rmdir(target)
                if attached_now and not mount_points_of(device):
                    with contextlib.suppress(BlockError):
                        detach(device)
                raise

    def _attach(self, vol: ImageVolume) -> tuple[str, bool]:
        try:
            st = os.stat(vol.path)
        except FileNotFoundError:
            raise BlockError("ImageNotFound", f"image {vol.path} of volume {vol.name} does not exist on this "
                                              "node") from None
        if stat.S_ISBLK(st.st_mode):
            return vol.path, False
        if not stat.S_ISREG(st.st_mode):
            raise BlockError("NotAnImage", f"{vol.path} of volume {vol.name} is neither a regular file nor a "
                                           "block device")
        with self._lock("attach:" + os.path.realpath(vol.path)):
            device = find_loop(vol.path)
            if device is not None:
                refresh(device)         # the image may have grown while the device stayed attached
                return device, False
            return attach(vol.path, vol.read_only), True

    def _staged(self, vol: ImageVolume, device: str, target: str, fs_type: str, formatted: bool) -> Staged:
        size = device_size(device)
        fs_bytes, block = fs_size(device, fs_type, target)
        return Staged(device, target, formatted, size, fills(size, fs_bytes, block))

    def _grow_ext_offline(self, device: str, fs_type: str) -> None:
        fs_bytes, block = fs_size(device, fs_type, None)
        size = device_size(device)
        if fills(size, fs_bytes, block):
            return
        if mount_points_of(device) or in_use_elsewhere(device):
            # Still mounted, here or in another mount namespace (a container started while it was
            # staged holds a copy of the mount): e2fsck would refuse.  Mount it as it is; it grows
            # at a later stage, and the claim stays FileSystemResizePending until then.
            log.warning("volume on %s must grow offline but the device is in use; not resizing now", device)
            return
        log.info("volume on %s: growing the %s filesystem offline from %d to %d bytes", device, fs_type,
                 fs_bytes, size)
        grow_offline(device, fs_type)

    @staticmethod
    def _grow_xfs(device: str, target: str) -> bool:
        fs_bytes, block = fs_size(device, "xfs", target)
        if not fills(device_size(device), fs_bytes, block):
            run(["xfs_growfs", "-d", target])
        return True

    # -------------------------------------------------------------- unstage
    def unstage(self, pv_name: str, image_path: str | None = None) -> None:
        """Unmount the staging mount and detach the loop device; nothing left is fine."""
        with self._lock(pv_name):
            target = self.staging_path(pv_name)
            devices: list[str] = []
            entry = mount_entry(target)
            if entry is not None:
                devices.append(entry.source)
                unmount(target)
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(target)
            if image_path and os.path.isfile(image_path):
                found = find_loop(image_path)
                if found:
                    devices.append(found)
            for dev in dict.fromkeys(devices):
                if os.path.basename(dev).startswith("loop") and not mount_points_of(dev):
                    detach(dev)

    def leftovers(self, images: dict[str, str], in_use: set[str]) -> set[str]:
        """PV names staged or attached here that no pod uses (``images``: PV name -> image path).

        Staged volumes still in use are thawed on the way (best effort)."""
        names = self.staged_names()
        for name in names & in_use:
            if mount_entry(self.staging_path(name)) is not None:
                thaw(self.staging_path(name))
        out = names - in_use
        candidates = {n: p for n, p in images.items() if n not in in_use and n not in out}
        if candidates and find_tool("losetup") is not None:
            loops = list_loops()
            out |= {n for n, p in candidates.items() if find_loop(p, loops) is not None}
        return out

    # --------------------------------------------------------------- expand
    def expand(self, vol: ImageVolume) -> Staged | None:
        """Grow a staged volume online to its image's size; None when it is not staged here.

        ``fs_complete`` is False when the filesystem must grow offline (ext4 without
        online resize): that happens at its next stage.
        """
        with self._lock(vol.name):
            if not os.path.exists(vol.path):
                return None
            if stat.S_ISBLK(os.stat(vol.path).st_mode):
                device = vol.path
            else:
                found = find_loop(vol.path)
                if found is None:
                    return None
                device = found
                refresh(device)
            size = device_size(device)
            if vol.block_mode:
                return Staged(device, device, False, size, True)
            target = self.staging_path(vol.name)
            entry = mount_entry(target)
            if entry is None:
                return Staged(device, target, False, size, False)
            return self._grow_mounted(vol, device, target, entry)

    @staticmethod
    def _grow_mounted(vol: ImageVolume, device: str, target: str, entry: MountEntry) -> Staged:
        """Online growth of a mounted filesystem to its device (XFS; ext4 where resize2fs may)."""
        size = device_size(device)
        fs_bytes, block = fs_size(device, entry.fstype, target)
        if not fills(size, fs_bytes, block) and "ro" not in entry.options:
            if entry.fstype == "xfs":
                run(["xfs_growfs", "-d", target])
            elif entry.fstype in EXT_TYPES:
                try:
                    run(["resize2fs", device])
                except BlockError as e:
                    log.info("volume %s: online resize refused (%s); it grows offline before its next mount",
                             vol.name, e)
            fs_bytes, block = fs_size(device, entry.fstype, target)
        return Staged(device, target, False, size, fills(size, fs_bytes, block))


def detach_under(directory: str) -> list[str]:
    """Unmount and detach every loop device whose backing file lies under ``directory``.

    For tests and administrators retiring a data directory: what a stopped agent left
    attached (by design: a restarted agent reuses it) goes.  Returns the devices detached.
    """
    root = os.path.realpath(directory).rstrip("/") + "/"
    done = []
    for lp in list_loops():
        if not os.path.realpath(lp.backing_file).startswith(root):
            continue
        for mp in sorted(mount_points_of(lp.device), key=lambda p: -p.count("/")):
            thaw(mp)
            unmount(mp)
        detach(lp.device)
        done.append(lp.device)
    return done
