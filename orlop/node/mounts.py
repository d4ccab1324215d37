"""Mount syscalls, the mount table, and deleting directories without crossing mounts.

Why this exists: the agent bind-mounts volumes and the shim builds container roots; both
need mount(2)/umount2(2) without a subprocess per call, and both must know what is
mounted where (``/proc/self/mountinfo``).  The most dangerous thing a node agent can do
is ``rm -rf`` a pod directory while a volume is still bind-mounted inside it -- that
deletes the volume's data -- so the only recursive delete here refuses to run while
anything is mounted below its target.  Standard library only: the shim imports this
module by path, before any package is importable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def bind(source: str, target: str, read_only: bool = False) -> None:
    """Bind ``source`` at ``target``; a read-only bind is remounted read-only (writes fail with EROFS)."""
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        try:
            mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        except OSError:
            umount(target, MNT_DETACH)
            raise


def _unescape(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mount_points(under: str, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Mount points at or below ``under`` in this mount namespace, deepest first."""
    under = under.rstrip("/") or "/"
    prefix = under if under == "/" else under + "/"
    out = set()
    with open(mountinfo) as f:
        for line in f:
            mp = _unescape(line.split()[4])
            if mp == under or mp.startswith(prefix):
                out.add(mp)
    return sorted(out, key=lambda p: (-p.count("/"), p))


def is_mount_point(path: str) -> bool:
    return path.rstrip("/") in mount_points(path)


def unmount_all(under: str) -> list[str]:
    """Unmount everything at or below ``under`` (deepest first). Returns what is still mounted."""
    for mp in mount_points(under):
        for _ in range(3):
            try:
                umount(mp)
            except OSError as e:
                if e.errno == 22:        # EINVAL: not a mount point (any more)
                    break
                if e.errno == 16:        # EBUSY: detach it lazily: it disappears from the tree now
                    try:
                        umount(mp, MNT_DETACH)
                    except OSError:
                        continue
                continue
            if mp not in mount_points(mp):
                break
    return mount_points(under)


class StillMounted(Exception):
    pass


def safe_rmtree(path: str) -> None:
    """``rm -rf path``, refusing while anything is mounted at or below it."""
    if not os.path.lexists(path):
        return
    left = mount_points(path)
    if left:
        raise StillMounted(f"refusing to delete {path}: still mounted: {', '.join(left)}")
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)
