"""The official ``kubernetes`` Python client (37.x) against a running orlop."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(orlop):
    cfg = client.Configuration()
    config.load_kube_config(config_file=orlop.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def ns(api):
    name = f"py-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api).delete_namespace(name)


def pvc_body(name: str, size: str = "1Gi") -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "labels": {"app": "py"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                     "resources": {"requests": {"storage": size}}}}


def test_pvc_create_list_get_patch_delete(api, ns):
    core = client.CoreV1Api(api)
    created = core.create_namespaced_persistent_volume_claim(ns, pvc_body("data"))
    assert created.metadata.uid and created.status.phase == "Pending"
    assert created.spec.volume_mode == "Filesystem"
    with pytest.raises(ApiException) as e:
        core.create_namespaced_persistent_volume_claim(ns, pvc_body("data"))
    assert e.value.status == 409 and '"reason":"AlreadyExists"' in e.value.body.replace(" ", "")

    listed = core.list_namespaced_persistent_volume_claim(ns, label_selector="app=py")
    assert [p.metadata.name for p in listed.items] == ["data"]
    everywhere = core.list_persistent_volume_claim_for_all_namespaces(label_selector="app=py")
    assert ns in {p.metadata.namespace for p in everywhere.items}

    # dict -> strategic merge patch
    patched = core.patch_namespaced_persistent_volume_claim("data", ns, {"metadata": {"labels": {"tier": "db"}}})
    assert patched.metadata.labels == {"app": "py", "tier": "db"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    # list -> JSON patch
    patched = core.patch_namespaced_persistent_volume_claim(
        "data", ns, [{"op": "remove", "path": "/metadata/labels/tier"}])
    assert patched.metadata.labels == {"app": "py"}
    # server-side apply
    applied = core.patch_namespaced_persistent_volume_claim(
        "data", ns, {**pvc_body("data"), "metadata": {"name": "data", "annotations": {"owner": "py"}}},
        field_manager="py-apply", _content_type="application/apply-patch+yaml")
    assert applied.metadata.annotations["owner"] == "py"
    assert any(m.manager == "py-apply" and m.operation == "Apply" for m in applied.metadata.managed_fields)

    status = core.read_namespaced_persistent_volume_claim_status("data", ns)
    assert status.status.phase == "Pending"

    deleted = core.delete_namespaced_persistent_volume_claim("data", ns)
    assert deleted.metadata.name == "data"          # typed V1PersistentVolumeClaim, not a Status
    # kubernetes.io/pvc-protection holds it until the protection controller sees no pod uses it.
    deadline = time.monotonic() + 20
    while True:
        try:
            core.read_namespaced_persistent_volume_claim("data", ns)
        except ApiException as e:
            assert e.status == 404
            break
        assert time.monotonic() < deadline, "the claim was not removed"
        time.sleep(0.1)


def test_watch_sees_added_modified_deleted(api, ns):
    core = client.CoreV1Api(api)
    events: list[tuple[str, str]] = []
    w = watch.Watch()

    def run() -> None:
        for ev in w.stream(core.list_namespaced_persistent_volume_claim, ns,
                           field_selector="metadata.name=watched", timeout_seconds=10):
            events.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    core.create_namespaced_persistent_volume_claim(ns, pvc_body("watched"))
    core.create_namespaced_persistent_volume_claim(ns, pvc_body("other"))
    core.patch_namespaced_persistent_volume_claim("watched", ns, {"metadata": {"labels": {"x": "1"}}})
    core.delete_namespaced_persistent_volume_claim("watched", ns)
    t.join(15)
    # The pvc-protection finalizer makes the delete a MODIFIED (deletionTimestamp) then a DELETED,
    # as in Kubernetes; the controller may add MODIFIED events of its own in between.
    assert events[0] == ("ADDED", "watched") and events[-1] == ("DELETED", "watched")
    assert {e for e in events[1:-1]} == {("MODIFIED", "watched")} and len(events) >= 3


def test_statefulset_scale(api, ns):
    apps = client.AppsV1Api(api)
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
           "spec": {"serviceName": "nginx", "replicas": 1, "selector": {"matchLabels": {"app": "nginx"}},
                    "template": {"metadata": {"labels": {"app": "nginx"}},
                                 "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
    apps.create_namespaced_stateful_set(ns, sts)
    scale = apps.read_namespaced_stateful_set_scale("web", ns)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=nginx"
    scale = apps.patch_namespaced_stateful_set_scale("web", ns, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    assert apps.read_namespaced_stateful_set("web", ns).spec.replicas == 3
    # The StatefulSet controller writes status meanwhile: a replace carries the resourceVersion it read.
    for _ in range(20):
        scale = apps.read_namespaced_stateful_set_scale("web", ns)
        scale.spec.replicas = 2
        try:
            scale = apps.replace_namespaced_stateful_set_scale("web", ns, scale)
            break
        except ApiException as e:
            assert e.status == 409
    assert scale.spec.replicas == 2
    stale = apps.read_namespaced_stateful_set_scale("web", ns)
    apps.patch_namespaced_stateful_set_scale("web", ns, {"spec": {"replicas": 4}})
    with pytest.raises(ApiException) as e:
        apps.replace_namespaced_stateful_set_scale("web", ns, stale)   # stale resourceVersion
    assert e.value.status == 409
    with pytest.raises(ApiException) as e:
        apps.patch_namespaced_stateful_set_scale("web", ns, {"spec": {"replicas": -1}})
    assert e.value.status == 422
    apps.delete_namespaced_stateful_set("web", ns)


def test_dynamic_client_uses_legacy_discovery(api, ns):
    from kubernetes.dynamic import DynamicClient
    dyn = DynamicClient(api)
    pvcs = dyn.resources.get(api_version="v1", kind="PersistentVolumeClaim")
    pvcs.create(body=pvc_body("dyn"), namespace=ns)
    got = pvcs.get(name="dyn", namespace=ns)
    assert got.spec.resources.requests.storage == "1Gi"
    sts = dyn.resources.get(api_version="apps/v1", kind="StatefulSet")
    assert sts.namespaced and "scale" in sts.subresources
