#!/usr/bin/env python3
"""Machine instructions the server executes per static PV/PVC pair: a figure the host's noise does not move.

The machines here share their host, and the same timed run can take half as long again
when the host is busy (``cpu_calibration_ms`` in the other benches); two versions of the
code compare reliably only by what they execute.  This runs ``orlop up`` under valgrind's
callgrind (Debian's ``valgrind``), creates N static pairs over HTTPS as ``bind.py`` does,
counts instructions only from the first create to the last claim Bound, and reports
``instr_per_pair`` (the whole process: event loop, store thread, libraries).  With ``-m M``
it then provisions M claims on the default class (local-path) the same way and reports
``instr_per_provisioned_claim`` for them alone.

Under callgrind everything runs ~50x slower, so the PV controller's 15-s resync would look
at every object ~50x more often per pair than in a real run and swamp the figure: it is
switched off here (``--resync`` keeps it).  Timing-dependent batching (store transactions,
watch deliveries) still moves the figure by about 1% between runs of the same code.

    python bench/instructions.py -n 2000            # ~4 min on a 2-core machine
    python bench/instructions.py -n 0 -m 500        # provisioning alone, on a fresh server
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
import bind  # noqa: E402
from common import add_event_loop_option, compiled, report, serving, session  # noqa: E402

# The server with the PV controller's resync off (see the docstring), as `python -c ... up`.
NO_RESYNC = ("import runpy, sys; import orlop.controllers.pv.controller as c; c.RESYNC = 1e9; "
             "sys.argv[0] = 'orlop'; runpy.run_module('orlop.cli', run_name='__main__')")


async def ready(kubeconfig: str) -> None:
    """Wait until the server (slow to start under callgrind) answers /readyz."""
    async with session(kubeconfig, 1) as http:
        for _ in range(600):
            try:
                async with http.get("/readyz") as r:
                    if r.status == 200:
                        return
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("the server did not become ready")


def callgrind_control(pid: int, on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(pid)], check=True, capture_output=True)


def instructions(out_prefix: str, dump: int = 0) -> int:
    """Instructions counted so far: the sum over the callgrind output files (one per dump) of
    their ``summary:``/``totals:`` figure.  ``dump``: the server's PID, dumped first (callgrind
    counts from zero again after a dump, so counts between dumps add up)."""
    if dump:
        subprocess.run(["callgrind_control", "-d", str(dump)], check=True, capture_output=True)
    total = 0
    directory, base = os.path.split(out_prefix)
    for name in os.listdir(directory):
        if not name.startswith(base):
            continue
        with open(os.path.join(directory, name)) as f:
            # (a file has both lines; one of them may say 0)
            total += max((int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:"))),
                         default=0)
    return total


async def run(kubeconfig: str, pid: int, n: int, m: int, concurrency: int, out: str) -> dict[str, Any]:
    """N static pairs, then M provisioned claims, each counted on its own (callgrind dumps between)."""
    await ready(kubeconfig)
    res: dict[str, Any] = {}
    async with session(kubeconfig, concurrency) as http:
        for label, count in (("static", n), ("dynamic", m)):
            if not count:
                continue
            ns = f"bench-{label}"
            rv = await bind.namespace(http, ns)
            items = bind.static_items(ns, count) if label == "static" else bind.dynamic_items(ns, count)
            await asyncio.sleep(3)      # (the controllers' start-up work, or the trailing writes, done)
            before = instructions(out, dump=pid)
            callgrind_control(pid, True)
            got = await bind.measure(http, ns, rv, items, count, concurrency, label)
            callgrind_control(pid, False)
            total = instructions(out, dump=pid) - before
            res.update({f"{label}_all_bound_s_under_callgrind": got[f"{label}_all_bound_s"],
                        f"{label}_writes_per_claim": got[f"{label}_writes_per_claim"],
                        f"{label}_instructions": total,
                        f"instr_per_{'pair' if label == 'static' else 'provisioned_claim'}": round(total / count)})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="static PV/PVC pairs")
    ap.add_argument("-m", type=int, default=0, help="then: claims provisioned on the default class")
    ap.add_argument("-c", "--concurrency", type=int, default=64)
    ap.add_argument("--resync", action="store_true", help="keep the PV controller's 15-s resync on")
    add_event_loop_option(ap)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="orlop-bench-instr-")
    out = os.path.join(tmp, "callgrind.out")
    server = ("-m", "orlop.cli", "up") if args.resync else ("-c", NO_RESYNC, "up")
    command = ("--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable, *server)
    with serving(tmp, "--runtime", "none", "--event-loop", args.event_loop, command=command, python="valgrind",
                 stop_timeout=300) as (proc, kc):
        res = asyncio.run(run(kc, proc.pid, args.n, args.m, args.concurrency, out))
    report({"pairs": args.n, "dynamic_claims": args.m, "resync": args.resync, "event_loop": args.event_loop,
            "compiled": compiled(), **res})


if __name__ == "__main__":
    main()
