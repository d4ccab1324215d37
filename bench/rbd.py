"""Ceph RBD figures: dynamic provisioning through ``orlop up`` and sequential I/O through a mounted
RBD volume against librbd directly.

Boots its own one-mon one-OSD cluster (BlueStore on a sparse file) inside a private network
namespace (loopback only), as the tests do; needs root and the Ceph packages.

- provisioning: M claims of a ``kubernetes.io/rbd`` class (seed 000's tenx-rbd parameters)
  created over HTTPS as fast as the API takes them; claims/s until all are Bound and the
  claim -> Bound latency p50/p99 (the same measurement as bench/bind.py's dynamic run).
- I/O: 1 GiB written and read back in 4 MiB blocks with O_DIRECT through the node's path
  (rbd-fuse -> loop -> filesystem), and the same bytes through librbd directly (no
  filesystem, no FUSE): the ratio is what the node path costs.

Usage: python bench/rbd.py [-m 200] [--io-runs 2] [--fs ext4]; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# This file is named rbd.py: librbd's Python module must be imported before this directory is
# on sys.path, or ``import rbd`` finds this script instead.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from cephcluster import CephCluster, enter_private_network, install_packages  # noqa: E402

from orlop.drivers import ceph as cephclient  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
BS = 4 * MiB


async def provisioning(kubeconfig: str, cluster: CephCluster, m: int, concurrency: int) -> dict[str, Any]:
    from bind import claim, measure, namespace
    from common import session

    key = base64.b64encode(cluster.admin_key().encode()).decode()
    async with session(kubeconfig, concurrency + 2) as http:
        for ns in ("kube-system", "bench-rbd"):
            if ns != "kube-system":
                await namespace(http, ns)
            async with http.post(f"/api/v1/namespaces/{ns}/secrets", json={
                    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ceph-secret"},
                    "type": "kubernetes.io/rbd", "data": {"key": key}}) as r:
                assert r.status == 201, await r.text()
        async with http.post("/apis/storage.k8s.io/v1/storageclasses", json={
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "tenx-rbd"},
                "provisioner": "kubernetes.io/rbd",
                "parameters": {"monitors": cluster.monitors, "adminId": "admin", "adminSecretName": "ceph-secret",
                               "adminSecretNamespace": "kube-system", "pool": "tenx-pool", "userId": "admin",
                               "userSecretName": "ceph-secret"}}) as r:
            assert r.status == 201, await r.text()
        async with http.get("/api/v1/namespaces/bench-rbd/persistentvolumeclaims") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        items = [("/api/v1/namespaces/bench-rbd/persistentvolumeclaims", claim(f"claim-{i}", "tenx-rbd"))
                 for i in range(m)]
        out = await measure(http, "bench-rbd", rv, items, m, concurrency, "rbd_provision")
    out["rbd_provisioned_per_s"] = round(m / out["rbd_provision_all_bound_s"], 1)
    return out


def dd(*args: str) -> float:
    t0 = time.monotonic()
    subprocess.run(["dd", *args, f"bs={BS}", "status=none"], check=True)
    return time.monotonic() - t0


def librbd_io(cluster: CephCluster, runs: int) -> tuple[float, float]:
    """(write MiB/s, read MiB/s) of 1 GiB through librbd, 4 MiB requests, median of runs."""
    from orlop.drivers import ceph
    rados, rbd = ceph.load()
    creds = ceph.Credentials.of(cluster.monitors, "admin", cluster.admin_key())
    s = ceph.Session(creds, 30)
    buf = b"\0" * BS
    w, r = [], []
    try:
        with s.ioctx("tenx-pool") as io:
            rbd.RBD().create(io, "bench-librbd", 2 * GiB, old_format=False, features=1)
            try:
                with rbd.Image(io, "bench-librbd") as img:
                    for _ in range(runs):
                        t0 = time.monotonic()
                        for off in range(0, GiB, BS):
                            img.write(buf, off)
                        img.flush()
                        w.append(time.monotonic() - t0)
                        t0 = time.monotonic()
                        for off in range(0, GiB, BS):
                            img.read(off, BS)
                        r.append(time.monotonic() - t0)
            finally:
                rbd.RBD().remove(io, "bench-librbd")
    finally:
        s.close()
    return round(GiB / MiB / statistics.median(w), 1), round(GiB / MiB / statistics.median(r), 1)


def node_path_io(cluster: CephCluster, work: str, fs: str, runs: int) -> dict[str, Any]:
    """The node's path: an image staged by orlop's RBD node code, 1 GiB through the mounted filesystem."""
    from orlop.drivers import ceph
    from orlop.node import rbd as noderbd
    creds = ceph.Credentials.of(cluster.monitors, "admin", cluster.admin_key())
    cluster.rbd("create", "tenx-pool/bench-node", "--size", "2048", "--image-feature", "layering")
    volumes = noderbd.RbdVolumes(os.path.join(work, "node"))
    vol = noderbd.RbdVolume(name="bench-node", monitors=(cluster.monitors,), pool="tenx-pool", image="bench-node",
                            user="admin", keyring="", secret=None, fs_type=fs, read_only=False)
    t0 = time.monotonic()
    staged = asyncio.run(volumes.stage(vol, creds))
    first_mount = time.monotonic() - t0
    w, r = [], []
    try:
        path = os.path.join(staged.path, "bench.dat")
        for _ in range(runs):
            if os.path.exists(path):
                os.unlink(path)
            w.append(dd("if=/dev/zero", f"of={path}", f"count={GiB // BS}", "oflag=direct", "conv=fsync"))
            r.append(dd(f"if={path}", "of=/dev/null", "iflag=direct"))
    finally:
        volumes.unstage(vol.key)
        cluster.rbd("rm", "tenx-pool/bench-node")
    return {"node_write_mib_s": round(GiB / MiB / statistics.median(w), 1),
            "node_read_mib_s": round(GiB / MiB / statistics.median(r), 1),
            "node_stage_format_mount_s": round(first_mount, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", type=int, default=200, help="claims to provision (0: skip)")
    ap.add_argument("-c", type=int, default=16, help="concurrent API requests")
    ap.add_argument("--io-runs", type=int, default=2, help="1 GiB write+read runs per path (0: skip I/O)")
    ap.add_argument("--fs", default="ext4", choices=("ext4", "xfs"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/rbd.py needs root (Ceph daemons, loop devices, mounts)")
    why = enter_private_network() or install_packages() or cephclient.available()
    if why:
        sys.exit(why)
    sys.path.insert(0, HERE)         # librbd is loaded: bench/common.py and bench/bind.py may come in now
    from common import report, start_server
    work = tempfile.mkdtemp(prefix="orlop-bench-rbd-")
    cluster = CephCluster(os.path.join(work, "ceph"))
    proc = None
    res: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        cluster.start()
        cluster.create_pool("tenx-pool", 32)
        res["ceph_boot_s"] = round(time.monotonic() - t0, 2)
        if args.m:
            proc, kubeconfig = start_server(work, "--runtime", "none")
            res.update(asyncio.run(provisioning(kubeconfig, cluster, args.m, args.c)))
            res["claims"] = args.m
        if args.io_runs:
            res["fs_type"], res["io_runs"], res["io_bytes"] = args.fs, args.io_runs, GiB
            res.update(node_path_io(cluster, work, args.fs, args.io_runs))
            w, r = librbd_io(cluster, args.io_runs)
            res.update(librbd_write_mib_s=w, librbd_read_mib_s=r,
                       node_vs_librbd_write=round(res["node_write_mib_s"] / w, 3),
                       node_vs_librbd_read=round(res["node_read_mib_s"] / r, 3))
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(res)


if __name__ == "__main__":
    main()
