"""How fast a large StatefulSet with claims comes up: seconds until every pod is Ready.

Starts a throwaway ``orlop up --runtime simulated`` (kwok-style pods: no processes, so the
figure is the control plane's: StatefulSet controller, claims, binder + local-path
provisioning, scheduler, node agent status), creates one Parallel StatefulSet of N replicas
with a volumeClaimTemplate on the default local-path class, and polls its status.

Usage: ``python bench/statefulset.py [-n 500]``; the last line is the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import report, session, start_server  # noqa: E402


def statefulset(n: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "bench"},
        "spec": {
            "serviceName": "bench", "replicas": n, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {"metadata": {"labels": {"app": "bench"}},
                         "spec": {"containers": [{"name": "c", "image": "busybox",
                                                  "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOnce"],
                                               "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }


async def run(kubeconfig: str, n: int) -> dict[str, Any]:
    async with session(kubeconfig, 8) as s:
        base = "/apis/apps/v1/namespaces/default/statefulsets"
        t0 = time.monotonic()
        async with s.post(base, json=statefulset(n)) as r:
            assert r.status == 201, await r.text()
        first_ready = None
        ready = 0
        while True:
            async with s.get(f"{base}/bench") as r:
                st = (await r.json()).get("status") or {}
            ready = int(st.get("readyReplicas") or 0)
            now = time.monotonic()
            if ready and first_ready is None:
                first_ready = now - t0
            if ready >= n:
                break
            if now - t0 > 600:
                break
            await asyncio.sleep(0.1)
        total = time.monotonic() - t0
        async with s.get("/api/v1/namespaces/default/persistentvolumeclaims") as r:
            bound = sum(1 for c in (await r.json())["items"] if (c.get("status") or {}).get("phase") == "Bound")
    return {"replicas": n, "ready": ready, "claims_bound": bound, "seconds_to_all_ready": round(total, 2),
            "seconds_to_first_ready": round(first_ready or 0.0, 2), "pods_per_second": round(ready / total, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=500, help="replicas")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, kc = start_server(tmp, "--runtime", "simulated")
        try:
            res = asyncio.run(run(kc, args.n))
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(30)
    report(res)


if __name__ == "__main__":
    main()
