#!/usr/bin/env python3
"""API throughput and latency over HTTPS: create, get, list and watch N objects.

Starts its own ``orlop up`` in a temporary directory (or uses --kubeconfig), then with
C concurrent connections: creates N ConfigMaps (or PVCs with --kind pvc), gets each,
lists them all (pages of 500), and measures how fast a watch delivers N updates.
Prints a human summary, then the figures as one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any

import aiohttp

sys.path.insert(0, os.path.dirname(__file__))
from common import pct, report, session, start_server  # noqa: E402


def obj_for(kind: str, i: int, ns: str) -> tuple[str, dict[str, Any]]:
    if kind == "pvc":
        return (f"/api/v1/namespaces/{ns}/persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"b-{i}"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "bench",
                     "resources": {"requests": {"storage": "1Gi"}}}})
    return (f"/api/v1/namespaces/{ns}/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"b-{i}", "labels": {"bench": "yes"}},
        "data": {"k": "v" * 64}})


async def run(args: argparse.Namespace, kubeconfig: str) -> dict[str, Any]:
    ns = f"bench-{int(time.time())}"
    out: dict[str, Any] = {"n": args.n, "concurrency": args.concurrency, "kind": args.kind}
    async with session(kubeconfig, args.concurrency) as http:
        async with http.post("/api/v1/namespaces", json={"metadata": {"name": ns}}) as r:
            assert r.status == 201, await r.text()
        sem = asyncio.Semaphore(args.concurrency)

        async def timed(method: str, path: str, body: Any = None, expect: int = 200) -> float:
            async with sem:
                t = time.perf_counter()
                async with http.request(method, path, json=body) as r:
                    await r.read()
                    if r.status != expect:
                        raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
                return time.perf_counter() - t

        # create
        t0 = time.perf_counter()
        lat = await asyncio.gather(*(timed("POST", *obj_for(args.kind, i, ns), expect=201) for i in range(args.n)))
        dt = time.perf_counter() - t0
        out["create_per_s"] = round(args.n / dt, 1)
        out["create_p50_ms"], out["create_p99_ms"] = pct(lat, 50), pct(lat, 99)
        base = obj_for(args.kind, 0, ns)[0]
        # get
        t0 = time.perf_counter()
        lat = await asyncio.gather(*(timed("GET", f"{base}/b-{i}") for i in range(args.n)))
        dt = time.perf_counter() - t0
        out["get_per_s"] = round(args.n / dt, 1)
        out["get_p50_ms"], out["get_p99_ms"] = pct(lat, 50), pct(lat, 99)
        # list (all pages of 500)
        t0 = time.perf_counter()
        cont, count, rv = "", 0, ""
        while True:
            q = "?limit=500" + (f"&continue={cont}" if cont else "")
            async with http.get(base + q) as r:
                body = await r.json()
            count += len(body["items"])
            rv = rv or body["metadata"]["resourceVersion"]
            cont = body["metadata"].get("continue", "")
            if not cont:
                break
        dt = time.perf_counter() - t0
        assert count == args.n, count
        out["list_objects_per_s"] = round(count / dt, 1)
        out["list_all_ms"] = round(dt * 1000, 1)
        # watch: N merge patches, measured from first patch sent to last event received
        received = 0
        first_sent = 0.0
        done = asyncio.Event()
        lags: list[float] = []
        sent_at: dict[str, float] = {}

        async def watcher(ready: asyncio.Event) -> None:
            nonlocal received
            async with http.get(f"{base}?watch=true&resourceVersion={rv}", timeout=aiohttp.ClientTimeout(total=None)) as r:
                ready.set()
                async for line in r.content:
                    ev = json.loads(line)
                    if ev["type"] == "MODIFIED":
                        received += 1
                        name = ev["object"]["metadata"]["name"]
                        if name in sent_at:
                            lags.append(time.perf_counter() - sent_at[name])
                        if received == args.n:
                            done.set()
                            return

        ready = asyncio.Event()
        wt = asyncio.create_task(watcher(ready))
        await ready.wait()
        first_sent = time.perf_counter()

        async def patch(i: int) -> float:
            async with sem:
                sent_at[f"b-{i}"] = time.perf_counter()
                async with http.patch(f"{base}/b-{i}", data=json.dumps({"metadata": {"labels": {"w": "1"}}}),
                                      headers={"Content-Type": "application/merge-patch+json"}) as r:
                    await r.read()
                return 0.0

        await asyncio.gather(*(patch(i) for i in range(args.n)))
        await asyncio.wait_for(done.wait(), 120)
        dt = time.perf_counter() - first_sent
        wt.cancel()
        out["watch_events_per_s"] = round(args.n / dt, 1)
        out["watch_lag_p50_ms"], out["watch_lag_p99_ms"] = pct(lags, 50), pct(lags, 99)
        async with http.delete(f"/api/v1/namespaces/{ns}") as r:
            await r.read()
    out["python"] = sys.version.split()[0]
    out["cpus"] = os.cpu_count()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=2000, help="objects")
    ap.add_argument("-c", "--concurrency", type=int, default=32)
    ap.add_argument("--kind", choices=["configmap", "pvc"], default="configmap")
    ap.add_argument("--kubeconfig", help="use a running server instead of starting one")
    args = ap.parse_args()
    proc = None
    tmp = tempfile.mkdtemp(prefix="orlop-bench-")
    try:
        kc = args.kubeconfig
        if not kc:
            proc, kc = start_server(tmp)
        res = asyncio.run(run(args, kc))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
    report(res)


if __name__ == "__main__":
    main()
