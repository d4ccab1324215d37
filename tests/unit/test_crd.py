"""The custom resource kinds (snapshot.storage.k8s.io/v1, orlop.io/v1alpha1) as the registry serves them.

Their CRDs (orlop/registry/crds/*.yaml) decide the schema, defaults, validation (structural and
CEL, with apiextensions-apiserver's messages), printer columns and OpenAPI; the registry's REST
rules for custom resources (status subresource, no strategic merge patch, group-qualified
errors) apply.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

import orjson
import pytest

from orlop.errors import StatusError
from orlop.registry import crd, crdvalidation, resources, schema
from orlop.registry.core import PATCH_MERGE, PATCH_STRATEGIC, Registry, WriteOptions
from orlop.registry.defaults import apply_defaults
from orlop.registry.printers import table_cells, table_columns
from orlop.registry.validation import validate, validate_status_update
from orlop.store.sqlite import SQLiteStore
from orlop.up import bootstrap

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)
V1 = "snapshot.storage.k8s.io/v1"


def vs(source: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": "VolumeSnapshot", "metadata": {"name": "snap1", "namespace": "default"},
            "spec": {"source": {"persistentVolumeClaimName": "data"} if source is None else source, **spec}}


def content(**spec: Any) -> dict[str, Any]:
    base = {"deletionPolicy": "Delete", "driver": "orlop.io/image", "source": {"snapshotHandle": "h"},
            "volumeSnapshotRef": {"name": "snap1", "namespace": "default"}}
    base.update(spec)
    return {"apiVersion": V1, "kind": "VolumeSnapshotContent", "metadata": {"name": "c1"},
            "spec": {k: v for k, v in base.items() if v is not None}}


def vsclass(**fields: Any) -> dict[str, Any]:
    base = {"driver": "orlop.io/image", "deletionPolicy": "Delete"}
    base.update(fields)
    return {"apiVersion": V1, "kind": "VolumeSnapshotClass", "metadata": {"name": "snaps"},
            **{k: v for k, v in base.items() if v is not None}}


def schedule(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"claimNames": ["data"]}
    base.update(spec)
    return {"apiVersion": "orlop.io/v1alpha1", "kind": "SnapshotSchedule",
            "metadata": {"name": "nightly", "namespace": "default"},
            "spec": {k: v for k, v in base.items() if v is not None}}


NOT_CHECKED = ("<nil>", 'Invalid value: "null": some validation rules were not checked because the object was '
                        "invalid; correct the existing errors to complete validation")

# (case, kind, object, old object or None, expected (field, message) causes)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any] | None, list[tuple[str, str]]]] = [
    ("snapshot from a claim", "VolumeSnapshot", vs(), None, []),
    ("snapshot from a content", "VolumeSnapshot", vs({"volumeSnapshotContentName": "c1"}), None, []),
    ("snapshot without a source", "VolumeSnapshot", {**vs(), "spec": {}}, None,
     [("spec.source", "Required value"), NOT_CHECKED]),
    ("snapshot without spec", "VolumeSnapshot", {k: v for k, v in vs().items() if k != "spec"}, None,
     [("spec", "Required value"), NOT_CHECKED]),
    ("snapshot with both sources", "VolumeSnapshot",
     vs({"persistentVolumeClaimName": "a", "volumeSnapshotContentName": "b"}), None,
     [("spec.source", 'Invalid value: "object": exactly one of volumeSnapshotContentName and '
                      "persistentVolumeClaimName must be set")]),
    ("snapshot with an empty source", "VolumeSnapshot", vs({}), None,
     [("spec.source", 'Invalid value: "object": exactly one of volumeSnapshotContentName and '
                      "persistentVolumeClaimName must be set")]),
    ("snapshot with an empty class name", "VolumeSnapshot", vs(volumeSnapshotClassName=""), None,
     [("spec.volumeSnapshotClassName", 'Invalid value: "string": volumeSnapshotClassName must not be the empty '
                                       "string when set")]),
    ("snapshot source changed", "VolumeSnapshot", vs({"persistentVolumeClaimName": "other"}), vs(),
     [("spec.source.persistentVolumeClaimName",
       'Invalid value: "string": Spec.Source.PersistentVolumeClaimName is immutable')]),
    ("snapshot source switched", "VolumeSnapshot", vs({"volumeSnapshotContentName": "c1"}), vs(),
     [("spec.source", 'Invalid value: "object": persistentVolumeClaimName is required once set')]),
    ("snapshot class set later is fine", "VolumeSnapshot", vs(volumeSnapshotClassName="x"), vs(), []),
    ("snapshot with a wrongly typed source", "VolumeSnapshot", vs("data"), None,
     [("spec.source", 'Invalid value: "string": spec.source in body must be of type object: "string"'),
      NOT_CHECKED]),
    ("class", "VolumeSnapshotClass", vsclass(), None, []),
    ("class without deletionPolicy and driver", "VolumeSnapshotClass", vsclass(driver=None, deletionPolicy=None),
     None, [("deletionPolicy", "Required value"), ("driver", "Required value")]),
    ("class with an unknown policy", "VolumeSnapshotClass", vsclass(deletionPolicy="Keep"), None,
     [("deletionPolicy", 'Unsupported value: "Keep": supported values: "Delete", "Retain"')]),
    ("class with non-string parameters", "VolumeSnapshotClass", vsclass(parameters={"a": 1}), None,
     [("parameters.a", 'Invalid value: "integer": parameters.a in body must be of type string: "integer"')]),
    ("pre-provisioned content", "VolumeSnapshotContent", content(), None, []),
    ("content with both handles", "VolumeSnapshotContent",
     content(source={"snapshotHandle": "h", "volumeHandle": "v"}), None,
     [("spec.source", 'Invalid value: "object": exactly one of volumeHandle and snapshotHandle must be set')]),
    ("content referring to no namespace", "VolumeSnapshotContent", content(volumeSnapshotRef={"name": "s"}), None,
     [("spec.volumeSnapshotRef", 'Invalid value: "object": both spec.volumeSnapshotRef.name and '
                                 "spec.volumeSnapshotRef.namespace must be set")]),
    ("content missing required fields", "VolumeSnapshotContent",
     content(deletionPolicy=None, driver=None, volumeSnapshotRef=None), None,
     [("spec.deletionPolicy", "Required value"), ("spec.driver", "Required value"),
      ("spec.volumeSnapshotRef", "Required value"), NOT_CHECKED]),
    ("content handle changed", "VolumeSnapshotContent", content(source={"snapshotHandle": "h2"}), content(),
     [("spec.source.snapshotHandle", 'Invalid value: "string": Spec.Source.SnapshotHandle is immutable')]),
    ("content sourceVolumeMode dropped", "VolumeSnapshotContent", content(),
     content(sourceVolumeMode="Filesystem"),
     [("spec", 'Invalid value: "object": sourceVolumeMode is required once set')]),
    ("schedule", "SnapshotSchedule", schedule(interval="24h", keep=7), None, []),
    ("schedule by selector", "SnapshotSchedule",
     schedule(claimNames=None, claimSelector={"matchLabels": {"backup": "daily"}}), None, []),
    ("schedule selecting nothing", "SnapshotSchedule", schedule(claimNames=None), None,
     [("spec", 'Invalid value: "object": one of claimNames or claimSelector must be set')]),
    ("schedule with a bad interval", "SnapshotSchedule", schedule(interval="daily"), None,
     [("spec.interval", 'Invalid value: "string": interval must be a duration of at least 1s, such as 24h, 90m or '
                        "30s")]),
    ("schedule with a sub-second interval", "SnapshotSchedule", schedule(interval="500ms"), None,
     [("spec.interval", 'Invalid value: "string": interval must be a duration of at least 1s, such as 24h, 90m or '
                        "30s")]),
    ("schedule keeping nothing", "SnapshotSchedule", schedule(keep=0), None,
     [("spec.keep", "Invalid value: 0: spec.keep in body should be greater than or equal to 1")]),
    ("schedule with a repeated claim", "SnapshotSchedule", schedule(claimNames=["a", "a"]), None,
     [("spec.claimNames[1]", 'Duplicate value: "a"')]),
    ("schedule with a text keep", "SnapshotSchedule", schedule(keep="7"), None,
     [("spec.keep", 'Invalid value: "string": spec.keep in body must be of type integer: "string"'), NOT_CHECKED]),
    ("schedule with a bad name", "SnapshotSchedule", {**schedule(), "metadata": {"name": "Nightly",
                                                                                  "namespace": "default"}}, None,
     [("metadata.name", "Invalid value: \"Nightly\": a lowercase RFC 1123 subdomain must consist of lower case "
                        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
                        "(e.g. 'example.com', regex used for validation is "
                        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]),
]


@pytest.mark.parametrize(("case", "kind", "obj", "old", "want"), CASES, ids=[c[0] for c in CASES])
def test_validation(case: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None,
                    want: list[tuple[str, str]]) -> None:
    if old is not None:
        for o in (obj, old):
            o["metadata"].update({"uid": "u", "resourceVersion": "1", "creationTimestamp": "2024-01-01T00:00:00Z"})
    got = validate(kind, obj, old)
    assert [(c.field, c.message) for c in got] == want


def test_status_validation() -> None:
    old = vs()
    old["metadata"].update({"uid": "u", "resourceVersion": "1", "creationTimestamp": "2024-01-01T00:00:00Z"})
    new = json.loads(json.dumps(old))
    new["status"] = {"readyToUse": True, "restoreSize": "1Gi", "creationTime": "2024-05-01T00:00:00Z"}
    assert validate_status_update("VolumeSnapshot", new, old) == []
    new["status"]["restoreSize"] = "lots"
    new["status"]["creationTime"] = "yesterday"
    got = [(c.field, c.message) for c in validate_status_update("VolumeSnapshot", new, old)]
    assert ("status.creationTime", 'Invalid value: "yesterday": status.creationTime in body must be of type '
                                   'date-time: "yesterday"') in got
    assert any(f == "status.restoreSize" and "should match" in m for f, m in got)


def test_every_rule_of_the_crds_is_understood() -> None:
    rules: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            rules.extend(r["rule"] for r in node.get("x-kubernetes-validations") or [])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    for definition in crd.crds().values():
        walk(definition.schema)
    assert len(rules) >= 12
    for rule in rules:
        crdvalidation.compile_rule(rule)


def test_resources_table_matches_the_crds() -> None:
    for definition in crd.crds().values():
        res = resources.by_kind(definition.group, definition.kind)
        assert res is not None and res.custom
        assert (res.version, res.plural, res.namespaced, res.short_names, res.status) == (
            definition.version, definition.plural, definition.namespaced, definition.short_names, definition.status)


def test_defaults() -> None:
    obj = schedule()
    apply_defaults("SnapshotSchedule", obj)
    assert obj["spec"] == {"claimNames": ["data"], "interval": "24h", "keep": 7}
    obj = schedule(interval="1h", keep=2)
    apply_defaults("SnapshotSchedule", obj)
    assert obj["spec"]["interval"] == "1h" and obj["spec"]["keep"] == 2


def test_columns_are_the_crds_printer_columns() -> None:
    assert [c["name"] for c in table_columns("VolumeSnapshot")] == [
        "Name", "ReadyToUse", "SourcePVC", "SourceSnapshotContent", "RestoreSize", "SnapshotClass",
        "SnapshotContent", "CreationTime", "Age"]
    assert [c["name"] for c in table_columns("VolumeSnapshotContent")] == [
        "Name", "ReadyToUse", "RestoreSize", "DeletionPolicy", "Driver", "VolumeSnapshotClass", "VolumeSnapshot",
        "VolumeSnapshotNamespace", "Age"]
    assert [c["name"] for c in table_columns("VolumeSnapshotClass")] == ["Name", "Driver", "DeletionPolicy", "Age"]
    assert [c["name"] for c in table_columns("SnapshotSchedule")] == ["Name", "Interval", "Keep", "Last Run",
                                                                     "Next Run", "Age"]
    assert table_columns("VolumeSnapshot")[1] == {
        "name": "ReadyToUse", "type": "boolean", "format": "",
        "description": "Indicates if the snapshot is ready to be used to restore a volume.", "priority": 0}


def test_cells() -> None:
    obj = vs(volumeSnapshotClassName="snaps")
    obj["metadata"]["creationTimestamp"] = "2024-05-01T11:00:00Z"
    assert table_cells("VolumeSnapshot", obj, NOW) == ["snap1", None, "data", None, None, "snaps", None, None, "60m"]
    obj["status"] = {"readyToUse": True, "restoreSize": "1Gi", "boundVolumeSnapshotContentName": "snapcontent-x",
                     "creationTime": "2024-05-01T11:58:00Z"}
    assert table_cells("VolumeSnapshot", obj, NOW) == ["snap1", True, "data", None, "1Gi", "snaps", "snapcontent-x",
                                                       "2m", "60m"]
    c = content()
    c["metadata"]["creationTimestamp"] = "bad"
    c["status"] = {"restoreSize": 1073741824, "readyToUse": False}
    assert table_cells("VolumeSnapshotContent", c, NOW) == ["c1", False, 1073741824, "Delete", "orlop.io/image",
                                                            None, "snap1", "default", "<invalid>"]
    s = schedule(interval="24h", keep=7)
    s["metadata"]["creationTimestamp"] = "2024-04-30T12:00:00Z"
    s["status"] = {"lastRun": "2024-05-01T11:00:00Z", "nextRun": "2024-05-02T11:00:00Z"}
    assert table_cells("SnapshotSchedule", s, NOW) == ["nightly", "24h", 7, "60m", "2024-05-02T11:00:00Z", "24h"]


def test_openapi_documents() -> None:
    doc = json.loads(schema.openapi_document("apis/snapshot.storage.k8s.io/v1") or b"{}")
    patch = doc["paths"]["/apis/snapshot.storage.k8s.io/v1/namespaces/{namespace}/volumesnapshots/{name}"]["patch"]
    assert sorted(patch["requestBody"]["content"]) == ["application/apply-patch+yaml", "application/json-patch+json",
                                                       "application/merge-patch+json"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "snapshot.storage.k8s.io",
                                                        "kind": "VolumeSnapshot", "version": "v1"}
    schemas = doc["components"]["schemas"]
    snap = schemas["io.k8s.storage.snapshot.v1.VolumeSnapshot"]
    assert snap["properties"]["metadata"]["allOf"][0]["$ref"].endswith("ObjectMeta")
    assert snap["x-kubernetes-group-version-kind"] == [{"group": "snapshot.storage.k8s.io",
                                                        "kind": "VolumeSnapshot", "version": "v1"}]
    assert "io.k8s.storage.snapshot.v1.VolumeSnapshotContentList" in schemas
    assert schema.unknown_fields(("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
                                 {"spec": {"source": {"persistentVolumeClaimName": "a", "pvc": "b"}}}) == \
        ["spec.source.pvc"]
    orlop_doc = json.loads(schema.openapi_document("apis/orlop.io/v1alpha1") or b"{}")
    assert "io.orlop.v1alpha1.SnapshotSchedule" in orlop_doc["components"]["schemas"]


# ---------------------------------------------------------------------------------------- the registry

@pytest.fixture
async def registry(tmp_path: Any) -> Any:
    store = SQLiteStore(os.path.join(str(tmp_path), "store.db"))
    reg = Registry(store)
    await bootstrap(reg)
    yield reg
    await store.close()


def _res(kind: str) -> resources.Resource:
    group = "orlop.io" if kind == "SnapshotSchedule" else "snapshot.storage.k8s.io"
    res = resources.by_kind(group, kind)
    assert res is not None
    return res


async def test_errors_name_the_group(registry: Registry) -> None:
    res = _res("VolumeSnapshot")
    with pytest.raises(StatusError) as e:
        await registry.get(res, "default", "nope")
    assert e.value.message == 'volumesnapshots.snapshot.storage.k8s.io "nope" not found'
    bad = vs({})
    with pytest.raises(StatusError) as e:
        await registry.create(res, "default", bad, WriteOptions())
    assert e.value.code == 422
    assert e.value.message.startswith('VolumeSnapshot.snapshot.storage.k8s.io "snap1" is invalid: spec.source: ')
    await registry.create(res, "default", vs(), WriteOptions())
    with pytest.raises(StatusError) as e:
        await registry.create(res, "default", vs(), WriteOptions())
    assert e.value.message == 'volumesnapshots.snapshot.storage.k8s.io "snap1" already exists'


async def test_status_subresource_and_patches(registry: Registry) -> None:
    res = _res("VolumeSnapshot")
    body = vs()
    body["status"] = {"readyToUse": True}
    created = await registry.create(res, "default", body, WriteOptions())
    assert "status" not in created and created["metadata"]["generation"] == 1
    with pytest.raises(StatusError) as e:
        await registry.patch(res, "default", "snap1", PATCH_STRATEGIC, b'{"metadata":{"labels":{"a":"b"}}}',
                             WriteOptions())
    assert e.value.code == 415
    assert e.value.message == ("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml")
    patched, _ = await registry.patch(res, "default", "snap1", PATCH_MERGE,
                                      orjson.dumps({"metadata": {"labels": {"a": "b"}},
                                                    "status": {"readyToUse": True}}), WriteOptions())
    assert patched["metadata"]["labels"] == {"a": "b"} and "status" not in patched
    st, _ = await registry.patch(res, "default", "snap1", PATCH_MERGE, b'{"status":{"readyToUse":true}}',
                                 WriteOptions(), subresource="status")
    assert st["status"] == {"readyToUse": True}
    with pytest.raises(StatusError) as e:
        await registry.patch(res, "default", "snap1", PATCH_MERGE,
                             b'{"spec":{"source":{"persistentVolumeClaimName":"other"}}}', WriteOptions())
    assert e.value.message == ('VolumeSnapshot.snapshot.storage.k8s.io "snap1" is invalid: '
                               'spec.source.persistentVolumeClaimName: Invalid value: "string": '
                               "Spec.Source.PersistentVolumeClaimName is immutable")


async def test_schedule_defaults_on_create(registry: Registry) -> None:
    created = await registry.create(_res("SnapshotSchedule"), "default", schedule(), WriteOptions())
    assert created["spec"] == {"claimNames": ["data"], "interval": "24h", "keep": 7}
