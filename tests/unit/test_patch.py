"""Tests for orlop.registry.patch: JSON merge patch, JSON patch and strategic merge patch.

The strategic-merge cases under "Kubernetes' own cases" are the apply cases of
k8s.io/apimachinery/pkg/util/strategicpatch/patch_test.go (original + patch -> result), run
against that test's MergeItem type.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from orlop.errors import StatusError
from orlop.registry.patch import apply_strategic_merge, json_merge_patch, json_patch, strategic_merge_patch
from orlop.registry.schema import ListMeta

STS = ("apps", "v1", "StatefulSet")
POD = ("", "v1", "Pod")
PVC = ("", "v1", "PersistentVolumeClaim")


def y(text: str) -> Any:
    return yaml.safe_load(text)


# --- JSON merge patch ----------------------------------------------------------------------------------

@pytest.mark.parametrize("original,patch,expected", [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"spec": {"replicas": 1, "x": 2}}, {"spec": {"replicas": 3}}, {"spec": {"replicas": 3, "x": 2}}),
    ({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": None}}, {"metadata": {}}),
])
def test_json_merge_patch_rfc7386(original: dict[str, Any], patch: Any, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(original), copy.deepcopy(patch)
    assert json_merge_patch(original, patch) == expected
    assert (original, patch) == before


@pytest.mark.parametrize("patch", [["a"], "x", 3, None])
def test_json_merge_patch_that_is_not_an_object_is_rejected(patch: Any) -> None:
    with pytest.raises(StatusError) as err:
        json_merge_patch({"a": 1}, patch)
    assert err.value.code == 400 and err.value.reason == "BadRequest"


# --- JSON patch --------------------------------------------------------------------------------------------

PVC_OBJ = {"metadata": {"name": "p", "labels": {"A": "true"}, "resourceVersion": "7"},
           "spec": {"accessModes": ["ReadWriteOnce"]}}


@pytest.mark.parametrize("ops,expected", [
    ([{"op": "replace", "path": "/metadata/labels/A", "value": "false"}],
     {"metadata": {"name": "p", "labels": {"A": "false"}, "resourceVersion": "7"},
      "spec": {"accessModes": ["ReadWriteOnce"]}}),
    ([{"op": "test", "path": "/metadata/labels/A", "value": "true"},
      {"op": "remove", "path": "/metadata/labels/A"}],
     {"metadata": {"name": "p", "labels": {}, "resourceVersion": "7"}, "spec": {"accessModes": ["ReadWriteOnce"]}}),
    ([{"op": "add", "path": "/spec/accessModes/-", "value": "ReadOnlyMany"}],
     {"metadata": {"name": "p", "labels": {"A": "true"}, "resourceVersion": "7"},
      "spec": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}}),
    ([{"op": "replace", "path": "/metadata/resourceVersion", "value": "9"},
      {"op": "copy", "from": "/metadata/name", "path": "/spec/volumeName"}],
     {"metadata": {"name": "p", "labels": {"A": "true"}, "resourceVersion": "9"},
      "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": "p"}}),
    ([], PVC_OBJ),
    (None, PVC_OBJ),
])
def test_json_patch_applies(ops: Any, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(PVC_OBJ)
    assert json_patch(PVC_OBJ, ops) == expected
    assert before == PVC_OBJ


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/metadata/labels/A", "value": "false"}],          # failed test
    [{"op": "replace", "path": "/metadata/nope/x", "value": 1}],                 # missing path
    [{"op": "remove", "path": "/spec/accessModes/5"}],                           # index out of range
    [{"op": "bogus", "path": "/a"}],                                             # unknown op
    [{"op": "add", "value": 1}],                                                 # no path
    [{"op": "add", "path": "no-slash", "value": 1}],                             # bad pointer
])
def test_json_patch_that_does_not_apply_is_422(ops: Any) -> None:
    with pytest.raises(StatusError) as err:
        json_patch(PVC_OBJ, ops)
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    assert err.value.message == "the server rejected our request due to an error in our request"


@pytest.mark.parametrize("ops,message", [
    ({"op": "add", "path": "/a", "value": 1}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
    (["x"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
])
def test_json_patch_that_is_not_a_list_of_operations_is_400(ops: Any, message: str) -> None:
    with pytest.raises(StatusError) as err:
        json_patch(PVC_OBJ, ops)
    assert (err.value.code, err.value.message) == (400, message)


def test_json_patch_with_too_many_operations_is_413() -> None:
    ops = [{"op": "test", "path": "/metadata/name", "value": "p"}] * 10001
    with pytest.raises(StatusError) as err:
        json_patch(PVC_OBJ, ops)
    assert err.value.code == 413
    assert err.value.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"


# --- strategic merge: Kubernetes' own cases (MergeItem) -------------------------------------------------------

_MERGE_ITEM: dict[str, ListMeta] = {
    "mergingList": ListMeta("merge", "name"),
    "mergingIntList": ListMeta("merge"),
    "mergeItemPtr": ListMeta("merge", "name"),
    "replacingItem": ListMeta("replace"),
    "retainKeysMap": ListMeta("retainKeys"),
    "retainKeysMergingList": ListMeta("merge,retainKeys", "name"),
    "nonMergingList": ListMeta(),
    "nonMergingIntList": ListMeta(),
    "simpleMap": ListMeta(),
}


def merge_item(original: Any, patch: Any) -> Any:
    return apply_strategic_merge(original, patch, lambda path: _MERGE_ITEM.get(path[-1], ListMeta()))


K8S_CASES = y("""
- description: unique scalars when merging lists
  original: {mergingIntList: [1, 2]}
  patch: {mergingIntList: [2, 3]}
  result: {mergingIntList: [1, 2, 3]}
- description: delete map from nested map
  original: {simpleMap: {key1: 1, key2: 1}}
  patch: {simpleMap: {$patch: delete}}
  result: {simpleMap: {}}
- description: delete all items from merging list
  original: {mergingList: [{name: 1}, {name: 2}]}
  patch: {mergingList: [{$patch: replace}]}
  result: {mergingList: []}
- description: merge empty merging lists
  original: {mergingList: []}
  patch: {mergingList: []}
  result: {mergingList: []}
- description: delete all keys from map
  original: {name: 1, value: 1}
  patch: {$patch: replace}
  result: {}
- description: add key and delete all keys from map
  original: {name: 1, value: 1}
  patch: {other: a, $patch: replace}
  result: {other: a}
- description: de-duplicate entries in a merging list
  original: {mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]}
  result: {mergingList: [{name: 2, value: a}]}
- description: retainKeys map can add a field when no retainKeys directive present
  original: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {value: bar}}
  result: {retainKeysMap: {name: foo, value: bar}}
- description: retainKeys map can delete a field when no retainKeys directive present
  original: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {value: null}}
  result: {retainKeysMap: {name: foo}}
- description: retainKeys map merge an empty map
  original: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {}}
  result: {retainKeysMap: {name: foo, value: a}}
- description: retainKeys list can change a field when no retainKeys directive present
  original: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
  patch: {retainKeysMergingList: [{name: foo, value: b}]}
  result: {retainKeysMergingList: [{name: bar}, {name: foo, value: b}]}
- description: preserve the order from the patch in a merging list
  original: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]}
  result: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]}
- description: preserve the order from the patch in a merging list 2
  original: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}]}
  result: {mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]}
- description: preserve the order from the patch in a merging int list
  original: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1, 2]}
  result: {mergingIntList: [3, 1, 2]}
- description: preserve the order from the patch in a merging int list 2
  original: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1]}
  result: {mergingIntList: [2, 3, 1]}
- description: $setElementOrder contains item that is not present in the list to be merged
  original: {mergingList: [{name: 1}, {name: 3}]}
  patch:
    $setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}]
    mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
  result: {mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}
- description: $setElementOrder contains item that is not present in the int list to be merged
  original: {mergingIntList: [1, 3]}
  patch: {$setElementOrder/mergingIntList: [3, 2, 1]}
  result: {mergingIntList: [3, 1]}
- description: delete items in lists of scalars
  original: {mergingIntList: [1, 2, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: delete all duplicate items in lists of scalars
  original: {mergingIntList: [1, 2, 3, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  result: {mergingIntList: [1, 2, 4]}
- description: add and delete items in lists of scalars
  original: {mergingIntList: [1, 2, 3]}
  patch:
    $setElementOrder/mergingIntList: [1, 2, 4]
    $deleteFromPrimitiveList/mergingIntList: [3]
    mergingIntList: [4]
  result: {mergingIntList: [1, 2, 4]}
- description: merge lists of maps
  original: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch:
    $setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]
  result:
    mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]
- description: add field to map in merging list
  original: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: 1}]}
  result: {mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2, other: b}]}
- description: nil original
  original: {}
  patch: {name: 1, value: 1}
  result: {name: 1, value: 1}
- description: add field and delete field from map
  original: {name: 1, other: a}
  patch: {name: null, value: 1}
  result: {value: 1, other: a}
- description: delete field from nested map
  original: {simpleMap: {key1: 1, key2: 1, other: a}}
  patch: {simpleMap: {key2: null}}
  result: {simpleMap: {key1: 1, other: a}}
- description: replace list of scalars
  original: {nonMergingIntList: [1, 4]}
  patch: {nonMergingIntList: [2, 3]}
  result: {nonMergingIntList: [2, 3]}
- description: delete all maps from empty merging list
  original: {mergingList: []}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 2, $patch: delete}]}
  result: {mergingList: []}
- description: defined null values should propagate overwrite current fields
  original: {name: a, other: a}
  patch: {name: 1, value: 1, other: null}
  result: {name: 1, value: 1}
- description: retainKeys map with no change should not be present
  original: {name: a, other: c, retainKeysMap: {name: foo}}
  patch: {value: b}
  result: {name: a, value: b, other: c, retainKeysMap: {name: foo}}
- description: retainKeys directive clears the fields it does not list
  original: {retainKeysMap: {name: foo, value: a, other: b}}
  patch: {retainKeysMap: {$retainKeys: [name, value], value: c}}
  result: {retainKeysMap: {name: foo, value: c}}
- description: replace directive on a nested map
  original: {mergeItemPtr: {name: 1, value: 1, other: a}}
  patch: {mergeItemPtr: {$patch: replace, name: 2}}
  result: {mergeItemPtr: {name: 2}}
- description: replace strategy field takes the patch value whole
  original: {replacingItem: {a: 1, b: 2}}
  patch: {replacingItem: {c: 3}}
  result: {replacingItem: {c: 3}}
- description: merging list inside a non-merging list is replaced with it
  original: {nonMergingList: [{name: 1, mergingList: [{name: a}]}]}
  patch: {nonMergingList: [{name: 1, mergingList: [{name: b}]}]}
  result: {nonMergingList: [{name: 1, mergingList: [{name: b}]}]}
- description: nested merging lists merge by key
  original: {mergingList: [{name: 1, mergingList: [{name: a, value: x}]}]}
  patch: {mergingList: [{name: 1, mergingList: [{name: b}]}]}
  result: {mergingList: [{name: 1, mergingList: [{name: b}, {name: a, value: x}]}]}
""")


@pytest.mark.parametrize("case", K8S_CASES, ids=[c["description"] for c in K8S_CASES])
def test_strategic_merge_kubernetes_cases(case: dict[str, Any]) -> None:
    original, patch = copy.deepcopy(case["original"]), copy.deepcopy(case["patch"])
    assert merge_item(original, patch) == case["result"]
    assert (original, patch) == (case["original"], case["patch"])


K8S_ERROR_CASES = y("""
- description: order in $setElementOrder and patch list do not match
  original: {mergingList: [{name: 1}, {name: 3}, {name: 2}]}
  patch:
    $setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}]
    mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]
  error: doesn't match
- description: order in $setElementOrder and int patch list do not match
  original: {mergingIntList: [1, 3, 2]}
  patch: {$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3, 1]}
  error: doesn't match
- description: missing merge key
  original: {mergingList: [{name: 1, value: a}]}
  patch: {mergingList: [{value: b}]}
  error: does not contain declared merge key
- description: merge directive in a list
  original: {mergingList: [{name: 1}]}
  patch: {mergingList: [{name: 1, $patch: merge}]}
  error: merging lists cannot yet be specified in the patch
- description: unknown directive in a map
  original: {simpleMap: {a: b}}
  patch: {simpleMap: {$patch: bogus}}
  error: "unknown patch type: bogus in map"
- description: merge directive in a map
  original: {simpleMap: {a: b}}
  patch: {simpleMap: {$patch: merge}}
  error: "unknown patch type: merge in map"
- description: retainKeys that is not a list
  original: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {$retainKeys: name}}
  error: invalid patch format of retainKeys
- description: retainKeys that does not list a patched field
  original: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {$retainKeys: [name], value: a}}
  error: invalid patch format of retainKeys
- description: deleteFromPrimitiveList without a field
  original: {mergingIntList: [1]}
  patch: {$deleteFromPrimitiveList: [1]}
  error: invalid patch format of primitive list
- description: setElementOrder without a field
  original: {mergingIntList: [1]}
  patch: {$setElementOrderX: [1]}
  error: invalid patch format of setElementOrder list
- description: mixed item types in a merging list
  original: {mergingIntList: [1]}
  patch: {mergingIntList: [a]}
  error: list element types are not identical
""")


@pytest.mark.parametrize("case", K8S_ERROR_CASES, ids=[c["description"] for c in K8S_ERROR_CASES])
def test_strategic_merge_malformed_patches_are_400(case: dict[str, Any]) -> None:
    with pytest.raises(StatusError) as err:
        merge_item(case["original"], case["patch"])
    assert (err.value.code, err.value.reason) == (400, "BadRequest")
    assert case["error"] in err.value.message


def test_strategic_merge_list_of_lists_is_422() -> None:
    with pytest.raises(StatusError) as err:
        merge_item({"mergingIntList": [[1]]}, {"mergingIntList": [[2]]})
    assert (err.value.code, err.value.reason) == (422, "Invalid")
    assert err.value.message == "lists of lists are not supported"


def test_strategic_merge_patch_that_is_not_an_object_is_400() -> None:
    with pytest.raises(StatusError) as err:
        strategic_merge_patch({"a": 1}, ["x"], POD)  # type: ignore[arg-type]
    assert err.value.code == 400
    assert err.value.message == "json: cannot unmarshal array into Go value of type map[string]interface {}"


# --- strategic merge on real kinds -------------------------------------------------------------------------

STS_LIVE = y("""
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80, name: web, protocol: TCP}]
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
      volumes:
      - name: scratch
        emptyDir: {}
""")


def sts_patch(patch: dict[str, Any]) -> dict[str, Any]:
    before = copy.deepcopy(STS_LIVE)
    out = strategic_merge_patch(STS_LIVE, patch, STS)
    assert STS_LIVE == before
    return out


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_kubectl_apply_statefulset_sidecar_lands_first() -> None:
    """kubectl-compat §4: the apply patch of a StatefulSet that gains a sidecar and changes ports."""
    patch = y("""
    metadata:
      annotations: {kubectl.kubernetes.io/last-applied-configuration: "{\\"new\\":1}\\n"}
    spec:
      template:
        spec:
          $setElementOrder/containers: [{name: sidecar}, {name: nginx}]
          containers:
          - name: sidecar
            image: busybox
            command: [sleep, infinity]
          - name: nginx
            $setElementOrder/ports: [{containerPort: 8080}]
            ports:
            - {containerPort: 8080, name: alt}
            - {$patch: delete, containerPort: 80}
    """)
    out = sts_patch(patch)
    containers = pod_spec(out)["containers"]
    assert [c["name"] for c in containers] == ["sidecar", "nginx"]
    assert containers[0] == {"name": "sidecar", "image": "busybox", "command": ["sleep", "infinity"]}
    assert containers[1]["ports"] == [{"containerPort": 8080, "name": "alt"}]
    assert containers[1]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == '{"new":1}\n'
    assert out["spec"]["replicas"] == 1
    assert not any(k.startswith("$") for c in containers for k in c)


@pytest.mark.parametrize("patch,check", [
    # env merges by name; a new entry without $setElementOrder goes first (strategicpatch order rules)
    ({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "env": [{"name": "C", "value": "3"},
                                                                             {"name": "A", "value": "9"}]}]}}}},
     lambda s: s["containers"][0]["env"] == [{"name": "C", "value": "3"}, {"name": "A", "value": "9"},
                                             {"name": "B", "value": "2"}]),
    # deleting an env entry by merge key
    ({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "env": [{"name": "A", "$patch": "delete"}]}]}}}},
     lambda s: s["containers"][0]["env"] == [{"name": "B", "value": "2"}]),
    # volumeMounts merge by mountPath
    ({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "volumeMounts": [
        {"mountPath": "/usr/share/nginx/html", "readOnly": True}]}]}}}},
     lambda s: s["containers"][0]["volumeMounts"] == [{"name": "www", "mountPath": "/usr/share/nginx/html",
                                                        "readOnly": True}]),
    # ports merge by containerPort
    ({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "ports": [{"containerPort": 80,
                                                                                "hostPort": 8080}]}]}}}},
     lambda s: s["containers"][0]["ports"] == [{"containerPort": 80, "name": "web", "protocol": "TCP",
                                                "hostPort": 8080}]),
    # command is a plain list: replaced whole
    ({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "command": ["a"]}]}}}},
     lambda s: s["containers"][0]["command"] == ["a"]),
    # volumes: merge,retainKeys by name -- $retainKeys swaps the volume source
    ({"spec": {"template": {"spec": {"volumes": [{"name": "scratch", "$retainKeys": ["name", "persistentVolumeClaim"],
                                                  "persistentVolumeClaim": {"claimName": "c"}}]}}}},
     lambda s: s["volumes"] == [{"name": "scratch", "persistentVolumeClaim": {"claimName": "c"}}]),
    # null deletes a field
    ({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": None}]}}}},
     lambda s: "image" not in s["containers"][0]),
    # $patch: replace on the containers list
    ({"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}}}},
     lambda s: s["containers"] == [{"name": "only", "image": "x"}]),
])
def test_statefulset_pod_template_lists(patch: dict[str, Any], check: Any) -> None:
    assert check(pod_spec(sts_patch(patch)))


@pytest.mark.parametrize("live,patch,expected", [
    (["a", "b"], ["c"], ["c", "a", "b"]),            # primitive merge list: union, new first
    (["a", "b"], ["b"], ["a", "b"]),
    (["a", "b"], None, None),
])
def test_finalizers_are_a_merge_list_of_primitives(live: Any, patch: Any, expected: Any) -> None:
    obj = {"metadata": {"name": "p", "finalizers": live}}
    out = strategic_merge_patch(obj, {"metadata": {"finalizers": patch}}, PVC)
    assert out["metadata"].get("finalizers") == expected


def test_finalizers_delete_from_primitive_list() -> None:
    obj = {"metadata": {"name": "p", "finalizers": ["kubernetes.io/pvc-protection", "x"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["kubernetes.io/pvc-protection"]}}
    assert strategic_merge_patch(obj, patch, PVC)["metadata"]["finalizers"] == ["x"]
    # a deletion list for a field the object lacks adds nothing
    assert "finalizers" not in strategic_merge_patch({"metadata": {}}, patch, PVC)["metadata"]


def test_owner_references_merge_by_uid() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "kind": "StatefulSet"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "b", "kind": "StatefulSet"},
                                              {"uid": "1", "controller": True}]}}
    out = strategic_merge_patch(obj, patch, PVC)["metadata"]["ownerReferences"]
    assert out == [{"uid": "2", "name": "b", "kind": "StatefulSet"},
                   {"uid": "1", "name": "a", "kind": "StatefulSet", "controller": True}]


def test_conditions_merge_by_type() -> None:
    obj = {"status": {"phase": "Bound", "conditions": [{"type": "Resizing", "status": "True"},
                                                        {"type": "FileSystemResizePending", "status": "False"}]}}
    patch = {"status": {"conditions": [{"type": "Resizing", "status": "False", "reason": "Done"}]}}
    out = strategic_merge_patch(obj, patch, PVC)["status"]
    assert out["conditions"] == [{"type": "Resizing", "status": "False", "reason": "Done"},
                                 {"type": "FileSystemResizePending", "status": "False"}]
    assert out["phase"] == "Bound"


def test_pvc_patch_from_kubectl_apply() -> None:
    """kubectl-compat §4 step 5: labels and storage request of a claim."""
    live = {"metadata": {"name": "data-pvc", "labels": {"app": "x"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    patch = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
                          "labels": {"tier": "db"}},
             "spec": {"resources": {"requests": {"storage": "2Gi"}}, "accessModes": ["ReadWriteMany"]}}
    out = strategic_merge_patch(live, patch, PVC)
    assert out["metadata"]["labels"] == {"app": "x", "tier": "db"}
    assert out["spec"]["resources"]["requests"] == {"storage": "2Gi"}
    assert out["spec"]["accessModes"] == ["ReadWriteMany"]          # no strategy: replaced


def test_added_fields_lose_their_nulls_and_directives() -> None:
    out = strategic_merge_patch({"metadata": {"name": "p"}}, {"metadata": {"labels": {"a": None, "b": "1"}}}, PVC)
    assert out["metadata"]["labels"] == {"b": "1"}


def test_unknown_kind_is_json_merge_patch() -> None:
    gvk = ("snapshot.storage.k8s.io", "v1", "VolumeSnapshot")
    obj = {"spec": {"list": [{"name": "a"}], "x": 1}}
    out = strategic_merge_patch(obj, {"spec": {"list": [{"name": "b"}], "x": None}}, gvk)
    assert out == {"spec": {"list": [{"name": "b"}]}}


def test_root_replace_directive() -> None:
    out = strategic_merge_patch({"metadata": {"name": "a"}, "spec": {"x": 1}},
                                {"$patch": "replace", "metadata": {"name": "b"}}, PVC)
    assert out == {"metadata": {"name": "b"}}
