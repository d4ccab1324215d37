#!/usr/bin/env python3
"""Binding and provisioning speed: static PV/PVC pairs, and dynamically provisioned claims.

Starts its own ``orlop up`` in a temporary directory.  Static: creates N PersistentVolumes
and N claims (class ``bench``, 1Gi, interleaved) over HTTPS with C concurrent connections
as fast as the API allows, and watches the claims until all are Bound.  Dynamic: creates
M claims on the default class (local-path) and waits until all are Bound.

Reported (last line, one JSON object), with ``cpu_calibration_ms`` (bench/common.py: the
machine's speed at the time; the host is shared, so compare runs at similar values):
- ``static_create_s``: time to create the 2N objects;
- ``static_all_bound_s``: from the first create to the last claim Bound (Kubernetes'
  figure in kubernetes/kubernetes#133352 is measured the same way);
- ``static_bound_after_created_s``: from the last create to the last Bound (the binder's
  own lag behind the API);
- ``static_p50_ms`` / ``static_p99_ms``: per claim, create acknowledged → Bound seen;
- the same for dynamic provisioning plus ``dynamic_volumes_per_s``;
- ``static_writes_per_claim`` (and ``dynamic_``): store writes per claim, the creates and
  events included (the growth of the global revision);
- ``static_server_rss_mb`` (and ``dynamic_``): the server's resident memory once all are Bound;
- ``static_server_cpu_ms`` / ``static_server_main_ms`` (and ``dynamic_``): CPU time of the
  ``orlop up`` process / of its main (event-loop) thread per claim, from the first create
  to the last Bound (a static claim's figure includes its PV).

``--released N`` (kubernetes/kubernetes#118545): N Released PVs in the class, then 50 fresh
PV + claim pairs one at a time: ``released_claim_bound_p50_ms`` / ``_p99_ms``.

``--idle S``: after the static pairs are Bound, S seconds of the server doing nothing asked of
it (its resyncs go on: every 15 s each claim and volume is looked at again, as Kubernetes'
PV controller does): ``idle_server_cpu_pct``, its CPU use over them (100 = one core).

``--server-python PATH`` runs the server under another Python (with orlop and its
dependencies importable there), the load generator staying on this one: how much the
interpreter's build matters (``server_python`` in the output).

``--event-loop asyncio`` runs the server on the standard library's loop instead of uvloop
(``event_loop`` in the output).

``--in-process N`` measures the binder alone: N pairs are created through the in-process
client while the controllers are stopped (with ``orlop up``'s garbage-collector tuning),
then the controllers start and the time until every claim is Bound is reported
(``inproc_bind_all_s``, ``inproc_binds_per_s``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, os.path.dirname(__file__))
from common import add_event_loop_option, compiled, cpu_calibration_ms, pct, report, serving, session  # noqa: E402


async def watch_bound(http: aiohttp.ClientSession, ns: str, rv: str, want: int, bound_at: dict[str, float],
                      ready: asyncio.Event) -> None:
    """Record when each claim is first seen Bound, until ``want`` claims are."""
    url = f"/api/v1/namespaces/{ns}/persistentvolumeclaims?watch=true&resourceVersion={rv}"
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=None)) as r:
        ready.set()
        async for line in r.content:
            ev = orjson.loads(line)
            obj = ev["object"]
            if ev["type"] in ("ADDED", "MODIFIED") and obj.get("status", {}).get("phase") == "Bound":
                bound_at.setdefault(obj["metadata"]["name"], time.perf_counter())
                if len(bound_at) >= want:
                    return


async def create_all(http: aiohttp.ClientSession, items: list[tuple[str, dict[str, Any]]], concurrency: int,
                     created_at: dict[str, float]) -> None:
    queue = list(reversed(items))

    async def worker() -> None:
        while queue:
            path, body = queue.pop()
            data = orjson.dumps(body)     # (orjson: the load generator shares the server's two cores)
            for attempt in range(5):
                async with http.post(path, data=data) as r:
                    await r.read()
                    if r.status == 201:
                        break
                    if r.status >= 500 or attempt == 4:
                        raise RuntimeError(f"POST {path}: {r.status} {await r.text()}")
            if body["kind"] == "PersistentVolumeClaim":
                created_at[body["metadata"]["name"]] = time.perf_counter()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def namespace(http: aiohttp.ClientSession, name: str) -> str:
    async with http.post("/api/v1/namespaces", json={"metadata": {"name": name}}) as r:
        body = await r.json()
        return str(body["metadata"]["resourceVersion"])


def claim(name: str, cls: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def static_items(ns: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    """The static run's requests: N PVs and N claims (class ``bench``, 1Gi), interleaved."""
    items: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        items.append(("/api/v1/persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"bench-pv-{i}"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "bench",
                     "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/orlop-bench/pv-{i}"}}}))
        items.append((f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim(f"claim-{i}", "bench")))
    return items


async def run_static(http: aiohttp.ClientSession, n: int, c: int) -> dict[str, Any]:
    ns = "bench-static"
    rv = await namespace(http, ns)
    return await measure(http, ns, rv, static_items(ns, n), n, c, "static")


def dynamic_items(ns: str, m: int) -> list[tuple[str, dict[str, Any]]]:
    """M claims on the default class (local-path), as (path, body) to POST."""
    return [(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim(f"claim-{i}", None)) for i in range(m)]


async def run_dynamic(http: aiohttp.ClientSession, m: int, c: int) -> dict[str, Any]:
    ns = "bench-dynamic"
    rv = await namespace(http, ns)
    out = await measure(http, ns, rv, dynamic_items(ns, m), m, c, "dynamic")
    out["dynamic_volumes_per_s"] = round(m / out["dynamic_all_bound_s"], 1)
    return out


SERVER_PID = 0      # the `orlop up` under test, for its CPU time


def server_rss_mb() -> float:
    """Resident memory of the server process, MiB; 0 when unknown."""
    if not SERVER_PID:
        return 0.0
    with open(f"/proc/{SERVER_PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def server_cpu() -> tuple[float, float]:
    """CPU seconds of the server process and of its main (event-loop) thread; zeros when unknown."""
    if not SERVER_PID:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")

    def cpu(path: str) -> float:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    return cpu(f"/proc/{SERVER_PID}/stat"), cpu(f"/proc/{SERVER_PID}/task/{SERVER_PID}/stat")


async def run_released(http: aiohttp.ClientSession, n: int, c: int, samples: int = 50) -> dict[str, Any]:
    """kubernetes/kubernetes#118545: binding slows down when thousands of Released PVs share the
    claim's class.  N PVs whose claims are gone (Retain: they stay Released), then ``samples``
    fresh PV + claim pairs one after another: claim created -> Bound latency."""
    ns = "bench-released"
    await namespace(http, ns)
    pv_path = "/api/v1/persistentvolumes"
    items = [(pv_path, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"released-{i}"},
                        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                 "storageClassName": "bench", "persistentVolumeReclaimPolicy": "Retain",
                                 "hostPath": {"path": f"/tmp/orlop-bench/released-{i}"},
                                 "claimRef": {"namespace": ns, "name": f"gone-{i}", "uid": f"gone-{i}"}}})
             for i in range(n)]
    await create_all(http, items, c, {})
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        async with http.get(pv_path) as r:
            phases = [p.get("status", {}).get("phase") for p in (await r.json())["items"]]
        if phases.count("Released") >= n:
            break
        await asyncio.sleep(0.5)
    lat: list[float] = []
    for k in range(samples):
        async with http.post(pv_path, json={
                "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"fresh-{k}"},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "bench",
                         "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/orlop-bench/f-{k}"}}}) as r:
            assert r.status == 201, await r.text()
        t0 = time.perf_counter()
        async with http.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json=claim(f"fresh-{k}", "bench")) as r:
            assert r.status == 201, await r.text()
        while True:
            async with http.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/fresh-{k}") as r:
                if (await r.json()).get("status", {}).get("phase") == "Bound":
                    break
            await asyncio.sleep(0.002)
        lat.append(time.perf_counter() - t0)
    return {"released_pvs": n, "released_samples": samples,
            "released_claim_bound_p50_ms": pct(lat, 50), "released_claim_bound_p99_ms": pct(lat, 99)}


async def measure(http: aiohttp.ClientSession, ns: str, rv: str, items: list[tuple[str, dict[str, Any]]],
                  claims: int, c: int, label: str) -> dict[str, Any]:
    bound_at: dict[str, float] = {}
    created_at: dict[str, float] = {}
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch_bound(http, ns, rv, claims, bound_at, ready))
    await ready.wait()
    cpu0 = server_cpu()
    t0 = time.perf_counter()
    await create_all(http, items, c, created_at)
    t_created = time.perf_counter()
    await asyncio.wait_for(watcher, 600)
    cpu1 = server_cpu()
    await asyncio.sleep(0.5)    # writes that trail the last Bound (the PVs' own) are counted too
    async with http.get("/api/v1/namespaces?limit=1") as r:
        rv_end = int((await r.json())["metadata"]["resourceVersion"])
    t_bound = max(bound_at.values())
    lat = [bound_at[k] - created_at[k] for k in created_at]
    return {f"{label}_create_s": round(t_created - t0, 2),
            f"{label}_all_bound_s": round(t_bound - t0, 2),
            f"{label}_bound_after_created_s": round(max(0.0, t_bound - t_created), 2),
            f"{label}_p50_ms": pct(lat, 50), f"{label}_p99_ms": pct(lat, 99),
            # server CPU per claim (a static claim comes with its PV): the whole process, its main thread
            f"{label}_server_cpu_ms": round(1000 * (cpu1[0] - cpu0[0]) / claims, 3),
            f"{label}_server_main_ms": round(1000 * (cpu1[1] - cpu0[1]) / claims, 3),
            # store writes (creates included, events too) per claim: the global revision's growth
            f"{label}_writes_per_claim": round((rv_end - int(rv)) / claims, 2),
            # the server's resident memory once they are all Bound (everything before included)
            f"{label}_server_rss_mb": server_rss_mb()}


async def in_process(n: int, tmp: str) -> dict[str, Any]:
    """The binder alone: N pairs created through the in-process client (no HTTP), then timed to Bound."""
    from orlop import drivers
    from orlop.client import LocalClient
    from orlop.drivers.localpath import LocalPathDriver
    from orlop.registry.core import Registry
    from orlop.store.sqlite import SQLiteStore
    from orlop.up import bootstrap, start_controllers, tune_gc

    store = SQLiteStore(os.path.join(tmp, "inproc", "store.db"))
    registry = Registry(store)
    drivers.register(LocalPathDriver(os.path.join(tmp, "inproc", "volumes"), node_name="bench"))
    await bootstrap(registry, default_class=True)
    tune_gc()       # as `orlop up` runs: the figure is the binder's, not the default collector's
    client = LocalClient(registry, "bench")
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}})

    t0 = time.perf_counter()
    objs: list[dict[str, Any]] = []
    for i in range(n):
        objs.append({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"pv-{i}"},
                     "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                              "storageClassName": "bench", "persistentVolumeReclaimPolicy": "Retain",
                              "hostPath": {"path": f"/tmp/orlop-bench/pv-{i}"}}})
        c = claim(f"claim-{i}", "bench")
        c["metadata"]["namespace"] = "b"
        objs.append(c)
    queue = list(reversed(objs))

    async def worker() -> None:
        # 256 creators at a time (a gather behind one asyncio.Semaphore costs O(waiters) per acquire).
        while queue:
            await client.create(queue.pop())

    await asyncio.gather(*(worker() for _ in range(256)))
    t_created = time.perf_counter()
    tasks = start_controllers(registry)
    t_start = time.perf_counter()
    bound: set[str] = set()
    async for ev in client.watch("v1", "PersistentVolumeClaim", "b"):
        if ev.object.get("status", {}).get("phase") == "Bound":
            bound.add(ev.object["metadata"]["name"])
            if len(bound) == n:
                break
    t_bound = time.perf_counter()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.close()
    return {"inproc_pairs": n, "inproc_create_s": round(t_created - t0, 2),
            "inproc_bind_all_s": round(t_bound - t_start, 2),
            "inproc_binds_per_s": round(n / (t_bound - t_start), 1)}


async def idle(seconds: float) -> dict[str, Any]:
    """The server's CPU use while nothing is asked of it, over ``seconds``."""
    cpu0 = server_cpu()
    await asyncio.sleep(seconds)
    cpu1 = server_cpu()
    return {"idle_s": seconds, "idle_server_cpu_pct": round(100 * (cpu1[0] - cpu0[0]) / seconds, 1)}


async def main_async(args: argparse.Namespace, kubeconfig: str) -> dict[str, Any]:
    out: dict[str, Any] = {"pairs": args.n, "dynamic_claims": args.m, "concurrency": args.concurrency,
                           "cpus": os.cpu_count(), "cpu_calibration_ms": cpu_calibration_ms()}
    async with session(kubeconfig, args.concurrency) as http:
        if args.n:
            out.update(await run_static(http, args.n, args.concurrency))
            if args.idle:
                out.update(await idle(args.idle))
        if args.m:
            out.update(await run_dynamic(http, args.m, args.concurrency))
        if args.released:
            out.update(await run_released(http, args.released, args.concurrency))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="static PV/PVC pairs")
    ap.add_argument("-m", type=int, default=1000, help="dynamically provisioned claims")
    ap.add_argument("-c", "--concurrency", type=int, default=64)
    ap.add_argument("--released", type=int, default=0, metavar="N",
                    help="also: N Released PVs in the class, then fresh pairs timed claim -> Bound one at a time")
    ap.add_argument("--idle", type=float, default=0, metavar="S",
                    help="also: the server's CPU use over S seconds once the static pairs are Bound")
    ap.add_argument("--server-python", default="", metavar="PATH",
                    help="run the server under this Python instead of the one running the bench")
    add_event_loop_option(ap)
    ap.add_argument("--in-process", type=int, default=0, metavar="N",
                    help="instead: N pairs created in process while the controllers are stopped, then the "
                         "controllers started and timed until all are Bound (the binder alone)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="orlop-bench-bind-")
    if args.in_process:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
        res = asyncio.run(in_process(args.in_process, tmp))
        report(res)
        return
    global SERVER_PID
    with serving(tmp, "--event-loop", args.event_loop, python=args.server_python) as (proc, kc):
        SERVER_PID = proc.pid
        res = asyncio.run(main_async(args, kc))
    res["server_python"] = args.server_python or sys.executable
    res["compiled"] = compiled(args.server_python)
    res["event_loop"] = args.event_loop
    report(res)


if __name__ == "__main__":
    main()
