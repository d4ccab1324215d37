"""Admission plugins, through the registry over a real SQLite store."""

from __future__ import annotations

import pytest

from orlop.errors import StatusError
from orlop.registry.core import Registry, WriteOptions
from orlop.registry.resources import by_kind
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

PVC = by_kind("", "PersistentVolumeClaim")
PV = by_kind("", "PersistentVolume")
SC = by_kind("storage.k8s.io", "StorageClass")
SVC = by_kind("", "Service")
NS = by_kind("", "Namespace")
DEFAULT = "storageclass.kubernetes.io/is-default-class"


@pytest.fixture
async def reg(tmp_path):
    store = SQLiteStore(str(tmp_path / "db.sqlite"))
    r = Registry(store)
    await bootstrap(r)
    yield r
    await store.close()


def pvc(name: str, **spec_extra) -> dict:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec_extra}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def sc(name: str, default: str | None = None, beta: bool = False, created: str = "") -> dict:
    ann = {}
    if default is not None:
        ann["storageclass.beta.kubernetes.io/is-default-class" if beta else DEFAULT] = default
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name, "annotations": ann}, "provisioner": "orlop.io/local-path"}


async def create(reg, res, obj, ns=None):
    return await reg.create(res, ns, obj, WriteOptions())


@pytest.mark.parametrize("classes, claim_extra, annotations, want", [
    ([], {}, {}, None),                                                       # no default: stays unset
    ([("gold", "true", False)], {}, {}, "gold"),                             # the default is assigned
    ([("gold", "true", True)], {}, {}, "gold"),                              # beta annotation form
    ([("gold", "false", False)], {}, {}, None),                              # "false" is not default
    ([("gold", "true", False)], {"storageClassName": ""}, {}, ""),           # "" means no class: kept
    ([("gold", "true", False)], {"storageClassName": "slow"}, {}, "slow"),   # explicit class kept
    ([("gold", "true", False)], {}, {"volume.beta.kubernetes.io/storage-class": "glusterfs"}, None),  # seed 001
])
async def test_default_storage_class_on_claim_create(reg, classes, claim_extra, annotations, want):
    for name, default, beta in classes:
        await create(reg, SC, sc(name, default, beta))
    claim = pvc("c", **claim_extra)
    claim["metadata"]["annotations"] = annotations
    out = await create(reg, PVC, claim, "default")
    assert out["spec"].get("storageClassName") == want


async def test_newest_default_class_wins_and_ties_go_by_name(reg):
    await create(reg, SC, sc("b-old", "true"))
    # Same second: the name decides; a newer one would win over both.
    await create(reg, SC, sc("a-old", "true"))
    out = await create(reg, PVC, pvc("c1"), "default")
    assert out["spec"]["storageClassName"] in ("a-old", "b-old")
    from orlop.admission import default_class
    classes = [{"metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z", "annotations": {DEFAULT: "true"}}},
               {"metadata": {"name": "y", "creationTimestamp": "2026-01-02T00:00:00Z", "annotations": {DEFAULT: "true"}}},
               {"metadata": {"name": "a", "creationTimestamp": "2026-01-02T00:00:00Z", "annotations": {DEFAULT: "true"}}}]
    assert default_class(classes)["metadata"]["name"] == "a"


async def test_protection_finalizers_on_create(reg):
    claim = await create(reg, PVC, pvc("c"), "default")
    assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    vol = await create(reg, PV, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"},
                                 "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                          "hostPath": {"path": "/tmp/v"}}})
    assert vol["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]


async def test_service_cluster_ip_and_node_ports_are_allocated_uniquely(reg):
    ips, ports = set(), set()
    for i in range(20):
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"},
               "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
        out = await create(reg, SVC, svc, "default")
        ip = out["spec"]["clusterIP"]
        assert out["spec"]["clusterIPs"] == [ip] and ip.startswith("10.")
        ips.add(ip)
        ports.add(out["spec"]["ports"][0]["nodePort"])
    assert len(ips) == 20 and len(ports) == 20 and all(30000 <= p <= 32767 for p in ports)
    headless = await create(reg, SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "h"},
                                       "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}, "default")
    assert headless["spec"]["clusterIP"] == "None"
    taken = next(iter(ips))
    with pytest.raises(StatusError) as e:
        await create(reg, SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup"},
                                "spec": {"clusterIP": taken, "ports": [{"port": 80}]}}, "default")
    assert e.value.code == 422 and "already allocated" in e.value.message


async def test_namespace_lifecycle(reg):
    with pytest.raises(StatusError) as e:
        await create(reg, PVC, pvc("c"), "nope")
    assert e.value.code == 404 and e.value.message == 'namespaces "nope" not found'
    with pytest.raises(StatusError) as e:
        from orlop.registry.core import DeleteOptions
        await reg.delete(NS, None, "default", DeleteOptions())
    assert e.value.code == 403
    await create(reg, NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "going"}})
    from orlop.registry.core import DeleteOptions
    gone, done = await reg.delete(NS, None, "going", DeleteOptions())
    assert not done and gone["status"]["phase"] == "Terminating"
    with pytest.raises(StatusError) as e:
        await create(reg, PVC, pvc("c"), "going")
    assert e.value.code == 403 and "being terminated" in e.value.message


class _Untouchable:
    """An admission View that fails the test if a plugin reads anything."""

    async def get(self, *a, **kw):
        raise AssertionError(f"read {a}")

    async def list(self, *a, **kw):
        raise AssertionError(f"listed {a}")


@pytest.mark.parametrize("op", ["CREATE", "UPDATE", "DELETE"])
@pytest.mark.parametrize("res", [PVC, PV, SC, SVC, NS, by_kind("", "Pod"), by_kind("", "Event")],
                         ids=lambda r: r.kind)
async def test_a_plugin_not_concerned_by_a_write_would_do_nothing_with_it(op, res):
    """The registry asks only the plugins whose declared ops and kinds cover a write; those it
    skips must be the ones that would have done nothing (no change, no read, no refusal)."""
    import copy

    from orlop import admission
    obj = {"apiVersion": res.group_version, "kind": res.kind,
           "metadata": {"name": "default", "namespace": "default" if res.namespaced else None},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}},
                    "type": "NodePort", "ports": [{"port": 80}]}}
    old = copy.deepcopy(obj)
    old["spec"]["resources"]["requests"]["storage"] = "1Gi"
    for plugin in admission.default_chain():
        if admission.concerns(plugin, op, res):
            continue
        before = copy.deepcopy(obj)
        await plugin.admit(op, res, obj, old if op != "CREATE" else None, _Untouchable())
        assert obj == before, type(plugin).__name__


async def test_a_plugin_that_declares_nothing_is_asked_about_every_write(tmp_path):
    seen: list[tuple[str, str]] = []

    class Recorder:
        async def admit(self, op, res, obj, old, view):
            seen.append((op, res.kind))

    store = SQLiteStore(str(tmp_path / "db.sqlite"))
    try:
        r = Registry(store, plugins=[Recorder()])
        created = await r.create(PV, None, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "a"},
                                            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                                     "hostPath": {"path": "/tmp/a"}}}, WriteOptions())
        created["metadata"]["labels"] = {"x": "y"}
        await r.update(PV, None, "a", created, WriteOptions())
        assert seen == [("CREATE", "PersistentVolume"), ("UPDATE", "PersistentVolume")]
    finally:
        await store.close()
