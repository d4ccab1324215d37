"""The Ceph client layer: librados/librbd sessions from monitors + user + key, with deadlines.

Why this exists: the RBD provisioner (controller side) and the RBD volume path (node side)
both talk to a Ceph cluster whose address and credentials come from Kubernetes objects
(a StorageClass's ``monitors``, a PV's ``rbd`` source, Secrets whose ``data.key`` is the
base64 of a cephx key, as in the seeds).  This module is the one place that turns those
into a working, bounded client:

- librados and librbd through Debian's ``python3-rados``/``python3-rbd`` bindings (never
  the ``rbd`` CLI).  Those are built for Debian's CPython 3.11; when the interpreter
  running orlop cannot import them (a pyenv 3.11, a venv), ``load()`` puts a directory
  holding symlinks to just those two extension modules on ``sys.path`` (same ABI tag).
- An explicit configuration every time: ``mon_host`` and ``key`` are set directly and no
  file is read, so a client never falls back to /etc/ceph or to DNS SRV lookups.
- Deadlines on everything: ``client_mount_timeout`` for connecting, ``rados_mon_op_timeout``
  and ``rados_osd_op_timeout`` for each call, and an outer ``asyncio`` deadline around
  the thread that runs the blocking call.  Unreachable monitors or a bad key become a
  ``CephError`` that says so, never a hang.
- ``client_files`` writes the ceph.conf + keyring pair a helper process (``rbd-fuse``)
  needs, in a private directory with mode 0600 keys.

Errors are ``CephError(reason, message)``; ``reason`` is CamelCase for events and
``retryable`` tells the caller whether trying again later may help.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import glob
import importlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")

DIST_PACKAGES = ("/usr/lib/python3/dist-packages",)
DEFAULT_TIMEOUT = 15.0   # seconds for connecting and for each monitor/OSD operation
_load_lock = threading.Lock()
_modules: tuple[ModuleType, ModuleType] | None = None
_KEY_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def is_key(value: str) -> bool:
    """True for a cephx secret as ``ceph auth get-key`` prints it: base64 of type (u16), creation
    time (u32 + u32), length (u16) and that many secret bytes."""
    if not value or not _KEY_RE.match(value):
        return False
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        return False
    return len(raw) >= 12 and len(raw) == 12 + int.from_bytes(raw[10:12], "little") and len(raw) > 12


class CephError(Exception):
    """A Ceph operation failed; ``message`` is what an event or a status says."""

    def __init__(self, reason: str, message: str, retryable: bool = True, code: int = 0):
        super().__init__(message)
        self.reason, self.message, self.retryable, self.code = reason, message, retryable, code

    def __str__(self) -> str:
        return self.message


def load() -> tuple[ModuleType, ModuleType]:
    """Import ``rados`` and ``rbd``: normally, else from Debian's dist-packages via a symlink dir."""
    global _modules
    with _load_lock:
        if _modules is not None:
            return _modules
        try:
            _modules = (importlib.import_module("rados"), importlib.import_module("rbd"))
            return _modules
        except ImportError:
            pass
        tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
        found: dict[str, str] = {}
        for base in DIST_PACKAGES:
            for name in ("rados", "rbd"):
                for path in sorted(glob.glob(os.path.join(base, f"{name}.{tag}-*.so"))):
                    found.setdefault(name, path)
        if set(found) != {"rados", "rbd"}:
            raise CephError("CephClientMissing",
                            f"the Ceph client libraries for Python {sys.version_info.major}."
                            f"{sys.version_info.minor} are not installed on this machine "
                            "(install python3-rados and python3-rbd)", retryable=False)
        shim = os.path.join(tempfile.gettempdir(), f"orlop-ceph-python-{tag}-{os.geteuid()}")
        os.makedirs(shim, mode=0o700, exist_ok=True)
        for path in found.values():
            link = os.path.join(shim, os.path.basename(path))
            if os.path.realpath(link) != os.path.realpath(path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(link)
                os.symlink(path, link)
        if shim not in sys.path:
            sys.path.append(shim)
        try:
            _modules = (importlib.import_module("rados"), importlib.import_module("rbd"))
        except ImportError as e:
            raise CephError("CephClientMissing", f"the Ceph client libraries cannot be loaded: {e}",
                            retryable=False) from None
        return _modules


def available() -> str | None:
    """None when librados/librbd can be used here, else why not."""
    try:
        load()
    except CephError as e:
        return e.message
    return None


def parse_monitors(value: str | list[str]) -> list[str]:
    """Monitors as a StorageClass (comma-separated string) or a PV (list) gives them."""
    items = value if isinstance(value, list) else str(value).split(",")
    return [m.strip() for m in items if m and m.strip()]


def decode_key(data: dict[str, Any] | None, string_data: dict[str, Any] | None = None) -> str | None:
    """The cephx key a Secret holds: ``data.key`` (base64 of the key, as the seeds make it with
    ``ceph auth get-key client.admin | base64``), else any single data value, as the in-tree
    plugin reads it.  None when there is none or it is not a cephx key."""
    values: list[str] = []
    for source, encoded in ((string_data or {}, False), (data or {}, True)):
        items = [source["key"]] if "key" in source else list(source.values())
        for raw in items:
            if not isinstance(raw, str):
                continue
            if encoded:
                try:
                    raw = base64.b64decode(raw, validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    continue
            values.append(raw.strip())
        if values:
            break
    key = values[0] if values else None
    return key if key and is_key(key) else None


@dataclass(frozen=True)
class Credentials:
    """Where a cluster is and who we are to it: ``user`` without the ``client.`` prefix."""

    monitors: tuple[str, ...]
    user: str
    key: str

    @classmethod
    def of(cls, monitors: str | list[str], user: str, key: str) -> Credentials:
        user = user[len("client."):] if user.startswith("client.") else user
        return cls(tuple(parse_monitors(monitors)), user, key)

    def describe(self) -> str:
        return f"client.{self.user}@{','.join(self.monitors)}"


def _conf(creds: Credentials, timeout: float) -> dict[str, str]:
    return {
        "mon_host": ",".join(creds.monitors),
        "key": creds.key,
        "client_mount_timeout": str(int(max(1, timeout))),
        "rados_mon_op_timeout": str(int(max(1, timeout))),
        "rados_osd_op_timeout": str(int(max(1, timeout * 2))),
        "ms_connection_idle_timeout": "30",
        "log_to_stderr": "false",
        "err_to_stderr": "false",
        "log_file": "",
    }


def _error(exc: BaseException, what: str) -> CephError:
    """A librados/librbd exception as a CephError a user can act on."""
    rados, rbd = load()
    code = abs(int(getattr(exc, "errno", 0) or 0))
    text = str(exc)
    if isinstance(exc, CephError):
        return exc
    if code in (errno.ETIMEDOUT,) or isinstance(exc, getattr(rados, "TimedOut", ())):
        return CephError("CephTimeout", f"{what}: timed out ({text})", code=code)
    if code in (errno.EACCES, errno.EPERM) or isinstance(exc, getattr(rados, "PermissionDeniedError", ())):
        return CephError("CephPermissionDenied", f"{what}: permission denied ({text})", retryable=False, code=code)
    if code == errno.ENOENT or isinstance(exc, (getattr(rados, "ObjectNotFound", ()), getattr(rbd, "ImageNotFound", ()))):
        return CephError("NotFound", f"{what}: not found ({text})", retryable=False, code=code)
    if code == errno.EBUSY or isinstance(exc, getattr(rbd, "ImageBusy", ())):
        return CephError("VolumeInUse", f"{what}: busy ({text})", code=code)
    if code == errno.EEXIST or isinstance(exc, getattr(rbd, "ImageExists", ())):
        return CephError("AlreadyExists", f"{what}: already exists ({text})", retryable=False, code=code)
    if code == errno.EINVAL or isinstance(exc, getattr(rbd, "InvalidArgument", ())):
        return CephError("InvalidArgument", f"{what}: invalid argument ({text})", retryable=False, code=code)
    return CephError("CephError", f"{what}: {text}", code=code)


class Session:
    """A connected librados cluster handle (blocking API; use from a worker thread)."""

    def __init__(self, creds: Credentials, timeout: float = DEFAULT_TIMEOUT):
        if not creds.monitors:
            raise CephError("InvalidMonitors", "no Ceph monitors given", retryable=False)
        if not is_key(creds.key):
            raise CephError("InvalidKey", f"the key for client.{creds.user} is not a cephx key", retryable=False)
        self.creds, self.timeout = creds, timeout
        rados, self.rbd = load()
        self.rados_mod = rados
        self.cluster = rados.Rados(rados_id=creds.user, conffile=None, conf=_conf(creds, timeout))
        try:
            self.cluster.connect(timeout=int(max(1, timeout)))
        except Exception as e:   # noqa: BLE001 - every librados failure becomes a CephError
            with contextlib.suppress(Exception):
                self.cluster.shutdown()
            raise self._connect_error(e) from None

    def _connect_error(self, exc: BaseException) -> CephError:
        code = abs(int(getattr(exc, "errno", 0) or 0))
        where = ",".join(self.creds.monitors)
        if code in (errno.EACCES, errno.EPERM, errno.EINVAL) and "timed out" not in str(exc):
            return CephError("CephAuthFailed", f"connecting to Ceph monitors {where} as client.{self.creds.user}: "
                             "authentication failed (wrong user or key?)", retryable=False, code=code)
        return CephError("CephUnreachable", f"connecting to Ceph monitors {where} as client.{self.creds.user}: "
                         f"no answer within {self.timeout:.0f}s ({exc})", code=code or errno.ETIMEDOUT)

    @contextlib.contextmanager
    def ioctx(self, pool: str) -> Iterator[Any]:
        try:
            ctx = self.cluster.open_ioctx(pool)
        except Exception as e:  # noqa: BLE001
            raise _error(e, f"opening pool {pool!r}") from None
        try:
            yield ctx
        finally:
            ctx.close()

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one librados/librbd call, turning its exceptions into CephError."""
        try:
            return fn(*args, **kwargs)
        except CephError:
            raise
        except Exception as e:  # noqa: BLE001
            raise _error(e, what) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster.shutdown()


_sessions: dict[tuple[Credentials, float], Session] = {}
_sessions_lock = threading.Lock()
_CONNECTION_REASONS = frozenset({"CephUnreachable", "CephTimeout", "CephAuthFailed"})


def _session(creds: Credentials, timeout: float) -> Session:
    """The cached connected session for ``creds`` (made on first use).  librados handles are
    thread-safe; connecting costs a monitor round trip and a cephx handshake, so every
    operation with the same credentials shares one."""
    key = (creds, timeout)
    with _sessions_lock:
        session = _sessions.get(key)
    if session is not None:
        return session
    session = Session(creds, timeout)
    with _sessions_lock:
        kept = _sessions.setdefault(key, session)
    if kept is not session:
        session.close()
    return kept


def _forget(creds: Credentials, timeout: float, session: Session) -> None:
    with _sessions_lock:
        if _sessions.get((creds, timeout)) is session:
            del _sessions[(creds, timeout)]
    session.close()


def close_sessions() -> None:
    """Disconnect every cached session (at shutdown, and in tests)."""
    with _sessions_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        session.close()


async def run(creds: Credentials, work: Callable[[Session], T], timeout: float = DEFAULT_TIMEOUT,
              total: float | None = None) -> T:
    """Run ``work(session)`` in a worker thread on the cached session for ``creds`` (connecting
    first if needed); bounded by ``total`` (default: connect + a few operations' worth of
    ``timeout``).  A session that failed for connection reasons is dropped, so the next call
    connects afresh (a key that was changed, monitors that moved)."""
    def job() -> T:
        session = _session(creds, timeout)
        try:
            return work(session)
        except CephError as e:
            if e.reason in _CONNECTION_REASONS or e.code in (errno.ETIMEDOUT, errno.ENOTCONN, errno.ESHUTDOWN):
                _forget(creds, timeout, session)
            raise

    limit = total if total is not None else timeout * 6
    try:
        return await asyncio.wait_for(asyncio.to_thread(job), limit)
    except TimeoutError:
        raise CephError("CephTimeout", f"Ceph operation against {creds.describe()} did not finish within "
                        f"{limit:.0f}s") from None


def _b64(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        return None


def credentials_from_secret(secret: dict[str, Any] | None, monitors: str | list[str], user: str,
                            what: str) -> Credentials:
    """Credentials from a Secret in either form the seeds and ceph-csi use.

    - in-tree ``kubernetes.io/rbd``: ``data.key`` is the base64 of the cephx key, the user
      comes from the StorageClass / volume source (``user``);
    - ceph-csi: ``userID`` + ``userKey`` (or ``adminID`` + ``adminKey``) in the Secret; the
      Secret's id wins over ``user``.
    ``what`` names the Secret in errors ("secret default/ceph-secret").  CephError
    (not retryable) when it is missing or holds no usable key.
    """
    if secret is None:
        raise CephError("SecretNotFound", f"{what} not found", retryable=False)
    data = secret.get("data") or {}
    plain = {k: v for k, v in (secret.get("stringData") or {}).items() if isinstance(v, str)}
    for id_field, key_field in (("userID", "userKey"), ("adminID", "adminKey")):
        key = plain.get(key_field) or _b64(data.get(key_field))
        if key:
            ident = plain.get(id_field) or _b64(data.get(id_field)) or user
            if not is_key(key):
                break
            return Credentials.of(monitors, ident, key)
    key = decode_key(data, plain)
    if key is None:
        raise CephError("InvalidSecret", f"{what} holds no cephx key (expected data.key: the base64 of "
                        "`ceph auth get-key client.<user>`)", retryable=False)
    return Credentials.of(monitors, user, key)


def client_files(directory: str, creds: Credentials, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Write ``ceph.conf`` and ``keyring`` for ``creds`` into ``directory``; returns the conf path.

    For helper processes (``rbd-fuse``) that read a config file: it names the monitors and
    the keyring explicitly, so nothing is looked up elsewhere.
    """
    os.makedirs(directory, mode=0o700, exist_ok=True)
    keyring = os.path.join(directory, "keyring")
    conf = os.path.join(directory, "ceph.conf")
    c = _conf(creds, timeout)
    lines = ["[global]", f"mon host = {c['mon_host']}", f"keyring = {keyring}",
             *(f"{k.replace('_', ' ')} = {v}" for k, v in c.items() if k not in ("mon_host", "key", "log_file")),
             f"log file = {os.path.join(directory, 'client.log')}", "admin socket = ", ""]
    _write_private(keyring, f"[client.{creds.user}]\n\tkey = {creds.key}\n")
    _write_private(conf, "\n".join(lines))
    return conf


def read_keyring(path: str, user: str) -> str | None:
    """The key for ``client.<user>`` in a keyring file (``[client.x]`` / ``key = ...``)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    section, want = None, f"client.{user}"
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == want and "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            if k == "key":
                return v
    return None


def _write_private(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
