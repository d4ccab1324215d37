"""Helpers shared by the kubectl-driven end-to-end tests: names, namespaces, and reading kubectl's output."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_namespace(o: Any, name: str) -> None:
    """A namespace from a manifest.  (`kubectl create namespace` sends a protobuf body; that path is
    tested on its own in test_kubectl.py, so a gap there does not hide every other result.)"""
    o.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name}}))


def parse_table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """kubectl's column output: header names and rows cut at the header's column starts
    (tabwriter pads columns by at least 3 spaces, so blank cells keep their place)."""
    lines = [line for line in text.splitlines() if line.strip()]
    cols = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    rows = []
    for line in lines[1:]:
        row = {}
        for i, (start, name) in enumerate(cols):
            end = cols[i + 1][0] if i + 1 < len(cols) else None
            row[name] = line[start:end].strip()
        rows.append(row)
    return [name for _, name in cols], rows


def field_value(text: str, key: str) -> str | None:
    """Value of a ``Key:   value`` line of kubectl describe (first match, any indentation)."""
    m = re.search(rf"^\s*{re.escape(key)}:[ \t]*(.*?)[ \t]*$", text, re.M)
    return m.group(1) if m else None


def get_json(o: Any, *args: str) -> dict[str, Any]:
    return json.loads(o.kubectl("get", *args, "-o", "json").stdout)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_pod_ready(o: Any, ns: str | None, pod: str, timeout: int = 90) -> None:
    """``kubectl wait --for=condition=Ready``; on a timeout the assertion carries ``kubectl describe pod``
    (conditions, container states and the pod's events: FailedMount and the like say why), so a
    failure seen once in CI can be understood from its log."""
    where = ["-n", ns] if ns else []
    cp = o.kubectl("wait", "--for=condition=Ready", f"pod/{pod}", *where, f"--timeout={timeout}s",
                   timeout=timeout + 10, check=False)
    if cp.returncode != 0:
        desc = o.kubectl("describe", "pod", pod, *where, check=False, timeout=30)
        raise AssertionError(f"pod {ns or 'default'}/{pod} not Ready within {timeout}s: {cp.stderr.strip()}\n"
                             f"--- kubectl describe pod {pod}:\n{desc.stdout}{desc.stderr}")
