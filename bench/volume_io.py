"""What an image volume costs: direct-I/O throughput inside it vs. a plain file, and snapshot time.

An ``orlop.io/image`` volume adds a loop device and a filesystem between a pod and the
host's disk.  This measures what that layer costs, with no server: the image is made by
``ImageDriver`` and attached, formatted and mounted by ``orlop.node.block`` exactly as
the node agent does, then ``dd`` writes and reads 1 GiB with O_DIRECT (bs=4M,
``oflag=direct conv=fsync`` / ``iflag=direct``) inside the mounted volume and, for the
baseline, in a plain file in the same host directory.  Each figure is the median of
``--runs`` runs; ratio = volume / plain (target >= 0.9).  Last: the time to snapshot the
1 GiB volume holding ~900 MiB of data while it is mounted (fsfreeze + copy).

Needs root (loop devices, mount).  Usage: ``python bench/volume_io.py [--dir /var/tmp]
[--fs ext4|xfs] [--runs 5]``; the last line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import report  # noqa: E402

from orlop.drivers import ProvisionRequest  # noqa: E402
from orlop.drivers.image import ImageDriver  # noqa: E402
from orlop.node import block  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
BS = 4 * MiB


def dd(*args: str) -> float:
    """Seconds one dd run takes."""
    t0 = time.monotonic()
    subprocess.run(["dd", *args, f"bs={BS}", "status=none"], check=True)
    return time.monotonic() - t0


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass            # not allowed here (a container): O_DIRECT reads bypass the cache anyway


def throughput(paths: dict[str, str], runs: int) -> dict[str, tuple[float, float]]:
    """name -> (write MiB/s, read MiB/s) of 1 GiB at each path, O_DIRECT, median of ``runs``.

    The paths take turns within each run, so that a noisy neighbour on the disk hits both alike."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in paths}
    count = str(GiB // BS)
    for _ in range(runs):
        for name, path in paths.items():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            times[name][0].append(dd("if=/dev/zero", f"of={path}", f"count={count}", "oflag=direct", "conv=fsync"))
        drop_caches()
        for name, path in paths.items():
            times[name][1].append(dd(f"if={path}", "of=/dev/null", "iflag=direct"))
    return {name: (round(GiB / MiB / statistics.median(w), 1), round(GiB / MiB / statistics.median(r), 1))
            for name, (w, r) in times.items()}


async def run(work: str, fs: str, runs: int) -> dict[str, Any]:
    driver = ImageDriver(os.path.join(work, "images"))
    req = ProvisionRequest(claim={"metadata": {"name": "bench", "namespace": "default", "uid": "bench"}, "spec": {}},
                           storage_class={"parameters": {"fsType": fs}}, volume_name="pvc-bench",
                           size_bytes=2 * GiB, access_modes=["ReadWriteOnce"])
    res = await driver.provision(req)
    pv = {"metadata": {"name": "pvc-bench"}, "spec": {"capacity": {"storage": "2Gi"}, **res.source}}
    nodes = block.BlockVolumes(os.path.join(work, "node"))
    image = res.source["csi"]["volumeAttributes"]["path"]
    t0 = time.monotonic()
    staged = nodes.stage(block.ImageVolume("pvc-bench", image, fs))
    first_mount = time.monotonic() - t0
    try:
        got = throughput({"volume": os.path.join(staged.path, "bench.dat"),
                          "plain": os.path.join(work, "plain.dat")}, runs)
        (vol_w, vol_r), (plain_w, plain_r) = got["volume"], got["plain"]
        os.unlink(os.path.join(work, "plain.dat"))
    finally:
        nodes.unstage("pvc-bench", image)
        await driver.delete(pv)
    snap = await snapshot_time(driver, nodes, fs)
    return {
        "fs_type": fs, "runs": runs, "block_size": "4MiB", "bytes": GiB,
        "volume_write_mib_s": vol_w, "volume_read_mib_s": vol_r,
        "plain_write_mib_s": plain_w, "plain_read_mib_s": plain_r,
        "write_ratio": round(vol_w / plain_w, 3), "read_ratio": round(vol_r / plain_r, 3),
        "attach_format_mount_seconds": round(first_mount, 3),
        **snap,
    }


async def snapshot_time(driver: ImageDriver, nodes: block.BlockVolumes, fs: str) -> dict[str, Any]:
    """A 1 GiB volume, mounted, with ~900 MiB written: seconds to snapshot it (freeze + copy)."""
    req = ProvisionRequest(claim={"metadata": {"name": "snap", "namespace": "default", "uid": "snap"}, "spec": {}},
                           storage_class={"parameters": {"fsType": fs}}, volume_name="pvc-snap", size_bytes=GiB,
                           access_modes=["ReadWriteOnce"])
    res = await driver.provision(req)
    pv = {"metadata": {"name": "pvc-snap"}, "spec": {"capacity": {"storage": "1Gi"}, **res.source}}
    image = res.source["csi"]["volumeAttributes"]["path"]
    staged = nodes.stage(block.ImageVolume("pvc-snap", image, fs))
    try:
        dd("if=/dev/urandom", f"of={os.path.join(staged.path, 'data')}", f"count={900 * MiB // BS}", "oflag=direct")
        allocated = os.stat(image).st_blocks * 512
        t0 = time.monotonic()
        handle, _, _ = await driver.snapshot(pv, "snapshot-bench")
        seconds = time.monotonic() - t0
        await driver.delete_snapshot(handle)
    finally:
        nodes.unstage("pvc-snap", image)
        await driver.delete(pv)
    return {"snapshot_1gib_seconds": round(seconds, 3), "snapshot_copied_bytes": allocated}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default="/var/tmp", help="host directory for the image and the plain file")
    ap.add_argument("--fs", default="ext4", choices=("ext4", "xfs"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("volume_io needs root (loop devices, mount)")
    work = tempfile.mkdtemp(prefix="orlop-volume-io-", dir=args.dir)
    try:
        res = asyncio.run(run(work, args.fs, args.runs))
    finally:
        block.detach_under(work)
        shutil.rmtree(work, ignore_errors=True)
    report(res)


if __name__ == "__main__":
    main()
