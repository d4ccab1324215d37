"""The Kubernetes REST protocol of a real ``orlop up``, checked with plain HTTPS requests.

Why this exists: kubectl and the Python client exercise the protocol only as far as their
own code paths go.  These tests pin the parts of kube-apiserver's behaviour that clients
(client-go informers, kopf, kr8s, dashboards) rely on but the kubectl tests do not reach:
discovery documents and their content types, OpenAPI v3, paging, watch framing and
resume, bookmarks, Table output, no-op writes, dry runs, generateName, delete responses,
finalizers, garbage-collection policies, deletecollection, the status subresource, and
that a restarted (or killed) server keeps every acknowledged write.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import Orlop

pytestmark = pytest.mark.e2e

JSON = "application/json"
PATCH_MERGE = "application/merge-patch+json"
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBECTL_DISCOVERY_ACCEPT = f"{AGG_V2},{AGG_V2BETA1},application/json"
TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                "application/json")


# --------------------------------------------------------------------------- client
class Api:
    """Plain HTTPS requests with the bearer token."""

    def __init__(self, o: Orlop):
        self.base = o.url
        self.s = requests.Session()
        self.s.trust_env = False    # REQUESTS_CA_BUNDLE in the environment would override verify=
        self.s.verify = os.path.join(o.data_dir, "pki", "ca.crt")
        self.s.headers["Authorization"] = f"Bearer {o.token()}"

    def request(self, method: str, path: str, body: Any = None, ctype: str = JSON,
                params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                **kw: Any) -> requests.Response:
        data = None if body is None else json.dumps(body).encode()
        h = dict(headers or {})
        if data is not None:
            h["Content-Type"] = ctype
        kw.setdefault("timeout", 30)
        return self.s.request(method, self.base + path, data=data, params=params, headers=h, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def ok(self, method: str, path: str, body: Any = None, ctype: str = JSON, expect: int | None = None,
           **kw: Any) -> dict[str, Any]:
        r = self.request(method, path, body, ctype, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text[:2000]}"
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text[:500]}"
        out: dict[str, Any] = r.json()
        return out

    def absent(self, path: str) -> bool:
        r = self.get(path)
        assert r.status_code in (200, 404), r.text
        return r.status_code == 404


class Watch:
    """A watch stream read line by line on a thread; events arrive on a queue as they are flushed."""

    def __init__(self, api: Api, path: str, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None):
        self.started = time.time()
        self.r = api.get(path, params={"watch": "true", **(params or {})}, headers=headers, stream=True,
                         timeout=(10, 120))
        assert self.r.status_code == 200, self.r.text
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.raw_lines: list[bytes] = []
        self.ended_at: float | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.r.iter_lines():
                if not line:
                    continue
                self.raw_lines.append(line)
                self.events.put(json.loads(line))
        except (requests.RequestException, AttributeError, ValueError, OSError):
            pass
        finally:
            self.ended_at = time.time()
            self.events.put(None)

    def next(self, timeout: float = 10) -> dict[str, Any]:
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no watch event within {timeout}s") from None
        assert ev is not None, "the watch stream ended"
        return ev

    def next_change(self, timeout: float = 10) -> dict[str, Any]:
        """The next event that is not a BOOKMARK."""
        deadline = time.time() + timeout
        while True:
            ev = self.next(max(0.1, deadline - time.time()))
            if ev["type"] != "BOOKMARK":
                return ev

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within ``seconds`` (the stream may also end)."""
        out = []
        deadline = time.time() + seconds
        while (left := deadline - time.time()) > 0:
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                break
            if ev is None:
                break
            out.append(ev)
        return out

    def close(self) -> None:
        # Response.close() blocks while the reader thread sits in a TLS read: shut the socket down first.
        sock = getattr(getattr(self.r.raw, "connection", None), "sock", None)
        if sock is not None and self.thread.is_alive():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=5)
        self.r.close()


@pytest.fixture(scope="module")
def api(orlop: Orlop) -> Api:
    return Api(orlop)


@pytest.fixture
def ns(api: Api) -> Iterator[str]:
    name = f"http-{uuid.uuid4().hex[:8]}"
    api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    api.request("DELETE", f"/api/v1/namespaces/{name}")


def cm(name: str, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    meta.update(extra.pop("metadata", {}))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}, **extra}


def pvc(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, **meta},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "http-none",
                     "resources": {"requests": {"storage": "1Gi"}}}}


def statefulset(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": 0, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0, every: float = 0.2) -> None:
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def cms(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


# --------------------------------------------------------------------------- version and health
def test_version_and_health_need_no_token(orlop: Orlop) -> None:
    anonymous = requests.Session()
    anonymous.trust_env = False
    anonymous.verify = os.path.join(orlop.data_dir, "pki", "ca.crt")
    for path in ("/version", "/version/"):
        r = anonymous.get(orlop.url + path, timeout=10)
        assert r.status_code == 200, (path, r.text)
        v = r.json()
        assert v["major"] == "1" and v["minor"] == "32", v
        assert v["gitVersion"].startswith("v1.32."), v
        assert {"gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"} <= set(v)
    for path in ("/healthz", "/livez", "/readyz"):
        r = anonymous.get(orlop.url + path, timeout=10)
        assert r.status_code == 200 and r.text == "ok", (path, r.status_code, r.text)
    r = anonymous.get(orlop.url + "/api/v1/namespaces", timeout=10)
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"


# --------------------------------------------------------------------------- discovery
def _statefulsets_entry(doc: dict[str, Any]) -> dict[str, Any]:
    for group in doc["items"]:
        if group["metadata"]["name"] != "apps":
            continue
        for version in group["versions"]:
            if version["version"] == "v1":
                for res in version["resources"]:
                    if res["resource"] == "statefulsets":
                        return dict(res)
    raise AssertionError("apps/v1 statefulsets missing from aggregated discovery")


@pytest.mark.parametrize("accept,ctype,version", [
    (AGG_V2, AGG_V2, "v2"),
    (AGG_V2BETA1, AGG_V2BETA1, "v2beta1"),
    (KUBECTL_DISCOVERY_ACCEPT, AGG_V2, "v2"),
])
def test_aggregated_discovery_echoes_its_content_type(api: Api, accept: str, ctype: str, version: str) -> None:
    apis = api.get("/apis", headers={"Accept": accept})
    assert apis.status_code == 200
    assert apis.headers["Content-Type"] == ctype
    doc = apis.json()
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    groups = {g["metadata"]["name"] for g in doc["items"]}
    assert {"apps", "storage.k8s.io"} <= groups
    sts = _statefulsets_entry(doc)
    assert sts["scope"] == "Namespaced" and sts["responseKind"] == {"group": "apps", "version": "v1",
                                                                     "kind": "StatefulSet"}
    subs = {s["subresource"]: s for s in sts["subresources"]}
    assert subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert subs["status"]["responseKind"]["kind"] == "StatefulSet"

    core = api.get("/api", headers={"Accept": accept})
    assert core.headers["Content-Type"] == ctype
    core_doc = core.json()
    assert [g["metadata"].get("name", "") for g in core_doc["items"]] == [""]
    v1 = core_doc["items"][0]["versions"][0]
    assert v1["version"] == "v1"
    by_name = {r["resource"]: r for r in v1["resources"]}
    assert by_name["persistentvolumeclaims"]["scope"] == "Namespaced"
    assert by_name["persistentvolumes"]["scope"] == "Cluster"
    assert "pvc" in by_name["persistentvolumeclaims"].get("shortNames", [])


def test_legacy_discovery_with_and_without_trailing_slash(api: Api) -> None:
    for path in ("/api", "/api/"):
        doc = api.ok("GET", path)
        assert doc["kind"] == "APIVersions" and doc["versions"] == ["v1"], doc
        assert doc["serverAddressByClientCIDRs"], doc
    for path in ("/apis", "/apis/"):
        doc = api.ok("GET", path)
        assert doc["kind"] == "APIGroupList", doc
        apps = next(g for g in doc["groups"] if g["name"] == "apps")
        assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    for path in ("/apis/apps", "/apis/apps/"):
        doc = api.ok("GET", path)
        assert doc["kind"] == "APIGroup" and doc["name"] == "apps", doc
    for path in ("/api/v1", "/api/v1/"):
        doc = api.ok("GET", path)
        assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1", doc
        names = {r["name"]: r for r in doc["resources"]}
        assert names["persistentvolumeclaims"]["namespaced"] is True
        assert names["persistentvolumeclaims"]["kind"] == "PersistentVolumeClaim"
        assert "persistentvolumeclaims/status" in names
        assert names["persistentvolumes"]["namespaced"] is False
    for path in ("/apis/apps/v1", "/apis/apps/v1/"):
        doc = api.ok("GET", path)
        names = {r["name"]: r for r in doc["resources"]}
        scale = names["statefulsets/scale"]
        assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale"), scale
        assert set(scale["verbs"]) == {"get", "patch", "update"}
        assert names["statefulsets"]["shortNames"] == ["sts"]
    doc = api.ok("GET", "/apis/storage.k8s.io/v1/")
    assert any(r["name"] == "storageclasses" and r["namespaced"] is False for r in doc["resources"])


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    out: Any = doc
    for part in ref.lstrip("#/").split("/"):
        out = out[part]
    return dict(out)


def test_openapi_v3_index_and_documents(api: Api) -> None:
    index = api.ok("GET", "/openapi/v3")
    paths = index["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/storage.k8s.io/v1"} <= set(paths)
    url = paths["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash="), url
    doc = api.ok("GET", url)
    assert doc["openapi"].startswith("3."), doc.get("openapi")
    assert "io.k8s.api.core.v1.PersistentVolumeClaim" in doc["components"]["schemas"]
    item = doc["paths"]["/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1",
                                                        "kind": "PersistentVolumeClaim"}
    params = [_resolve(doc, p) for p in patch.get("parameters", []) + item.get("parameters", [])]
    assert any(p.get("name") == "fieldValidation" and p.get("in") == "query" for p in params), params
    apps = api.ok("GET", paths["apis/apps/v1"]["serverRelativeURL"])
    scale = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}/scale"]["put"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


# --------------------------------------------------------------------------- paging
def _page_through(api: Api, path: str, limit: int, params: dict[str, str] | None = None
                  ) -> list[dict[str, Any]]:
    pages = []
    cont = ""
    while True:
        q = {"limit": str(limit), **(params or {})}
        if cont:
            q["continue"] = cont
        page = api.ok("GET", path, params=q)
        pages.append(page)
        cont = page["metadata"].get("continue", "")
        if not cont:
            return pages
        assert len(pages) < 50, "paging never ended"


def test_list_pages_have_no_duplicates_and_no_gaps(api: Api, ns: str) -> None:
    names = [f"item-{i:02d}" for i in range(7)]
    for n in names:
        api.ok("POST", cms(ns), cm(n))
    pages = _page_through(api, cms(ns), 3)
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [4, 1, None]
    seen = [i["metadata"]["name"] for p in pages for i in p["items"]]
    assert seen == names                          # key order, each exactly once
    assert all(p["kind"] == "ConfigMapList" for p in pages)


def test_list_pages_are_one_consistent_snapshot(api: Api, ns: str) -> None:
    # Kubernetes serves continued pages at the first page's resourceVersion: later writes are not seen.
    for i in range(4):
        api.ok("POST", cms(ns), cm(f"snap-{i}"))
    first = api.ok("GET", cms(ns), params={"limit": "2"})
    api.ok("POST", cms(ns), cm("snap-9"))                        # sorts after every page boundary
    api.ok("DELETE", f"{cms(ns)}/snap-3")
    rest = api.ok("GET", cms(ns), params={"limit": "10", "continue": first["metadata"]["continue"]})
    assert [i["metadata"]["name"] for i in rest["items"]] == ["snap-2", "snap-3"]
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_remaining_item_count_only_without_selectors(api: Api, ns: str) -> None:
    for i in range(4):
        api.ok("POST", cms(ns), cm(f"sel-{i}", {"pick": "yes"}))
    page = api.ok("GET", cms(ns), params={"limit": "1", "labelSelector": "pick=yes"})
    assert len(page["items"]) == 1 and page["metadata"].get("continue")
    assert "remainingItemCount" not in page["metadata"]
    pages = _page_through(api, cms(ns), 1, {"labelSelector": "pick=yes"})
    assert [i["metadata"]["name"] for p in pages for i in p["items"]] == [f"sel-{i}" for i in range(4)]


# --------------------------------------------------------------------------- watch
def test_watch_framing_and_event_types(api: Api, ns: str) -> None:
    rv = api.ok("GET", cms(ns))["metadata"]["resourceVersion"]
    w = Watch(api, cms(ns), {"resourceVersion": rv})
    try:
        assert w.r.headers["Content-Type"].startswith("application/json")
        assert w.r.headers.get("Transfer-Encoding") == "chunked"
        created = api.ok("POST", cms(ns), cm("w1"))
        t0 = time.time()
        ev = w.next_change()
        assert time.time() - t0 < 2, "the event was not flushed promptly"
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "w1"
        assert ev["object"]["kind"] == "ConfigMap" and ev["object"]["apiVersion"] == "v1"
        assert ev["object"]["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        modified = api.ok("PATCH", f"{cms(ns)}/w1", {"data": {"k": "v2"}}, PATCH_MERGE)
        ev = w.next_change()
        assert ev["type"] == "MODIFIED" and ev["object"]["data"] == {"k": "v2"}
        assert ev["object"]["metadata"]["resourceVersion"] == modified["metadata"]["resourceVersion"]
        api.ok("DELETE", f"{cms(ns)}/w1")
        ev = w.next_change()
        assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "w1"
        assert int(ev["object"]["metadata"]["resourceVersion"]) > int(modified["metadata"]["resourceVersion"])
        # newline-delimited: one complete JSON object per line, nothing else
        for line in w.raw_lines:
            obj = json.loads(line)
            assert set(obj) == {"type", "object"}, obj
    finally:
        w.close()


def test_watch_without_resource_version_starts_with_current_objects(api: Api, ns: str) -> None:
    api.ok("POST", cms(ns), cm("pre-a"))
    api.ok("POST", cms(ns), cm("pre-b"))
    w = Watch(api, cms(ns))
    try:
        first = [w.next_change(), w.next_change()]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] == [("ADDED", "pre-a"),
                                                                                  ("ADDED", "pre-b")]
    finally:
        w.close()


def test_watch_bookmarks_only_when_asked(api: Api, ns: str) -> None:
    rv = api.ok("GET", cms(ns))["metadata"]["resourceVersion"]
    with_bookmarks = Watch(api, cms(ns), {"resourceVersion": rv, "allowWatchBookmarks": "true"})
    without = Watch(api, cms(ns), {"resourceVersion": rv, "timeoutSeconds": "8"})
    try:
        ev = with_bookmarks.next(timeout=12)
        assert ev["type"] == "BOOKMARK", ev
        obj = ev["object"]
        assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1", obj
        assert int(obj["metadata"]["resourceVersion"]) >= int(rv), obj
        assert not {"data", "spec"} & set(obj), obj
        events = without.quiet(9)
        assert not [e for e in events if e["type"] == "BOOKMARK"], events
    finally:
        with_bookmarks.close()
        without.close()


def test_watch_timeout_seconds_ends_the_stream(api: Api, ns: str) -> None:
    w = Watch(api, cms(ns), {"resourceVersion": "0", "timeoutSeconds": "1"})
    try:
        w.thread.join(timeout=10)
        assert not w.thread.is_alive(), "the watch did not end after timeoutSeconds=1"
        assert w.ended_at is not None and w.ended_at - w.started < 5
    finally:
        w.close()


def test_watch_resumes_from_resource_version_without_gaps(api: Api, ns: str) -> None:
    start = api.ok("GET", cms(ns))["metadata"]["resourceVersion"]
    expected = []
    a = api.ok("POST", cms(ns), cm("ra"))
    expected.append(("ADDED", "ra", a["metadata"]["resourceVersion"]))
    a = api.ok("PATCH", f"{cms(ns)}/ra", {"data": {"k": "2"}}, PATCH_MERGE)
    expected.append(("MODIFIED", "ra", a["metadata"]["resourceVersion"]))
    b = api.ok("POST", cms(ns), cm("rb"))
    expected.append(("ADDED", "rb", b["metadata"]["resourceVersion"]))
    gone = api.ok("DELETE", f"{cms(ns)}/ra")
    assert gone["kind"] == "Status"
    b = api.ok("PATCH", f"{cms(ns)}/rb", {"data": {"k": "3"}}, PATCH_MERGE)
    expected.append(("MODIFIED", "rb", b["metadata"]["resourceVersion"]))

    w = Watch(api, cms(ns), {"resourceVersion": start})
    try:
        got = [w.next_change() for _ in range(5)]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
            ("ADDED", "ra"), ("MODIFIED", "ra"), ("ADDED", "rb"), ("DELETED", "ra"), ("MODIFIED", "rb")]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got]
        assert rvs == sorted(rvs) and len(set(rvs)) == 5
        assert [g for g in got if g["type"] != "DELETED"][0]["object"]["metadata"]["resourceVersion"] == \
            expected[0][2]
        assert w.quiet(0.5) == []                 # nothing else happened, nothing else is sent
    finally:
        w.close()

    # resume from the last event seen: exactly the writes after it
    last = got[-1]["object"]["metadata"]["resourceVersion"]
    c = api.ok("POST", cms(ns), cm("rc"))
    w = Watch(api, cms(ns), {"resourceVersion": last})
    try:
        ev = w.next_change()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "rc")
        assert ev["object"]["metadata"]["resourceVersion"] == c["metadata"]["resourceVersion"]
        assert w.quiet(0.5) == []
    finally:
        w.close()


def test_label_selector_watch_turns_relabel_into_deleted(api: Api, ns: str) -> None:
    rv = api.ok("GET", cms(ns))["metadata"]["resourceVersion"]
    w = Watch(api, cms(ns), {"resourceVersion": rv, "labelSelector": "tier=db"})
    try:
        api.ok("POST", cms(ns), cm("other", {"tier": "web"}))
        api.ok("POST", cms(ns), cm("db1", {"tier": "db"}))
        ev = w.next_change()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "db1")
        moved = api.ok("PATCH", f"{cms(ns)}/db1", {"metadata": {"labels": {"tier": "web"}}}, PATCH_MERGE)
        ev = w.next_change()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("DELETED", "db1")
        # the object as it was when it last matched, at the resourceVersion of the change
        assert ev["object"]["metadata"]["labels"] == {"tier": "db"}
        assert ev["object"]["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]
        api.ok("PATCH", f"{cms(ns)}/db1", {"metadata": {"labels": {"tier": "db"}}}, PATCH_MERGE)
        ev = w.next_change()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "db1")
        api.ok("PATCH", f"{cms(ns)}/other", {"data": {"k": "changed"}}, PATCH_MERGE)
        assert w.quiet(0.5) == []
    finally:
        w.close()


def test_field_selector_watch_on_one_name(api: Api, ns: str) -> None:
    api.ok("POST", cms(ns), cm("one"))
    api.ok("POST", cms(ns), cm("two"))
    w = Watch(api, cms(ns), {"fieldSelector": "metadata.name=two"})
    try:
        ev = w.next_change()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "two")
        api.ok("PATCH", f"{cms(ns)}/one", {"data": {"k": "1"}}, PATCH_MERGE)
        api.ok("PATCH", f"{cms(ns)}/two", {"data": {"k": "2"}}, PATCH_MERGE)
        ev = w.next_change()
        assert (ev["type"], ev["object"]["metadata"]["name"]) == ("MODIFIED", "two")
    finally:
        w.close()


# --------------------------------------------------------------------------- tables
def test_table_list_and_get(api: Api, ns: str) -> None:
    pvcs = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    api.ok("POST", pvcs, pvc("tab-a", labels={"app": "t"}))
    api.ok("POST", pvcs, pvc("tab-b"))
    table = api.ok("GET", pvcs, headers={"Accept": TABLE_ACCEPT})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1", table
    assert table["metadata"]["resourceVersion"]
    cols = table["columnDefinitions"]
    assert [c["name"] for c in cols][:8] == ["Name", "Status", "Volume", "Capacity", "Access Modes",
                                             "StorageClass", "VolumeAttributesClass", "Age"]
    assert all({"name", "type", "format", "description", "priority"} <= set(c) for c in cols), cols
    assert cols[0]["format"] == "name"
    rows = table["rows"]
    assert [r["cells"][0] for r in rows] == ["tab-a", "tab-b"]
    assert all(len(r["cells"]) == len(cols) for r in rows)
    obj = rows[0]["object"]
    assert obj["kind"] == "PartialObjectMetadata" and obj["apiVersion"] == "meta.k8s.io/v1", obj
    assert obj["metadata"]["name"] == "tab-a" and obj["metadata"]["namespace"] == ns
    assert obj["metadata"]["labels"] == {"app": "t"}
    assert "spec" not in obj

    full = api.ok("GET", pvcs, params={"includeObject": "Object"}, headers={"Accept": TABLE_ACCEPT})
    assert full["rows"][0]["object"]["kind"] == "PersistentVolumeClaim"
    assert full["rows"][0]["object"]["spec"]["storageClassName"] == "http-none"
    bare = api.ok("GET", pvcs, params={"includeObject": "None"}, headers={"Accept": TABLE_ACCEPT})
    assert all("object" not in r or r["object"] is None for r in bare["rows"]), bare["rows"]

    one = api.ok("GET", f"{pvcs}/tab-b", headers={"Accept": TABLE_ACCEPT})
    assert one["kind"] == "Table" and [r["cells"][0] for r in one["rows"]] == ["tab-b"]
    v1beta1 = api.ok("GET", pvcs, headers={"Accept": "application/json;as=Table;v=v1beta1;g=meta.k8s.io"})
    assert v1beta1["apiVersion"] == "meta.k8s.io/v1beta1"
    plain = api.ok("GET", pvcs)
    assert plain["kind"] == "PersistentVolumeClaimList"


def test_table_watch_events_carry_one_row_tables(api: Api, ns: str) -> None:
    rv = api.ok("GET", cms(ns))["metadata"]["resourceVersion"]
    w = Watch(api, cms(ns), {"resourceVersion": rv}, headers={"Accept": TABLE_ACCEPT})
    try:
        api.ok("POST", cms(ns), cm("tw"))
        ev = w.next_change()
        assert ev["type"] == "ADDED"
        table = ev["object"]
        assert table["kind"] == "Table" and [r["cells"][0] for r in table["rows"]] == ["tw"], table
        assert table["columnDefinitions"], "the first Table event must carry the columns"
    finally:
        w.close()


# --------------------------------------------------------------------------- writes
def test_noop_writes_keep_resource_version(api: Api, ns: str) -> None:
    created = api.ok("POST", cms(ns), cm("same", {"a": "b"}))
    rv = created["metadata"]["resourceVersion"]
    patched = api.ok("PATCH", f"{cms(ns)}/same", {"metadata": {"labels": {"a": "b"}}, "data": {"k": "v"}},
                     PATCH_MERGE)
    assert patched["metadata"]["resourceVersion"] == rv
    assert patched["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    put = api.ok("PUT", f"{cms(ns)}/same", created)
    assert put["metadata"]["resourceVersion"] == rv
    assert api.ok("GET", f"{cms(ns)}/same")["metadata"]["resourceVersion"] == rv
    changed = api.ok("PATCH", f"{cms(ns)}/same", {"data": {"k": "w"}}, PATCH_MERGE)
    assert int(changed["metadata"]["resourceVersion"]) > int(rv)


def test_dry_run_stores_nothing(api: Api, ns: str) -> None:
    before = api.ok("GET", cms(ns))
    made = api.ok("POST", cms(ns), cm("dry"), params={"dryRun": "All"}, expect=201)
    assert made["metadata"]["name"] == "dry" and made["metadata"].get("uid")
    assert not made["metadata"].get("resourceVersion")
    assert api.absent(f"{cms(ns)}/dry")
    assert api.ok("GET", cms(ns))["items"] == before["items"]

    real = api.ok("POST", cms(ns), cm("real"))
    patched = api.ok("PATCH", f"{cms(ns)}/real", {"data": {"k": "dry"}}, PATCH_MERGE, params={"dryRun": "All"})
    assert patched["data"] == {"k": "dry"}
    after = api.ok("GET", f"{cms(ns)}/real")
    assert after["data"] == {"k": "v"} and after["metadata"]["resourceVersion"] == real["metadata"]["resourceVersion"]
    api.ok("DELETE", f"{cms(ns)}/real", params={"dryRun": "All"})
    assert api.ok("GET", f"{cms(ns)}/real")["metadata"]["resourceVersion"] == real["metadata"]["resourceVersion"]


def test_generate_name(api: Api, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    a = api.ok("POST", cms(ns), body, expect=201)
    b = api.ok("POST", cms(ns), body, expect=201)
    for obj in (a, b):
        name = obj["metadata"]["name"]
        assert name.startswith("gen-") and len(name) == len("gen-") + 5, name
        assert obj["metadata"]["generateName"] == "gen-"
        assert api.ok("GET", f"{cms(ns)}/{name}")["metadata"]["uid"] == obj["metadata"]["uid"]
    assert a["metadata"]["name"] != b["metadata"]["name"]


@pytest.mark.parametrize("kind,path,body", [
    ("PersistentVolume", "/api/v1/persistentvolumes",
     {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "{name}"},
      "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "http-none",
               "hostPath": {"path": "/tmp/http-del"}}}),
    ("PersistentVolumeClaim", "/api/v1/namespaces/{ns}/persistentvolumeclaims", pvc("{name}")),
    ("Pod", "/api/v1/namespaces/{ns}/pods",
     {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "{name}"},
      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    ("Service", "/api/v1/namespaces/{ns}/services",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "{name}"},
      "spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}}),
    ("StorageClass", "/apis/storage.k8s.io/v1/storageclasses",
     {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "{name}"},
      "provisioner": "example.com/none"}),
    ("ConfigMap", "/api/v1/namespaces/{ns}/configmaps", cm("{name}")),
    ("Secret", "/api/v1/namespaces/{ns}/secrets",
     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "{name}"}, "data": {"k": "dmFsdWU="}}),
])
def test_delete_response_shape(api: Api, ns: str, kind: str, path: str, body: dict[str, Any]) -> None:
    name = f"del-{uuid.uuid4().hex[:6]}"
    path = path.format(ns=ns)
    body = json.loads(json.dumps(body).replace("{name}", name))
    created = api.ok("POST", path, body)
    r = api.request("DELETE", f"{path}/{name}")
    assert r.status_code == 200, r.text
    out = r.json()
    if kind in ("ConfigMap", "Secret"):
        assert out["kind"] == "Status" and out["status"] == "Success", out
        assert out["details"]["name"] == name and out["details"]["kind"] == path.rsplit("/", 1)[1]
        assert out["details"]["uid"] == created["metadata"]["uid"]
    else:
        assert out["kind"] == kind and out["metadata"]["name"] == name, out
        assert out["metadata"]["uid"] == created["metadata"]["uid"]


def test_finalizers_hold_the_object_until_removed(api: Api, ns: str) -> None:
    api.ok("POST", cms(ns), cm("held", metadata={"finalizers": ["example.com/hold"]}))
    r = api.request("DELETE", f"{cms(ns)}/held")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["kind"] == "ConfigMap", out         # not gone yet: the object, not a Status
    assert out["metadata"]["deletionTimestamp"] and out["metadata"]["finalizers"] == ["example.com/hold"]
    held = api.ok("GET", f"{cms(ns)}/held")
    assert held["metadata"]["deletionTimestamp"] == out["metadata"]["deletionTimestamp"]
    again = api.ok("DELETE", f"{cms(ns)}/held")    # deleting again changes nothing
    assert again["metadata"]["resourceVersion"] == held["metadata"]["resourceVersion"]
    more = api.request("PATCH", f"{cms(ns)}/held", {"metadata": {"finalizers": ["example.com/hold", "x.io/new"]}},
                       PATCH_MERGE)
    assert more.status_code == 422, more.text        # no new finalizers once deletion started
    assert "metadata.finalizers" in [c.get("field") for c in more.json()["details"]["causes"]]
    api.ok("PATCH", f"{cms(ns)}/held", {"metadata": {"finalizers": None}}, PATCH_MERGE)
    assert api.absent(f"{cms(ns)}/held")


def _owned(api: Api, ns: str, owner: dict[str, Any], name: str) -> dict[str, Any]:
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"]}
    return api.ok("POST", cms(ns), cm(name, metadata={"ownerReferences": [ref]}))


def test_propagation_background_deletes_dependents_after_the_owner(api: Api, ns: str) -> None:
    owner = api.ok("POST", cms(ns), cm("bg-owner"))
    for i in range(2):
        _owned(api, ns, owner, f"bg-dep-{i}")
    r = api.request("DELETE", f"{cms(ns)}/bg-owner", {"apiVersion": "v1", "kind": "DeleteOptions",
                                                        "propagationPolicy": "Background"})
    assert r.status_code == 200 and r.json()["kind"] == "Status", r.text
    assert api.absent(f"{cms(ns)}/bg-owner")
    wait_for("background deletion of dependents",
             lambda: all(api.absent(f"{cms(ns)}/bg-dep-{i}") for i in range(2)))


def test_propagation_foreground_keeps_the_owner_until_dependents_are_gone(api: Api, ns: str) -> None:
    owner = api.ok("POST", cms(ns), cm("fg-owner"))
    dep = _owned(api, ns, owner, "fg-dep")
    # a finalizer on the dependent holds it, so the owner's foreground wait is observable
    api.ok("PATCH", f"{cms(ns)}/fg-dep", {"metadata": {"finalizers": ["example.com/hold"]}}, PATCH_MERGE)
    r = api.request("DELETE", f"{cms(ns)}/fg-owner", {"apiVersion": "v1", "kind": "DeleteOptions",
                                                        "propagationPolicy": "Foreground"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["kind"] == "ConfigMap" and "foregroundDeletion" in out["metadata"]["finalizers"], out
    assert out["metadata"]["deletionTimestamp"]
    wait_for("the dependent to be deleted in foreground",
             lambda: bool(api.ok("GET", f"{cms(ns)}/fg-dep")["metadata"].get("deletionTimestamp")))
    assert not api.absent(f"{cms(ns)}/fg-owner"), "the owner went before its dependent"
    api.ok("PATCH", f"{cms(ns)}/fg-dep", {"metadata": {"finalizers": None}}, PATCH_MERGE)
    wait_for("the dependent to go", lambda: api.absent(f"{cms(ns)}/fg-dep"))
    try:
        wait_for("the owner to go after its dependents", lambda: api.absent(f"{cms(ns)}/fg-owner"))
    except AssertionError as e:
        raise AssertionError(f"{e}; owner now: {api.get(f'{cms(ns)}/fg-owner').json()['metadata']}") from None
    assert dep["metadata"]["uid"]


def test_propagation_orphan_keeps_dependents_without_owner(api: Api, ns: str) -> None:
    owner = api.ok("POST", cms(ns), cm("or-owner"))
    _owned(api, ns, owner, "or-dep")
    r = api.request("DELETE", f"{cms(ns)}/or-owner", params={"propagationPolicy": "Orphan"})
    assert r.status_code == 200, r.text
    wait_for("the orphaning owner to go", lambda: api.absent(f"{cms(ns)}/or-owner"))
    dep = api.ok("GET", f"{cms(ns)}/or-dep")
    assert not dep["metadata"].get("ownerReferences"), dep["metadata"]
    time.sleep(1.0)                                   # and the garbage collector leaves it alone
    assert not api.absent(f"{cms(ns)}/or-dep")


def test_deletecollection_with_label_selector(api: Api, ns: str) -> None:
    for i in range(3):
        api.ok("POST", cms(ns), cm(f"dc-{i}", {"sweep": "yes"}))
    api.ok("POST", cms(ns), cm("dc-keep", {"sweep": "no"}))
    out = api.ok("DELETE", cms(ns), params={"labelSelector": "sweep=yes"})
    assert out["kind"] == "ConfigMapList", out
    assert sorted(i["metadata"]["name"] for i in out["items"]) == ["dc-0", "dc-1", "dc-2"]
    left = api.ok("GET", cms(ns))
    assert [i["metadata"]["name"] for i in left["items"]] == ["dc-keep"]


# --------------------------------------------------------------------------- status subresource
def test_status_subresource_splits_spec_and_status(api: Api, ns: str) -> None:
    pvcs = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    obj = api.ok("POST", pvcs, pvc("split"))
    assert obj["status"]["phase"] == "Pending"

    main = json.loads(json.dumps(obj))
    main["metadata"]["labels"] = {"via": "main"}
    main["status"] = {"phase": "Lost"}
    after_main = api.ok("PUT", f"{pvcs}/split", main)
    assert after_main["metadata"]["labels"] == {"via": "main"}
    assert after_main["status"]["phase"] == "Pending", "a write to the main resource changed status"

    status = json.loads(json.dumps(after_main))
    status["spec"]["resources"]["requests"]["storage"] = "9Gi"
    status["status"] = {"phase": "Lost"}
    after_status = api.ok("PUT", f"{pvcs}/split/status", status)
    assert after_status["status"]["phase"] == "Lost"
    assert after_status["spec"]["resources"]["requests"]["storage"] == "1Gi", "a /status write changed spec"

    patched = api.ok("PATCH", f"{pvcs}/split/status", {"spec": {"volumeName": "x"}, "status": {"phase": "Pending"}},
                     PATCH_MERGE)
    assert patched["status"]["phase"] == "Pending" and not patched["spec"].get("volumeName")
    stored = api.ok("GET", f"{pvcs}/split")
    assert stored["spec"] == obj["spec"] and stored["status"]["phase"] == "Pending"


def test_status_writes_do_not_bump_generation(api: Api, ns: str) -> None:
    stss = f"/apis/apps/v1/namespaces/{ns}/statefulsets"
    obj = api.ok("POST", stss, statefulset("gen"))
    assert obj["metadata"]["generation"] == 1
    st = api.ok("PATCH", f"{stss}/gen/status", {"status": {"replicas": 0, "observedGeneration": 1}}, PATCH_MERGE)
    assert st["metadata"]["generation"] == 1 and st["status"]["observedGeneration"] == 1
    spec = api.ok("PATCH", f"{stss}/gen", {"spec": {"replicas": 2}, "status": {"observedGeneration": 7}},
                  PATCH_MERGE)
    assert spec["metadata"]["generation"] == 2 and spec["status"]["observedGeneration"] == 1
    scale = api.ok("GET", f"{stss}/gen/scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1" and scale["spec"]["replicas"] == 2


# --------------------------------------------------------------------------- restarts
def _ca(o: Orlop) -> bytes:
    with open(os.path.join(o.data_dir, "pki", "ca.crt"), "rb") as f:
        return f.read()


def test_second_start_on_the_same_data_dir_resumes(fresh_orlop: Orlop) -> None:
    api = Api(fresh_orlop)
    api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "keep"}})
    claim = api.ok("POST", "/api/v1/namespaces/keep/persistentvolumeclaims", pvc("data"))
    conf = api.ok("POST", cms("keep"), cm("conf"))
    token, ca = fresh_orlop.token(), _ca(fresh_orlop)
    last_rv = int(conf["metadata"]["resourceVersion"])

    fresh_orlop.stop()
    fresh_orlop.start()
    assert fresh_orlop.token() == token, "a restart changed the token"
    assert _ca(fresh_orlop) == ca, "a restart changed the CA"
    api = Api(fresh_orlop)
    for path, before in (("/api/v1/namespaces/keep/persistentvolumeclaims/data", claim),
                         (f"{cms('keep')}/conf", conf)):
        now = api.ok("GET", path)
        assert now["metadata"]["uid"] == before["metadata"]["uid"]
        assert now["spec" if "spec" in before else "data"] == before["spec" if "spec" in before else "data"]
    assert int(api.ok("GET", cms("keep"))["metadata"]["resourceVersion"]) >= last_rv
    new = api.ok("POST", cms("keep"), cm("after"))
    assert int(new["metadata"]["resourceVersion"]) > last_rv, "revisions went backwards after a restart"
    names = {n["metadata"]["name"] for n in api.ok("GET", "/api/v1/namespaces")["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease", "keep"} <= names


def test_kill_9_right_after_acknowledged_writes_loses_nothing(fresh_orlop: Orlop) -> None:
    api = Api(fresh_orlop)
    acked: dict[str, dict[str, Any]] = {}
    for i in range(25):
        obj = api.ok("POST", cms("default"), cm(f"k9-{i:02d}"), expect=201)
        acked[obj["metadata"]["name"]] = obj
    last = api.ok("PATCH", f"{cms('default')}/k9-00", {"data": {"k": "final"}}, PATCH_MERGE)
    acked["k9-00"] = last
    fresh_orlop.stop(signal.SIGKILL)
    fresh_orlop.start()
    api = Api(fresh_orlop)
    for name, obj in acked.items():
        now = api.ok("GET", f"{cms('default')}/{name}")
        assert now["metadata"]["uid"] == obj["metadata"]["uid"], name
        assert now["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], name
        assert now["data"] == obj["data"], name
    after = api.ok("POST", cms("default"), cm("k9-after"))
    assert int(after["metadata"]["resourceVersion"]) > int(last["metadata"]["resourceVersion"])
