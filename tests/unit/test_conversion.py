"""Legacy StatefulSet versions convert to apps/v1 with their own defaults first."""

import copy

import pytest
import yaml

from orlop.registry.conversion import convert_statefulset
from orlop.registry.defaults import apply_defaults
from orlop.registry.validation import validate

# Seed 000's mysql StatefulSet.  The seed's YAML is mis-indented after "- name: mysqltest"
# (no YAML parser accepts it); this is the evident intent, addresses and values as written.
SEED_000_MYSQL = r"""
apiVersion: apps/v1beta1
kind: StatefulSet
metadata:
  name: mysqltest
  namespace: kube-system
spec:
  serviceName: mysqltest
  replicas: 2
  template:
    metadata:
      labels:
        app: mysqltest
      annotations:
        pod.alpha.kubernetes.io/initialized: "true"
        pod.alpha.kubernetes.io/init-containers: '[{"name": "install", "image": "192.168.1.52/tenx_containers/galera-install:utf8", "imagePullPolicy": "Always", "args": ["--work-dir=/work-dir"], "volumeMounts": [{"name": "workdir", "mountPath": "/work-dir"}, {"name": "config", "mountPath": "/etc/mysql"}]}]'
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: mysqltest
        image: 192.168.1.52/tenx_containers/mysql-galera:e2e
        ports:
        - containerPort: 3306
          name: mysqltest
        - containerPort: 4444
          name: sst
        - containerPort: 4567
          name: replication
        - containerPort: 4568
          name: ist
        env:
        - name: MYSQL_ROOT_PASSWORD
          value: "123123"
        resources:
          limits:
            memory: '512Mi'
          requests:
            cpu: 50m
            memory: '512Mi'
        args:
        - --defaults-file=/etc/mysql/my-galera.cnf
        - --user=root
        volumeMounts:
        - name: datadir
          mountPath: /var/lib/
        - name: config
          mountPath: /etc/mysql
      volumes:
      - name: config
        emptyDir: {}
      - name: workdir
        emptyDir: {}
  volumeClaimTemplates:
  - metadata:
      name: datadir
    spec:
      accessModes: [ "ReadWriteMany" ]
      storageClassName: tenx-rbd
      resources:
        requests:
          storage: 512Mi
"""


def mysql() -> dict:
    return yaml.safe_load(SEED_000_MYSQL)


def test_seed_000_v1beta1_statefulset_converts_and_validates():
    src = mysql()
    out = convert_statefulset(src, "apps/v1")
    assert src == mysql(), "the input must not be mutated"
    assert out["apiVersion"] == "apps/v1"
    spec = out["spec"]
    # v1beta1 defaults: selector and object labels from the template, OnDelete updates
    assert spec["selector"] == {"matchLabels": {"app": "mysqltest"}}
    assert out["metadata"]["labels"] == {"app": "mysqltest"}
    assert spec["updateStrategy"] == {"type": "OnDelete"}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["replicas"] == 2
    apply_defaults("StatefulSet", out)
    assert out["spec"]["updateStrategy"] == {"type": "OnDelete"}, "v1 defaults must not override v1beta1's"
    assert out["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert validate("StatefulSet", out) == []


def test_v1beta1_without_template_labels_gets_no_selector():
    src = mysql()
    del src["spec"]["template"]["metadata"]["labels"]
    out = convert_statefulset(src, "apps/v1")
    assert "selector" not in out["spec"]
    apply_defaults("StatefulSet", out)
    causes = validate("StatefulSet", out)
    assert [(c.field, c.message) for c in causes] == [("spec.selector", "Required value")]


def test_v1beta1_keeps_explicit_selector_labels_and_strategy():
    src = mysql()
    src["spec"]["selector"] = {"matchLabels": {"app": "mysqltest"}}
    src["metadata"]["labels"] = {"team": "db"}
    src["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {}}
    out = convert_statefulset(src, "v1")
    assert out["metadata"]["labels"] == {"team": "db"}
    assert out["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}


def test_v1beta2_defaults_like_v1():
    src = mysql()
    src["apiVersion"] = "apps/v1beta2"
    src["spec"]["selector"] = {"matchLabels": {"app": "mysqltest"}}
    out = convert_statefulset(src, "apps/v1")
    assert out["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert "labels" not in out["metadata"]


def test_v1_to_legacy_is_a_relabelled_copy():
    src = mysql()
    v1 = convert_statefulset(src, "apps/v1")
    apply_defaults("StatefulSet", v1)
    for version in ("apps/v1beta1", "apps/v1beta2", "v1beta1"):
        back = convert_statefulset(v1, version)
        assert back["apiVersion"] == (version if "/" in version else "apps/" + version)
        expected = copy.deepcopy(v1)
        expected["apiVersion"] = back["apiVersion"]
        assert back == expected


@pytest.mark.parametrize("version", ["apps/v2", "extensions/v1beta1", "", None])
def test_unknown_versions_are_refused(version):
    with pytest.raises(ValueError):
        convert_statefulset(mysql(), version)


@pytest.mark.parametrize("garbage", [{"apiVersion": "apps/v1beta1", "spec": "x"}, {"apiVersion": "apps/v1beta1"},
                                     {"apiVersion": "apps/v1beta1", "spec": {"template": [], "updateStrategy": 3}},
                                     "not an object", None])
def test_malformed_input_does_not_raise(garbage):
    out = convert_statefulset(garbage, "apps/v1")
    assert out["apiVersion"] == "apps/v1"
