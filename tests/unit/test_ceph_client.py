"""The Ceph client layer: credentials from Secrets and keyrings (tables), and real sessions against the
test cluster — a good key works, a wrong key or an unreachable monitor fails fast with a message
that says which, and the files written for rbd-fuse name everything explicitly."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any

import pytest

from orlop.drivers import ceph as cephclient
from orlop.drivers.ceph import CephError, Credentials

KEY = "AQD3tQJr4mB8DhAA0AQi6I4LJYy2G5KMNMERnA=="


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def secret(data: dict[str, str] | None = None, string_data: dict[str, str] | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ceph-secret"},
                         "type": "kubernetes.io/rbd"}
    if data is not None:
        s["data"] = data
    if string_data is not None:
        s["stringData"] = string_data
    return s


SECRET_CASES = [
    # name, secret, user given, expected (user, key) or error reason
    ("in-tree data.key (seed 000/004: ceph auth get-key | base64)", secret({"key": b64(KEY)}), "admin",
     ("admin", KEY)),
    ("in-tree key with trailing newline", secret({"key": b64(KEY + "\n")}), "kube", ("kube", KEY)),
    ("in-tree single value under another name", secret({"password": b64(KEY)}), "admin", ("admin", KEY)),
    ("ceph-csi userID/userKey wins over the given user", secret({"userID": b64("kube"), "userKey": b64(KEY)}),
     "admin", ("kube", KEY)),
    ("ceph-csi adminID/adminKey", secret({"adminID": b64("admin"), "adminKey": b64(KEY)}), "x", ("admin", KEY)),
    ("stringData (as written before the API server encodes it)", secret(string_data={"key": KEY}), "admin",
     ("admin", KEY)),
    ("user given with client. prefix", secret({"key": b64(KEY)}), "client.admin", ("admin", KEY)),
    ("missing secret", None, "admin", "SecretNotFound"),
    ("empty secret", secret({}), "admin", "InvalidSecret"),
    ("key not base64", secret({"key": "!!!"}), "admin", "InvalidSecret"),
    ("base64 of something that is no key", secret({"key": b64("not a key at all")}), "admin", "InvalidSecret"),
]


@pytest.mark.parametrize("name,sec,user,want", SECRET_CASES, ids=[c[0] for c in SECRET_CASES])
def test_credentials_from_secret(name: str, sec: dict[str, Any] | None, user: str, want: Any) -> None:
    if isinstance(want, str):
        with pytest.raises(CephError) as e:
            cephclient.credentials_from_secret(sec, "127.0.0.1:6789", user, "secret default/ceph-secret")
        assert e.value.reason == want
        assert "secret default/ceph-secret" in e.value.message
        assert not e.value.retryable
    else:
        creds = cephclient.credentials_from_secret(sec, "10.0.0.1:6789, 10.0.0.2:6789", user, "s")
        assert (creds.user, creds.key) == want
        assert creds.monitors == ("10.0.0.1:6789", "10.0.0.2:6789")


def test_read_keyring_finds_the_users_section(tmp_path: Any) -> None:
    path = tmp_path / "keyring"
    path.write_text(f"[client.kube]\n\tkey = {KEY[:-4]}AAA=\n[client.admin]\n\tkey = {KEY}\n\tcaps mon = \"allow *\"\n")
    assert cephclient.read_keyring(str(path), "admin") == KEY
    assert cephclient.read_keyring(str(path), "kube") == KEY[:-4] + "AAA="
    assert cephclient.read_keyring(str(path), "nobody") is None
    assert cephclient.read_keyring(str(tmp_path / "missing"), "admin") is None


def test_client_files_are_private_and_explicit(tmp_path: Any) -> None:
    conf = cephclient.client_files(str(tmp_path / "c"), Credentials.of(["127.0.0.1:6789"], "kube", KEY))
    text = open(conf).read()
    assert "mon host = 127.0.0.1:6789" in text
    keyring = os.path.join(str(tmp_path / "c"), "keyring")
    assert f"keyring = {keyring}" in text
    assert os.stat(keyring).st_mode & 0o777 == 0o600
    assert cephclient.read_keyring(keyring, "kube") == KEY
    assert KEY not in text


def test_session_refuses_bad_input_before_connecting() -> None:
    with pytest.raises(CephError) as e:
        cephclient.Session(Credentials.of("", "admin", KEY))
    assert e.value.reason == "InvalidMonitors"
    with pytest.raises(CephError) as e:
        cephclient.Session(Credentials.of("127.0.0.1:1", "admin", "short"))
    assert e.value.reason == "InvalidKey"


# --- against the real cluster ---------------------------------------------------------------------

def test_a_real_session_creates_and_lists_an_image(ceph: Any) -> None:
    creds = Credentials.of(ceph.monitors, ceph.user, ceph.user_key)

    def work(s: cephclient.Session) -> list[str]:
        with s.ioctx(ceph.pool) as io:
            s.call("create", s.rbd.RBD().create, io, "client-test", 4 << 20, old_format=False, features=1)
            try:
                return list(s.rbd.RBD().list(io))
            finally:
                s.rbd.RBD().remove(io, "client-test")

    assert "client-test" in asyncio.run(cephclient.run(creds, work))


def test_a_wrong_key_fails_at_once_and_says_so(ceph: Any) -> None:
    creds = Credentials.of(ceph.monitors, "admin", KEY)
    t = time.monotonic()
    with pytest.raises(CephError) as e:
        asyncio.run(cephclient.run(creds, lambda s: None, timeout=5))
    assert e.value.reason == "CephAuthFailed"
    assert "authentication failed" in e.value.message and "client.admin" in e.value.message
    assert not e.value.retryable
    assert time.monotonic() - t < 5


def test_an_unreachable_monitor_fails_within_the_deadline(ceph: Any) -> None:
    creds = Credentials.of("127.0.0.1:1", "admin", ceph.admin_key)
    with pytest.raises(CephError) as e:
        asyncio.run(cephclient.run(creds, lambda s: None, timeout=2))
    assert e.value.reason == "CephUnreachable"
    assert "127.0.0.1:1" in e.value.message and e.value.retryable


def test_a_user_limited_to_one_pool_cannot_open_another(ceph: Any) -> None:
    ceph.cluster.create_pool("other-pool")
    creds = Credentials.of(ceph.monitors, ceph.user, ceph.user_key)

    def work(s: cephclient.Session) -> None:
        with s.ioctx("other-pool") as io:
            s.call("create", s.rbd.RBD().create, io, "nope", 4 << 20, old_format=False, features=1)

    with pytest.raises(CephError) as e:
        asyncio.run(cephclient.run(creds, work, timeout=5))
    assert e.value.reason == "CephPermissionDenied"


def test_sessions_are_shared_per_credentials_and_dropped_when_the_cluster_is_gone(ceph: Any) -> None:
    creds = Credentials.of(ceph.monitors, ceph.user, ceph.user_key)
    seen = [asyncio.run(cephclient.run(creds, lambda s: s)) for _ in range(3)]
    assert seen[0] is seen[1] is seen[2]                  # one connection for every operation
    other = asyncio.run(cephclient.run(Credentials.of(ceph.monitors, "admin", ceph.admin_key), lambda s: s))
    assert other is not seen[0]

    def lost(s: cephclient.Session) -> None:
        raise CephError("CephTimeout", "the monitors stopped answering")

    with pytest.raises(CephError):
        asyncio.run(cephclient.run(creds, lost))
    assert asyncio.run(cephclient.run(creds, lambda s: s)) is not seen[0]   # connected afresh
