"""Label and field selectors: strings in, requirements / matches / Kubernetes 400 messages out."""

from __future__ import annotations

from typing import Any

import pytest

from orlop.errors import StatusError
from orlop.registry.selectors import (
    check_field_selector,
    convert_field_selector,
    fields_match,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
    selectable_fields,
)

QNAME_RULE = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
              "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
VALUE_RULE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
              "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


# ------------------------------------------------------------------ label selectors: parse and match

@pytest.mark.parametrize(("selector", "canonical", "matching", "not_matching"), [
    ("", "", [None, {}, {"a": "b"}], []),
    ("app=web", "app=web", [{"app": "web"}, {"app": "web", "x": "y"}], [None, {}, {"app": "db"}]),
    ("app==web", "app==web", [{"app": "web"}], [{"app": "Web"}]),
    ("app!=web", "app!=web", [None, {}, {"app": "db"}], [{"app": "web"}]),
    ("env in (prod,dev)", "env in (dev,prod)", [{"env": "prod"}, {"env": "dev"}], [{}, {"env": "qa"}]),
    ("env notin (prod)", "env notin (prod)", [{}, {"env": "dev"}], [{"env": "prod"}]),
    ("tier", "tier", [{"tier": ""}, {"tier": "x"}], [{}, {"other": "x"}]),
    ("!tier", "!tier", [{}, {"other": "x"}], [{"tier": ""}]),
    ("a=", "a=", [{"a": ""}], [{}, {"a": "x"}]),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()",
     [{"x": "foo", "y": "1"}, {"x": "", "y": ""}, {"x": "baz", "y": "", "z": "q"}],
     [{"x": "foo"}, {"x": "bar", "y": "1"}, {"x": "foo", "y": "1", "z": ""}]),
    ("  a = b ,\tc  ", "a=b,c", [{"a": "b", "c": "d"}], [{"a": "b"}]),
    ("b=1,a=2", "a=2,b=1", [{"a": "2", "b": "1"}], [{"a": "1", "b": "2"}]),
    ("a=1,a=2", "a=1,a=2", [], [{"a": "1"}, {"a": "2"}]),
    ("in in (in),notin=notin", "in in (in),notin=notin", [{"in": "in", "notin": "notin"}], [{"in": "in"}]),
    ("a>1,b<10", "a>1,b<10", [{"a": "2", "b": "9"}], [{"a": "1", "b": "9"}, {"a": "x", "b": "1"}, {"b": "1"}]),
    ("app.kubernetes.io/name=web,example.com/tier in (a)", "app.kubernetes.io/name=web,example.com/tier in (a)",
     [{"app.kubernetes.io/name": "web", "example.com/tier": "a"}], [{"app.kubernetes.io/name": "web"}]),
    ("x in (a,b,a)", "x in (a,b)", [{"x": "a"}], [{"x": "c"}]),
])
def test_parse_label_selector(selector: str, canonical: str, matching: list[Any], not_matching: list[Any]) -> None:
    sel = parse_label_selector(selector)
    assert str(sel) == canonical
    for labels in matching:
        assert sel.matches(labels), labels
    for labels in not_matching:
        assert not sel.matches(labels), labels
    # The canonical form parses back to the same selector.
    assert parse_label_selector(canonical) == sel


def test_label_selector_introspection() -> None:
    assert parse_label_selector("").empty()
    sel = parse_label_selector("app=web,env in (prod),tier!=db")
    assert not sel.empty()
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("env") == "prod"
    assert sel.requires_exact_match("tier") is None
    assert sel.requires_exact_match("missing") is None
    assert [r.key for r in sel.requirements] == ["app", "env", "tier"]


@pytest.mark.parametrize(("selector", "message"), [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a!", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
    ("a gt 1", "unable to parse requirement: found 'gt', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in (", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
    ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
    ("a notin b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("! =a", "unable to parse requirement: found '=', expected: identifier"),
    ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
    ("a==(", "unable to parse requirement: found '(', expected: identifier"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("x in (a),", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name " + QNAME_RULE
     + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("-app=web", "unable to parse requirement: <nil>: Invalid value: \"-app\": name part " + QNAME_RULE),
    ("/app", "unable to parse requirement: <nil>: Invalid value: \"/app\": prefix part must be non-empty"),
    ("Example.com/app", "unable to parse requirement: <nil>: Invalid value: \"Example.com/app\": prefix part a "
     "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
     "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    ("example.com/=x", "unable to parse requirement: <nil>: Invalid value: \"example.com/\": name part must be "
     "non-empty; name part " + QNAME_RULE),
    ("a" * 64, "unable to parse requirement: <nil>: Invalid value: \"" + "a" * 64
     + "\": name part must be no more than 63 characters"),
    ("app=a/b", "unable to parse requirement: values[0][app]: Invalid value: \"a/b\": " + VALUE_RULE),
    ("app in (ok,-bad-)", "unable to parse requirement: values[0][app]: Invalid value: \"-bad-\": " + VALUE_RULE),
    ("app in (-x,y_)", "unable to parse requirement: [values[0][app]: Invalid value: \"-x\": " + VALUE_RULE
     + ", values[1][app]: Invalid value: \"y_\": " + VALUE_RULE + "]"),
    ("n>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value "
     "must be an integer"),
    ("app=" + "v" * 64, "unable to parse requirement: values[0][app]: Invalid value: \"" + "v" * 64
     + "\": must be no more than 63 characters"),
])
def test_parse_label_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(StatusError) as exc:
        parse_label_selector(selector)
    assert exc.value.code == 400
    assert exc.value.reason == "BadRequest"
    assert exc.value.message == message


# ------------------------------------------------------------------ metav1.LabelSelector

@pytest.mark.parametrize(("selector", "canonical", "matching", "not_matching"), [
    ({}, "", [None, {}, {"a": "b"}], []),
    ({"matchLabels": {}, "matchExpressions": []}, "", [{}], []),
    ({"matchLabels": {"app": "web"}}, "app=web", [{"app": "web", "x": "1"}], [None, {"app": "db"}]),
    ({"matchLabels": {"tier": "db", "app": "web"}}, "app=web,tier=db", [{"app": "web", "tier": "db"}],
     [{"app": "web"}]),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}, "env in (dev,prod)",
     [{"env": "dev"}], [{}, {"env": "qa"}]),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["qa"]},
                           {"key": "canary", "operator": "DoesNotExist"},
                           {"key": "tier", "operator": "Exists", "values": []}]},
     "app=web,!canary,env notin (qa),tier", [{"app": "web", "tier": "x"}, {"app": "web", "tier": "", "env": "p"}],
     [{"app": "web"}, {"app": "web", "tier": "x", "canary": "1"}, {"app": "web", "tier": "x", "env": "qa"}]),
])
def test_label_selector_from_dict(selector: dict[str, Any], canonical: str, matching: list[Any],
                                  not_matching: list[Any]) -> None:
    sel = label_selector_from_dict(selector)
    assert str(sel) == canonical
    for labels in matching:
        assert sel.matches(labels), labels
    for labels in not_matching:
        assert not sel.matches(labels), labels


def test_none_label_selector_matches_nothing() -> None:
    sel = label_selector_from_dict(None)
    assert not sel.matches({})
    assert not sel.matches({"app": "web"})
    assert not sel.empty()
    assert str(sel) == ""


@pytest.mark.parametrize(("selector", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]},
     '"Equals" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]},
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]},
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'),
    ({"matchLabels": {"bad key": "v"}}, 'key: Invalid value: "bad key": name part ' + QNAME_RULE),
    ({"matchLabels": {"app": "a b"}}, 'values[0][app]: Invalid value: "a b": ' + VALUE_RULE),
])
def test_label_selector_from_dict_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(StatusError) as exc:
        label_selector_from_dict(selector)
    assert exc.value.code == 400
    assert exc.value.message == message


# ------------------------------------------------------------------ field selectors: parse

@pytest.mark.parametrize(("selector", "want"), [
    ("", []),
    (",", []),
    ("metadata.name=web", [("metadata.name", "=", "web")]),
    ("metadata.name==web", [("metadata.name", "=", "web")]),
    ("status.phase!=Running", [("status.phase", "!=", "Running")]),
    ("metadata.name=web,metadata.name=web", [("metadata.name", "=", "web"), ("metadata.name", "=", "web")]),
    ("involvedObject.name=pv-static,involvedObject.namespace=,involvedObject.kind=PersistentVolume",
     [("involvedObject.kind", "=", "PersistentVolume"), ("involvedObject.name", "=", "pv-static"),
      ("involvedObject.namespace", "=", "")]),
    ("a=x\\,y,b=p\\=q\\\\", [("a", "=", "x,y"), ("b", "=", "p=q\\")]),
    ("a!=\\=b", [("a", "!=", "=b")]),
])
def test_parse_field_selector(selector: str, want: list[tuple[str, str, str]]) -> None:
    assert parse_field_selector(selector) == want


@pytest.mark.parametrize(("selector", "message"), [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    ("a!==b", "invalid field selector: unescaped character in value: 61"),
    ("a=x,y", "invalid selector: 'a=x,y'; can't understand 'y'"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
])
def test_parse_field_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(StatusError) as exc:
        parse_field_selector(selector)
    assert exc.value.code == 400
    assert exc.value.message == message


# ------------------------------------------------------------------ field selectors: kinds

@pytest.mark.parametrize(("kind", "field", "group_version", "message"), [
    ("Pod", "spec.nodeName", "v1", None),
    ("Pod", "spec.host", "v1", None),
    ("Pod", "status.podIP", "v1", None),
    ("Pod", "spec.hostNetwork", "v1", None),
    ("Pod", "metadata.uid", "v1", "field label not supported: metadata.uid"),
    ("Event", "involvedObject.uid", "v1", None),
    ("Event", "reportingComponent", "v1", None),
    ("Event", "message", "v1", "field label not supported: message"),
    ("Secret", "type", "v1", None),
    ("Secret", "data", "v1", "field label not supported: data"),
    ("Namespace", "status.phase", "v1", None),
    ("Namespace", "metadata.namespace", "v1", "field label not supported: metadata.namespace"),
    ("Node", "spec.unschedulable", "v1", None),
    ("Node", "metadata.namespace", "v1", "field label not supported: metadata.namespace"),
    ("Service", "spec.clusterIP", "v1", None),
    ("Service", "spec.type", "v1", None),
    ("Service", "spec.ports", "v1", "field label not supported: spec.ports"),
    ("PersistentVolumeClaim", "metadata.name", "v1", None),
    ("PersistentVolumeClaim", "status.phase", "v1",
     '"status.phase" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("PersistentVolume", "metadata.namespace", "v1", None),
    ("PersistentVolume", "spec.storageClassName", "v1",
     '"spec.storageClassName" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("StorageClass", "provisioner", "storage.k8s.io/v1",
     '"provisioner" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("StatefulSet", "metadata.name", "apps/v1", None),
    ("StatefulSet", "status.successful", "apps/v1",
     '"status.successful" is not a known field selector: only "metadata.name", "metadata.namespace"'),
    ("StatefulSet", "status.successful", "apps/v1beta1", None),
    ("StatefulSet", "spec.replicas", "apps/v1beta1", "field label not supported for appsv1beta1.StatefulSet: "
     "spec.replicas"),
    ("StatefulSet", "spec.replicas", "apps/v1beta2", "field label not supported for appsv1beta2.StatefulSet: "
     "spec.replicas"),
    ("Lease", "spec.holderIdentity", "coordination.k8s.io/v1",
     '"spec.holderIdentity" is not a known field selector: only "metadata.name", "metadata.namespace"'),
])
def test_check_field_selector(kind: str, field: str, group_version: str, message: str | None) -> None:
    reqs = [("metadata.name", "=", "x"), (field, "=", "v")] if kind != "Namespace" else [(field, "=", "v")]
    if message is None:
        check_field_selector(kind, reqs, group_version)
        return
    with pytest.raises(StatusError) as exc:
        check_field_selector(kind, reqs, group_version)
    assert exc.value.code == 400
    assert exc.value.reason == "BadRequest"
    assert exc.value.message == message


def test_check_field_selector_default_group_version() -> None:
    check_field_selector("StatefulSet", [("metadata.namespace", "=", "default")])
    with pytest.raises(StatusError):
        check_field_selector("ConfigMap", [("data", "=", "x")])


def test_pod_spec_host_converts_to_node_name() -> None:
    assert convert_field_selector("Pod", [("spec.host", "=", "n1")]) == [("spec.nodeName", "=", "n1")]
    fields = selectable_fields("Pod", {"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}})
    assert fields_match([("spec.host", "=", "n1")], fields)


# ------------------------------------------------------------------ selectable fields and matching

@pytest.mark.parametrize(("kind", "obj", "want"), [
    ("ConfigMap", {"metadata": {"name": "cm", "namespace": "default"}},
     {"metadata.name": "cm", "metadata.namespace": "default"}),
    ("PersistentVolume", {"metadata": {"name": "pv"}, "spec": {"storageClassName": "x"}},
     {"metadata.name": "pv"}),
    ("StorageClass", {"metadata": {"name": "sc"}}, {"metadata.name": "sc"}),
    ("PersistentVolumeClaim", {"metadata": {"name": "c", "namespace": "ns"}, "status": {"phase": "Bound"}},
     {"metadata.name": "c", "metadata.namespace": "ns"}),
    ("StatefulSet", {"metadata": {"name": "web", "namespace": "ns"}},
     {"metadata.name": "web", "metadata.namespace": "ns"}),
    ("Pod", {"metadata": {"name": "p", "namespace": "ns"},
             "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                      "serviceAccountName": "sa", "hostNetwork": True},
             "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                        "nominatedNodeName": "n2"}},
     {"metadata.name": "p", "metadata.namespace": "ns", "spec.nodeName": "n1", "spec.restartPolicy": "Always",
      "spec.schedulerName": "default-scheduler", "spec.serviceAccountName": "sa", "spec.hostNetwork": "true",
      "status.phase": "Running", "status.podIP": "10.0.0.1", "status.nominatedNodeName": "n2"}),
    ("Pod", {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"serviceAccount": "legacy"},
             "status": {"podIP": "10.0.0.2"}},
     {"metadata.name": "p", "metadata.namespace": "ns", "spec.nodeName": "", "spec.restartPolicy": "",
      "spec.schedulerName": "", "spec.serviceAccountName": "legacy", "spec.hostNetwork": "false",
      "status.phase": "", "status.podIP": "10.0.0.2", "status.nominatedNodeName": ""}),
    ("Event", {"metadata": {"name": "e", "namespace": "default"},
               "involvedObject": {"kind": "PersistentVolume", "name": "pv-static", "uid": "u-1", "apiVersion": "v1",
                                  "resourceVersion": "12"},
               "reason": "VolumeFailedDelete", "type": "Warning", "reportingComponent": "orlop-pv-controller"},
     {"metadata.name": "e", "metadata.namespace": "default", "involvedObject.kind": "PersistentVolume",
      "involvedObject.namespace": "", "involvedObject.name": "pv-static", "involvedObject.uid": "u-1",
      "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "12", "involvedObject.fieldPath": "",
      "reason": "VolumeFailedDelete", "reportingComponent": "orlop-pv-controller",
      "source": "orlop-pv-controller", "type": "Warning"}),
    ("Secret", {"metadata": {"name": "s", "namespace": "ns"}, "type": "Opaque"},
     {"metadata.name": "s", "metadata.namespace": "ns", "type": "Opaque"}),
    ("Namespace", {"metadata": {"name": "ns"}, "status": {"phase": "Active"}},
     {"metadata.name": "ns", "status.phase": "Active"}),
    ("Node", {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
     {"metadata.name": "n1", "spec.unschedulable": "true"}),
    ("Node", {"metadata": {"name": "n1"}}, {"metadata.name": "n1", "spec.unschedulable": "false"}),
    ("Service", {"metadata": {"name": "svc", "namespace": "ns"}, "spec": {"clusterIP": "None", "type": "ClusterIP"}},
     {"metadata.name": "svc", "metadata.namespace": "ns", "spec.clusterIP": "None", "spec.type": "ClusterIP"}),
])
def test_selectable_fields(kind: str, obj: dict[str, Any], want: dict[str, str]) -> None:
    assert selectable_fields(kind, obj) == want


def test_event_source_prefers_source_component() -> None:
    obj = {"metadata": {"name": "e"}, "source": {"component": "kubelet"}, "reportingComponent": "other"}
    assert selectable_fields("Event", obj)["source"] == "kubelet"


PV_EVENT = {"metadata": {"name": "pv-static.1", "namespace": "default"},
            "involvedObject": {"kind": "PersistentVolume", "name": "pv-static", "uid": "u-1"}}
PVC_EVENT = {"metadata": {"name": "data.1", "namespace": "default"},
             "involvedObject": {"kind": "PersistentVolumeClaim", "name": "data", "namespace": "default",
                                "uid": "u-2"}}


@pytest.mark.parametrize(("selector", "want"), [
    # kubectl describe pv: cluster-wide, with an empty namespace term.
    ("involvedObject.name=pv-static,involvedObject.namespace=,involvedObject.kind=PersistentVolume,"
     "involvedObject.uid=u-1", ["pv-static.1"]),
    # kubectl describe pvc
    ("involvedObject.name=data,involvedObject.namespace=default,involvedObject.kind=PersistentVolumeClaim,"
     "involvedObject.uid=u-2", ["data.1"]),
    ("involvedObject.namespace=", ["pv-static.1"]),
    ("involvedObject.namespace!=", ["data.1"]),
    ("involvedObject.kind!=PersistentVolume,metadata.namespace=default", ["data.1"]),
    ("metadata.name=data.1,metadata.name=data.1", ["data.1"]),
    ("metadata.name=data.1,metadata.name=pv-static.1", []),
    ("", ["pv-static.1", "data.1"]),
])
def test_fields_match_events(selector: str, want: list[str]) -> None:
    reqs = parse_field_selector(selector)
    check_field_selector("Event", reqs)
    got = [e["metadata"]["name"] for e in (PV_EVENT, PVC_EVENT)
           if fields_match(reqs, selectable_fields("Event", e))]
    assert got == want


def test_fields_match_missing_field_is_empty() -> None:
    assert fields_match([("spec.nodeName", "=", "")], {"metadata.name": "x"})
    assert not fields_match([("spec.nodeName", "!=", "")], {"metadata.name": "x"})
    assert fields_match([], {})
