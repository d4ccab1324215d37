#!/usr/bin/env python3
"""The floor under bench/bind.py's static figure: the same requests to a server that does nothing.

bench/bind.py's ``static_all_bound_s`` counts 2N HTTPS creates from one Python load generator
on the same machine as the server.  This script sends exactly those requests (same bodies,
same client session, same concurrency) to a bare aiohttp server on the same TLS setup as
``orlop up`` (its certificates from orlop.api.pki, aiohttp's low-level server) whose handler
only decodes the body, adds the fields a create adds and answers 201 with the object.  What
is left is the cost of HTTP and TLS on both sides and of the load generator itself -- the part
of bind.py's figure that is not orlop's registry, store or controllers.

Reported (last line, one JSON object), with ``cpu_calibration_ms`` (bench/common.py):
- ``floor_create_s``: time to send the 2N requests and read their answers;
- ``floor_server_cpu_ms``: CPU of the bare server per pair (two requests);
- ``floor_client_cpu_s``: CPU of the load generator for all of them (this process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

sys.path.insert(0, os.path.dirname(__file__))
from bind import create_all, static_items  # noqa: E402
from common import cpu_calibration_ms, report, serving, session  # noqa: E402


async def serve(data_dir: str, port: int) -> None:
    """The bare server: decode, add uid / creationTimestamp / resourceVersion, encode, 201."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from orlop.api import pki
    creds = pki.ensure_credentials(data_dir)
    revision = 0

    async def handle(request: web.BaseRequest) -> web.Response:
        nonlocal revision
        obj: dict[str, Any] = orjson.loads(await request.read())
        revision += 1
        meta = obj.setdefault("metadata", {})
        meta.update(uid=str(uuid.uuid4()), creationTimestamp="2026-12-07T00:00:00Z", resourceVersion=str(revision))
        return web.Response(body=orjson.dumps(obj), status=201, headers={"Content-Type": "application/json"})

    runner = web.ServerRunner(web.Server(handle, access_log=None), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=creds.ssl_context()).start()
    pki.write_kubeconfig(os.path.join(data_dir, "kubeconfig"), creds, f"https://127.0.0.1:{port}")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(kubeconfig: str, pid: int, n: int, concurrency: int) -> dict[str, Any]:
    items = static_items("bench-static", n)
    async with session(kubeconfig, concurrency) as http:
        await create_all(http, items[:2 * min(n, 200)], concurrency, {})     # (connections up, code warm)
        cpu0, mine0, t0 = proc_cpu(pid), time.process_time(), time.perf_counter()
        await create_all(http, items, concurrency, {})
        wall, cpu1, mine1 = time.perf_counter() - t0, proc_cpu(pid), time.process_time()
    return {"floor_create_s": round(wall, 2), "floor_server_cpu_ms": round(1000 * (cpu1 - cpu0) / n, 3),
            "floor_client_cpu_s": round(mine1 - mine0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10000, help="PV/PVC pairs (2N requests)")
    ap.add_argument("-c", "--concurrency", type=int, default=64)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)     # (the bare server itself)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(args.data_dir, args.port))
        return
    with serving(tempfile.mkdtemp(prefix="orlop-bench-floor-"), command=(os.path.abspath(__file__), "--serve")) as (proc, kc):
        if proc.poll() is not None or not os.path.exists(kc):
            raise SystemExit("the bare server did not start")
        res: dict[str, Any] = {"pairs": args.n, "concurrency": args.concurrency, "cpus": os.cpu_count(),
                               "cpu_calibration_ms": cpu_calibration_ms()}
        res.update(asyncio.run(drive(kc, proc.pid, args.n, args.concurrency)))
    report(res)


if __name__ == "__main__":
    main()
