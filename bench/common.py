"""Shared by the bench scripts: start a throwaway ``orlop up``, an HTTPS session, percentiles."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import yaml


def pct(values: list[float], p: float) -> float:
    """The p-th percentile in milliseconds (nearest rank)."""
    if not values:
        return 0.0
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return round(values[k] * 1000, 2)


def start_server(tmp: str, *extra: str, command: tuple[str, ...] = ("-m", "orlop.cli", "up"),
                 python: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """``orlop up`` in tmp (or ``command``, run by this Python -- or by ``python`` -- with the same
    ``--data-dir`` and ``--port``, writing a kubeconfig there); returns the process (stop it by
    its PID) and the kubeconfig path."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(tmp, "data")
    log = open(os.path.join(tmp, "orlop.log"), "wb")  # noqa: SIM115 - the child's log
    proc = subprocess.Popen([python or sys.executable, *command, "--data-dir", data, "--port", str(port),
                             *extra], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            cwd=tmp)  # (from a source tree, `python -m` would import that tree's orlop)
    kc = os.path.join(data, "kubeconfig")
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(kc):
        time.sleep(0.1)
    time.sleep(0.5)
    return proc, kc


def compiled(python: str = "") -> bool:
    """Whether the server's Python runs orlop's modules compiled by mypyc (setup.py), not stale
    and not an ORLOP_PURE build: part of what a figure was measured with."""
    out = subprocess.run([python or sys.executable, "-c", "import orlop; print(orlop.COMPILED)"],
                         capture_output=True, text=True, check=True, cwd="/").stdout  # (as start_server: not here)
    return out.strip() == "True"


@contextlib.contextmanager
def serving(tmp: str, *extra: str, command: tuple[str, ...] = ("-m", "orlop.cli", "up"), python: str = "",
            stop_timeout: float = 30) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``start_server``, stopped (by its PID) when the block ends, however it ends."""
    proc, kc = start_server(tmp, *extra, command=command, python=python)
    try:
        yield proc, kc
    finally:
        proc.terminate()
        proc.wait(timeout=stop_timeout)


def add_event_loop_option(ap: argparse.ArgumentParser) -> None:
    """``--event-loop``: the loop the server under test runs on (``orlop up --event-loop``)."""
    ap.add_argument("--event-loop", default="uvloop", choices=("uvloop", "asyncio"),
                    help="the server's event loop (orlop up --event-loop)")


def session(kubeconfig: str, connections: int) -> aiohttp.ClientSession:
    with open(kubeconfig) as f:
        cfg: dict[str, Any] = yaml.safe_load(f)
    cluster = cfg["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    headers = {"Authorization": f"Bearer {cfg['users'][0]['user']['token']}", "Content-Type": "application/json"}
    return aiohttp.ClientSession(cluster["server"], headers=headers,
                                 connector=aiohttp.TCPConnector(ssl=ctx, limit=connections))


def cpu_calibration_ms() -> float:
    """CPU milliseconds of a fixed piece of work like the server's (JSON copies of a PV, dict
    walks), best of five: the machines here share their host, and the same run can take half
    as long again when the host is busy; figures are comparable only at similar values."""
    import orjson
    pv = {"apiVersion": "v1", "kind": "PersistentVolume",
          "metadata": {"name": "pv-1", "uid": "0" * 36, "annotations": {"a": "b"}, "finalizers": ["x"]},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"},
                   "claimRef": {"namespace": "n", "name": "c", "uid": "1" * 36}},
          "status": {"phase": "Bound"}}
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(20_000):
            o = orjson.loads(orjson.dumps(pv))
            sum(len(k) for part in o.values() if isinstance(part, dict) for k in part)
        best = min(best, time.process_time() - t0)
    return round(best * 1000, 1)


def report(res: dict[str, Any]) -> None:
    """A readable summary, then the figures as one JSON object on the last line."""
    width = max(len(k) for k in res) + 2
    for k, v in res.items():
        print(f"{k:>{width}}: {v}")
    print(json.dumps(res, sort_keys=True))
