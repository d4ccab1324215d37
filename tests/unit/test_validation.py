"""validate() reports what Kubernetes 1.32 reports, with its field paths, reasons and
messages, for creates, updates and /status writes -- and never raises."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orlop.errors import Cause, invalid
from orlop.registry import schema, validation
from orlop.registry.conversion import convert_statefulset
from orlop.registry.defaults import apply_defaults
from orlop.registry.validation import (
    _run,
    decode_error_message,
    decode_errors,
    go_base64_decode,
    go_quote,
    validate,
    validate_status_update,
)

CLUSTER_SCOPED = {"PersistentVolume", "StorageClass", "Namespace", "Node"}

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
               "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
               "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
QNAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
PARTS_OF_STS_UPDATE = ("Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                       "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                       "are forbidden")


def prepared(kind: str, manifest: str | dict, namespace: str = "default") -> dict:
    """What the registry hands to validation: converted, namespaced, defaulted."""
    obj = yaml.safe_load(manifest) if isinstance(manifest, str) else copy.deepcopy(manifest)
    if kind == "StatefulSet":
        obj = convert_statefulset(obj, "apps/v1")
    obj.setdefault("metadata", {})
    if kind not in CLUSTER_SCOPED:
        obj["metadata"].setdefault("namespace", namespace)
    apply_defaults(kind, obj)
    return obj


def triples(causes: list[Cause]) -> list[tuple[str, str, str]]:
    return [(c.field, c.reason, c.message) for c in causes]


# ----------------------------------------------------------------------------- the seeds

SEEDS = [
    # 000: task-pv-volume / task-pv-claim / pods
    ("PersistentVolume", """
kind: PersistentVolume
apiVersion: v1
metadata:
  name: task-pv-volume
  labels:
    type: local
spec:
  storageClassName: manual
  capacity:
    storage: 10Gi
  accessModes:
    - ReadWriteOnce
  hostPath:
    path: "/tmp/data"
"""),
    ("PersistentVolumeClaim", """
kind: PersistentVolumeClaim
apiVersion: v1
metadata:
  name: task-pv-claim
spec:
  storageClassName: manual
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 3Gi
"""),
    ("Pod", """
kind: Pod
apiVersion: v1
metadata:
  name: mypod
spec:
  containers:
    - name: myfrontend
      image: dockerfile/nginx
      volumeMounts:
      - mountPath: "/var/www/html"
        name: mypd
  volumes:
    - name: mypd
      persistentVolumeClaim:
        claimName: myclaim
"""),
    ("Pod", """
kind: Pod
apiVersion: v1
metadata:
  name: task-pv-pod
spec:

  volumes:
    - name: task-pv-storage
      persistentVolumeClaim:
       claimName: task-pv-claim

  containers:
    - name: task-pv-container
      image: nginx
      ports:
        - containerPort: 80
          name: "http-server"
      volumeMounts:
      - mountPath: "/usr/share/nginx/html"
        name: task-pv-storage
"""),
    ("Secret", """
apiVersion: v1
kind: Secret
metadata:
  name: ceph-secret
type: kubernetes.io/rbd
data:
  key: QVFBOW1VTlpGUjVlQ2hBQXFGbEgyS0M3c2Zqakx4QjNmUFJUd0E9PQ==
"""),
    ("StorageClass", """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: tenx-rbd
  labels:
    kubernetes.io/cluster-service: "true"
provisioner: kubernetes.io/rbd
parameters:
  monitors: 192.168.0.68:6789,192.168.0.55:6789,192.168.0.94:6789,192.168.0.99:6789
  adminId: admin
  adminSecretName: ceph-secret
  adminSecretNamespace: "kube-system"
  pool: tenx-pool
  userId: admin
  userSecretName: ceph-secret
"""),
    ("Service", """
apiVersion: v1
kind: Service
metadata:
  annotations:
    tenxcloud.com/schemaPortname: mysqltest/TCP
    system/lbgroup: none
  name: mysqltest-pgytt
  labels:
    app: mysqltest-pgytt
spec:
  ports:
    - port: 3306
      name: mysqltest
  selector:
    app: mysqltest
  externalIPs:
    - 11.11.1.1
"""),
    ("Service", """
apiVersion: v1
kind: Service
metadata:
  annotations:
    service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"
  name: mysqltest
  labels:
    app: mysqltest
spec:
  ports:
  - port: 3306
    name: mysqltest
  clusterIP: None
  selector:
    app: mysqltest
"""),
    ("PersistentVolumeClaim", """
kind: PersistentVolumeClaim
apiVersion: v1
metadata:
  name: task-pv-claim
  namespace: default
spec:
  accessModes:
    - ReadWriteOnce
    - ReadOnlyMany
  storageClassName: tenx-rbd
  resources:
    requests:
      storage: 3Gi
"""),
    ("Pod", """
kind: Pod
apiVersion: v1
metadata:
  name: task-pv-pod-readonly
spec:
  volumes:
    - name: task-pv-storage
      persistentVolumeClaim:
        claimName: task-pv-claim
        readOnly: true
  containers:
    - name: task-pv-container
      image: nginx
      ports:
        - containerPort: 80
          name: "http-server"
      volumeMounts:
      - mountPath: "/usr/share/nginx/html"
        name: task-pv-storage
"""),
    ("PersistentVolume", """
apiVersion: v1
kind: PersistentVolume
metadata:
  annotations:
    pv.kubernetes.io/bound-by-controller: "yes"
    pv.kubernetes.io/provisioned-by: kubernetes.io/rbd
  creationTimestamp: 2017-08-14T07:36:26Z
  name: pvc-47aeb1b2-80c3-11e7-bd70-005056850b72
  resourceVersion: "2616017"
  selfLink: /api/v1/persistentvolumespvc-47aeb1b2-80c3-11e7-bd70-005056850b72
  uid: 47c03480-80c3-11e7-bd70-005056850b72
spec:
  accessModes:
  - ReadWriteMany
  capacity:
    storage: 1Gi
  claimRef:
    apiVersion: v1
    kind: PersistentVolumeClaim
    name: datadir-rediscluster-0
    namespace: default
    resourceVersion: "2594704"
    uid: 47aeb1b2-80c3-11e7-bd70-005056850b72
  persistentVolumeReclaimPolicy: Delete
  rbd:
    image: kubernetes-dynamic-pvc-47b3ea1e-80c3-11e7-a774-005056850b72
    keyring: /etc/ceph/keyring
    monitors:
    - 192.168.0.68:6789
    - 192.168.0.55:6789
    - 192.168.0.94:6789
    - 192.168.0.99:6789
    pool: tenx-pool
    secretRef:
      name: ceph-secret
    user: admin
  storageClassName: tenx-rbd
status:
  phase: Bound
"""),
    # 001: glusterfs class and a claim naming it by the beta annotation
    ("StorageClass", """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: slow
provisioner: kubernetes.io/glusterfs
parameters:
  resturl: "http://10.170.13.153:8080"
  gidMin: "40000"
  gidMax: "50000"
  volumetype: "none"
"""),
    ("PersistentVolumeClaim", """
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: gluster-test
  annotations:
     volume.beta.kubernetes.io/storage-class: slow
spec:
  accessModes:
  - ReadWriteMany
  resources:
     requests:
       storage: 20Gi
"""),
    # 002: inline rbd pods, rbd PVs, the web StatefulSet
    ("Pod", """
apiVersion: v1
kind: Pod
metadata:
  name: rbd
spec:
  containers:
    - image: kubernetes/pause
      name: rbd-rw
      volumeMounts:
      - name: rbdpd
        mountPath: /mnt/rbd
  volumes:
    - name: rbdpd
      rbd:
        monitors:
        - '10.10.113.15:6789'
        - '10.10.113.16:6789'
        - '10.10.113.17:6789'
        pool: kube
        image: foo
        fsType: xfs
        readOnly: false
        user: admin
        keyring: /etc/ceph/keyring
"""),
    ("Secret", """
apiVersion: v1
kind: Secret
metadata:
  name: ceph-secret
type: "kubernetes.io/rbd"
data:
  key: QVFCWXFpQmN6RmZUSUJBQW56Ym5jZVE5alhLMGJBUUxWUTVaWEE9PQ==
"""),
    ("Pod", """
apiVersion: v1
kind: Pod
metadata:
  name: rbd
spec:
  containers:
    - image: kubernetes/pause
      name: rbd-rw
      volumeMounts:
      - name: rbdpd
        mountPath: /mnt/rbd
  volumes:
    - name: rbdpd
      rbd:
        monitors:
        - '10.10.113.15:6789'
        - '10.10.113.16:6789'
        - '10.10.113.17:6789'
        pool: kube
        image: foo
        fsType: xfs
        readOnly: false
        user: admin
        secretRef:
          name: ceph-secret
"""),
    ("PersistentVolume", """
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-volume
  labels:
    type: local
spec:
  capacity:
    storage: 10Gi
  accessModes:
    - ReadWriteOnce
  rbd:
    monitors:
    - '10.10.113.15:6789'
    - '10.10.113.16:6789'
    - '10.10.113.17:6789'
    pool: kube
    image: foo
    fsType: xfs
    readOnly: false
    user: admin
    secretRef:
      name: ceph-secret
"""),
    ("PersistentVolumeClaim", """
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: pv-claim
spec:
  accessModes:
  - ReadWriteOnce
  resources:
    requests:
      storage: 1Gi
"""),
    ("Pod", """
apiVersion: v1
kind: Pod
metadata:
  name: pv-pod
spec:
  containers:
    - name: pv-container
      image: nginx
      ports:
        - containerPort: 80
          name: "http-server"
      volumeMounts:
        - mountPath: "/usr/share/nginx/html"
          name: pv-storage
  volumes:
    - name: pv-storage
      persistentVolumeClaim:
        claimName: pv-claim
"""),
    ("PersistentVolume", """
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-www-1
  labels:
    type: local
spec:
  capacity:
    storage: 10Gi
  accessModes:
    - ReadWriteOnce
  rbd:
    monitors:
    - '10.10.113.15:6789'
    - '10.10.113.16:6789'
    - '10.10.113.17:6789'
    pool: kube
    image: www-1
    fsType: xfs
    readOnly: false
    user: admin
    secretRef:
      name: ceph-secret
"""),
    ("StatefulSet", """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: "nginx"
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
        - name: nginx
          image: nginx:1.9.1
          ports:
            - containerPort: 80
              name: web
          volumeMounts:
          - name: www
            mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes:
      - ReadWriteOnce
      resources:
        requests:
          storage: 1Gi
"""),
    # 003: the inline rbd pod with image format fields (unknown fields are the decoder's business)
    ("Pod", """
apiVersion: v1
kind: Pod
metadata:
  name: rbd
spec:
  containers:
    - image: kubernetes/pause
      name: rbd-rw
      volumeMounts:
      - name: rbdpd
        mountPath: /mnt/rbd
  volumes:
    - name: rbdpd
      rbd:
        monitors:
        - '10.16.154.78:6789'
        - '10.16.154.82:6789'
        - '10.16.154.83:6789'
        pool: kube
        image: foo
        fsType: ext4
        readOnly: true
        user: admin
        keyring: /etc/ceph/keyring
        imageformat: "2"
        imagefeatures: "layering"
"""),
    # 004: Opaque secret, Recycle PV, claim, busybox pods
    ("Secret", """
apiVersion: v1
kind: Secret
metadata:
  name: ceph-secret
data:
  key: QVFCaUtCeFl1UFhpSlJBQXN1cG5UQnNVUm9XemIwazAwb00zaVE9PQo=
"""),
    ("PersistentVolume", """
apiVersion: v1
kind: PersistentVolume
metadata:
  name: ceph-pv
spec:
  capacity:
    storage: 1Gi
  accessModes:
    - ReadWriteOnce
  rbd:
    monitors:
      - 10.47.136.60:6789
    pool: rbd
    image: ceph-image
    user: admin
    secretRef:
      name: ceph-secret
    fsType: ext4
    readOnly: false
  persistentVolumeReclaimPolicy: Recycle
"""),
    ("PersistentVolumeClaim", """
kind: PersistentVolumeClaim
apiVersion: v1
metadata:
  name: ceph-claim
spec:
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 1Gi
"""),
    ("Pod", """
apiVersion: v1
kind: Pod
metadata:
  name: ceph-pod1
spec:
  containers:
  - name: ceph-busybox1
    image: busybox
    command: ["sleep", "600000"]
    volumeMounts:
    - name: ceph-vol1
      mountPath: /usr/share/busybox
      readOnly: false
  volumes:
  - name: ceph-vol1
    persistentVolumeClaim:
      claimName: ceph-claim
"""),
]


@pytest.mark.parametrize("kind,manifest", SEEDS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(SEEDS)])
def test_seed_manifests_are_valid(kind, manifest):
    assert triples(validate(kind, prepared(kind, manifest))) == []


def _seed_000_mysql() -> str:
    """Shared with test_conversion.py, loaded by path so the import works in any pytest mode."""
    spec = importlib.util.spec_from_file_location("_conversion_seeds", Path(__file__).with_name("test_conversion.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SEED_000_MYSQL


def test_seed_000_mysql_statefulset_is_valid():
    obj = prepared("StatefulSet", _seed_000_mysql(), "kube-system")
    assert obj["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert validate("StatefulSet", obj) == []


def test_seed_003_pv_without_access_modes_is_rejected_as_kubernetes_does():
    pv = prepared("PersistentVolume", """
kind: PersistentVolume
apiVersion: v1
metadata:
  name: pv-volume
  labels:
    type: local
spec:
  capacity:
    storage: 10Gi
  rbd:
    monitors:
    - '10.16.154.78:6789'
    pool: kube
    image: foo
""")
    causes = validate("PersistentVolume", pv)
    assert triples(causes) == [("spec.accessModes", "FieldValueRequired", "Required value")]
    assert invalid("PersistentVolume", "pv-volume", causes).message == \
        'PersistentVolume "pv-volume" is invalid: spec.accessModes: Required value'


# ----------------------------------------------------------------------------- create errors

def pv(**spec):
    base = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}
    base.update(spec)
    return prepared("PersistentVolume", {"metadata": {"name": "pv1"}, "spec": {k: v for k, v in base.items() if v is not None}})


def pvc(name="claim", **spec):
    base = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    base.update(spec)
    return prepared("PersistentVolumeClaim", {"metadata": {"name": name}, "spec": {k: v for k, v in base.items() if v is not None}})


def pod(spec_changes=None, name="p"):
    spec = {"containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "claim"}}]}
    spec.update(spec_changes or {})
    return prepared("Pod", {"metadata": {"name": name}, "spec": spec})


def sts(**spec_changes):
    spec = {"serviceName": "nginx", "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "n", "image": "nginx"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                                            "resources": {"requests": {"storage": "1Gi"}}}}]}
    spec.update(spec_changes)
    return prepared("StatefulSet", {"apiVersion": "apps/v1", "metadata": {"name": "web"}, "spec": spec})


CREATE_CASES = [
    ("pv-no-access-modes", "PersistentVolume", pv(accessModes=None),
     [("spec.accessModes", "FieldValueRequired", "Required value")]),
    ("pv-bad-access-mode", "PersistentVolume", pv(accessModes=["ReadWriteSometimes"]),
     [("spec.accessModes", "FieldValueNotSupported", 'Unsupported value: "ReadWriteSometimes": supported values: '
                                                     '"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"')]),
    ("pv-rwop-mixed", "PersistentVolume", pv(accessModes=["ReadWriteOncePod", "ReadWriteOnce"]),
     [("spec.accessModes", "FieldValueForbidden", "Forbidden: may not use ReadWriteOncePod with other access modes")]),
    ("pv-two-sources", "PersistentVolume", pv(rbd={"monitors": ["m:6789"], "image": "i"}),
     [("spec.rbd", "FieldValueForbidden", "Forbidden: may not specify more than 1 volume type")]),
    ("pv-no-source", "PersistentVolume", pv(hostPath=None),
     [("spec", "FieldValueRequired", "Required value: must specify a volume type")]),
    ("pv-host-path-required", "PersistentVolume", pv(hostPath={"path": ""}),
     [("spec.hostPath.path", "FieldValueRequired", "Required value")]),
    ("pv-host-path-backsteps", "PersistentVolume", pv(hostPath={"path": "/a/../b"}),
     [("spec.hostPath.path", "FieldValueInvalid", 'Invalid value: "/a/../b": must not contain \'..\'')]),
    ("pv-rbd-required", "PersistentVolume", pv(hostPath=None, rbd={"pool": "kube"}),
     [("spec.rbd.monitors", "FieldValueRequired", "Required value"),
      ("spec.rbd.image", "FieldValueRequired", "Required value")]),
    ("pv-zero-capacity", "PersistentVolume", pv(capacity={"storage": "0"}),
     [("spec.capacity[storage]", "FieldValueInvalid", 'Invalid value: "0": must be greater than zero')]),
    ("pv-negative-capacity", "PersistentVolume", pv(capacity={"storage": "-1Gi"}),
     [("spec.capacity[storage]", "FieldValueInvalid", "Invalid value: -1073741824: must be a valid resource quantity"),
      ("spec.capacity[storage]", "FieldValueInvalid", 'Invalid value: "-1Gi": must be greater than zero')]),
    ("pv-bad-reclaim", "PersistentVolume", pv(persistentVolumeReclaimPolicy="Keep"),
     [("spec.persistentVolumeReclaimPolicy", "FieldValueNotSupported",
       'Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain"')]),
    ("pv-recycle-root", "PersistentVolume", pv(persistentVolumeReclaimPolicy="Recycle", hostPath={"path": "/"}),
     [("spec.persistentVolumeReclaimPolicy", "FieldValueForbidden",
       "Forbidden: may not be 'recycle' for a hostPath mount of '/'")]),
    ("pv-bad-class", "PersistentVolume", pv(storageClassName="Gold_1"),
     [("spec.storageClassName", "FieldValueInvalid", f'Invalid value: "Gold_1": {SUBDOMAIN_MSG}')]),
    ("pv-bad-volume-mode", "PersistentVolume", pv(volumeMode="Raw"),
     [("spec.volumeMode", "FieldValueNotSupported", 'Unsupported value: "Raw": supported values: "Block", "Filesystem"')]),
    ("pv-node-affinity-required", "PersistentVolume", pv(nodeAffinity={}),
     [("spec.nodeAffinity.required", "FieldValueRequired", "Required value: must specify required node constraints")]),
    ("pv-node-affinity-terms", "PersistentVolume", pv(nodeAffinity={"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "Near", "values": ["n1"]}]}]}}),
     [("spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].operator", "FieldValueInvalid",
       'Invalid value: "Near": not a valid selector operator')]),
    ("pv-local-needs-affinity", "PersistentVolume", pv(hostPath=None, local={"path": "/mnt/disk"}),
     [("spec.nodeAffinity", "FieldValueRequired", "Required value: Local volume requires node affinity")]),
    ("pv-capacity-not-storage", "PersistentVolume", pv(capacity={"storage": "1Gi", "cpu": "1"}),
     [("spec.capacity", "FieldValueNotSupported",
       'Unsupported value: core.ResourceList{"storage":resource.Quantity{i:resource.int64Amount{value:1073741824, '
       'scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"1Gi", Format:"BinarySI"}, "cpu":resource.Quantity'
       '{i:resource.int64Amount{value:1, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"1", '
       'Format:"DecimalSI"}}: supported values: "storage"')]),
    ("pv-name", "PersistentVolume", prepared("PersistentVolume", {"metadata": {"name": "Foo_bar"}, "spec": pv()["spec"]}),
     [("metadata.name", "FieldValueInvalid", f'Invalid value: "Foo_bar": {SUBDOMAIN_MSG}')]),
    ("pv-no-name", "PersistentVolume", prepared("PersistentVolume", {"spec": pv()["spec"]}),
     [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]),
    ("pvc-empty", "PersistentVolumeClaim", prepared("PersistentVolumeClaim", {"metadata": {"name": "c"}, "spec": {}}),
     [("spec.accessModes", "FieldValueRequired", "Required value: at least 1 access mode is required"),
      ("spec.resources[storage]", "FieldValueRequired", "Required value")]),
    ("pvc-negative-storage", "PersistentVolumeClaim", pvc(resources={"requests": {"storage": "-1Gi"}}),
     [("spec.resources[storage]", "FieldValueInvalid", 'Invalid value: "-1Gi": must be greater than zero')]),
    ("pvc-zero-storage", "PersistentVolumeClaim", pvc(resources={"requests": {"storage": 0}}),
     [("spec.resources[storage]", "FieldValueInvalid", 'Invalid value: "0": must be greater than zero')]),
    ("pvc-bad-mode", "PersistentVolumeClaim", pvc(accessModes=["ReadWriteOnce", "RWX"]),
     [("spec.accessModes", "FieldValueNotSupported", 'Unsupported value: "RWX": supported values: "ReadOnlyMany", '
                                                     '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"')]),
    ("pvc-selector", "PersistentVolumeClaim", pvc(selector={"matchExpressions": [{"key": "type", "operator": "In"}]}),
     [("spec.selector.matchExpressions[0].values", "FieldValueRequired",
       "Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
    ("pvc-selector-label", "PersistentVolumeClaim", pvc(selector={"matchLabels": {"type": "local!"}}),
     [("spec.selector.matchLabels", "FieldValueInvalid", f'Invalid value: "local!": {LABEL_VALUE_MSG}')]),
    ("pvc-class", "PersistentVolumeClaim", pvc(storageClassName="Fast"),
     [("spec.storageClassName", "FieldValueInvalid", f'Invalid value: "Fast": {SUBDOMAIN_MSG}')]),
    ("pvc-volume-mode", "PersistentVolumeClaim", pvc(volumeMode="block"),
     [("spec.volumeMode", "FieldValueNotSupported", 'Unsupported value: "block": supported values: "Block", "Filesystem"')]),
    ("pvc-data-source", "PersistentVolumeClaim", pvc(dataSource={"kind": "VolumeSnapshot", "name": "snap"}),
     [("spec.dataSource", "FieldValueInvalid",
       "Invalid value: \"VolumeSnapshot\": must be 'PersistentVolumeClaim' when referencing the default apiGroup")]),
    ("labels", "PersistentVolumeClaim", prepared("PersistentVolumeClaim", {
        "metadata": {"name": "c", "labels": {"bad key": "v", "ok": "-bad-"}}, "spec": pvc()["spec"]}),
     [("metadata.labels", "FieldValueInvalid", f'Invalid value: "bad key": {QNAME_MSG}'),
      ("metadata.labels", "FieldValueInvalid", f'Invalid value: "-bad-": {LABEL_VALUE_MSG}')]),
    ("label-value-too-long", "PersistentVolumeClaim", prepared("PersistentVolumeClaim", {
        "metadata": {"name": "c", "labels": {"k": "a" * 64}}, "spec": pvc()["spec"]}),
     [("metadata.labels", "FieldValueInvalid", f'Invalid value: "{"a" * 64}": must be no more than 63 characters')]),
    ("annotations-too-big", "PersistentVolumeClaim", prepared("PersistentVolumeClaim", {
        "metadata": {"name": "c", "annotations": {"k": "x" * (256 * 1024)}}, "spec": pvc()["spec"]}),
     [("metadata.annotations", "FieldValueTooLong", "Too long: may not be more than 262144 bytes")]),
    ("finalizer", "PersistentVolumeClaim", prepared("PersistentVolumeClaim", {
        "metadata": {"name": "c", "finalizers": ["pvc-protection"]}, "spec": pvc()["spec"]}),
     [("metadata.finalizers[0]", "FieldValueInvalid",
       'Invalid value: "pvc-protection": name is neither a standard finalizer name nor is it fully qualified')]),
    ("generate-name", "PersistentVolumeClaim", prepared("PersistentVolumeClaim", {
        "metadata": {"generateName": "Claim-"}, "spec": pvc()["spec"]}),
     [("metadata.generateName", "FieldValueInvalid", f'Invalid value: "Claim-": {SUBDOMAIN_MSG}'),
      ("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]),
    ("sc-no-provisioner", "StorageClass", prepared("StorageClass", {"metadata": {"name": "sc"}}),
     [("provisioner", "FieldValueRequired", "Required value")]),
    ("sc-bad-values", "StorageClass", prepared("StorageClass", {
        "metadata": {"name": "sc"}, "provisioner": "a/b/c", "reclaimPolicy": "Recycle", "volumeBindingMode": "Later"}),
     [("provisioner", "FieldValueInvalid",
       "Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
       "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
       "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
       "(e.g. 'example.com/MyName')"),
      ("reclaimPolicy", "FieldValueNotSupported", 'Unsupported value: "Recycle": supported values: "Delete", "Retain"'),
      ("volumeBindingMode", "FieldValueNotSupported",
       'Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"')]),
    ("secret-key", "Secret", prepared("Secret", {"metadata": {"name": "s"}, "data": {"a/b": "QQ=="}}),
     [("data[a/b]", "FieldValueInvalid",
       "Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
       "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]),
    ("secret-too-big", "Secret", prepared("Secret", {"metadata": {"name": "s"},
                                                     "stringData": {"big": "x" * (1024 * 1024 + 1)}}),
     [("data", "FieldValueTooLong", "Too long: may not be more than 1048576 bytes")]),
    ("secret-tls", "Secret", prepared("Secret", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}),
     [("data[tls.crt]", "FieldValueRequired", "Required value"), ("data[tls.key]", "FieldValueRequired", "Required value")]),
    ("secret-dockerconfig", "Secret", prepared("Secret", {"metadata": {"name": "s"}, "type": "kubernetes.io/dockerconfigjson",
                                                          "stringData": {".dockerconfigjson": "x"}}),
     [("data[.dockerconfigjson]", "FieldValueInvalid",
       "Invalid value: \"<secret contents redacted>\": invalid character 'x' looking for beginning of value")]),
    ("configmap-key", "ConfigMap", prepared("ConfigMap", {"metadata": {"name": "c"}, "data": {"..": "x", "a b": "y"}}),
     [("data[..]", "FieldValueInvalid", "Invalid value: \"..\": must not be '..'"),
      ("data[a b]", "FieldValueInvalid",
       "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
       "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]),
    ("pod-no-containers", "Pod", pod({"containers": []}),
     [("spec.containers", "FieldValueRequired", "Required value")]),
    ("pod-no-image", "Pod", pod({"containers": [{"name": "c"}], "volumes": []}),
     [("spec.containers[0].image", "FieldValueRequired", "Required value")]),
    ("pod-container-names", "Pod", pod({"containers": [{"name": "web", "image": "a"}, {"name": "web", "image": "b"},
                                                       {"name": "Web_2", "image": "c"}], "volumes": []}),
     [("spec.containers[1].name", "FieldValueDuplicate", 'Duplicate value: "web"'),
      ("spec.containers[2].name", "FieldValueInvalid", f'Invalid value: "Web_2": {LABEL_MSG}')]),
    ("pod-mount-unknown-volume", "Pod", pod({"volumes": []}),
     [("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", 'Not found: "data"')]),
    ("pod-mount-path", "Pod", pod({"containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "data"}]}]}),
     [("spec.containers[0].volumeMounts[0].mountPath", "FieldValueRequired", "Required value")]),
    ("pod-claim-name", "Pod", pod({"volumes": [{"name": "data", "persistentVolumeClaim": {}}]}),
     [("spec.volumes[0].persistentVolumeClaim.claimName", "FieldValueRequired", "Required value"),
      ("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", 'Not found: "data"')]),
    ("pod-two-sources", "Pod", pod({"volumes": [{"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}}]}),
     [("spec.volumes[0].hostPath", "FieldValueForbidden", "Forbidden: may not specify more than 1 volume type"),
      ("spec.containers[0].volumeMounts[0].name", "FieldValueNotFound", 'Not found: "data"')]),
    ("pod-volume-names", "Pod", pod({"volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}},
                                                 {"name": "Bad", "emptyDir": {}}]}),
     [("spec.volumes[1].name", "FieldValueDuplicate", 'Duplicate value: "data"'),
      ("spec.volumes[2].name", "FieldValueInvalid", f'Invalid value: "Bad": {LABEL_MSG}')]),
    ("pod-ports", "Pod", pod({"containers": [{"name": "c", "image": "i", "ports": [
        {"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP", "name": "http--x"}]}], "volumes": []}),
     [("spec.containers[0].ports[0].containerPort", "FieldValueInvalid",
       "Invalid value: 70000: must be between 1 and 65535, inclusive"),
      ("spec.containers[0].ports[1].name", "FieldValueInvalid", 'Invalid value: "http--x": must not contain consecutive hyphens'),
      ("spec.containers[0].ports[1].protocol", "FieldValueNotSupported",
       'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')]),
    ("pod-restart-policy", "Pod", pod({"restartPolicy": "Sometimes"}),
     [("spec.restartPolicy", "FieldValueNotSupported",
       'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    ("pod-requests-over-limits", "Pod", pod({"containers": [{"name": "c", "image": "i", "resources": {
        "limits": {"cpu": "1"}, "requests": {"cpu": "2"}}}], "volumes": []}),
     [("spec.containers[0].resources.requests", "FieldValueInvalid",
       'Invalid value: "2": must be less than or equal to cpu limit of 1')]),
    ("pod-env-from", "Pod", pod({"containers": [{"name": "c", "image": "i", "env": [
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}], "volumes": []}),
     [("spec.containers[0].env[0].valueFrom.secretKeyRef.key", "FieldValueRequired", "Required value")]),
    ("pod-init-containers", "Pod", pod({"initContainers": [
        {"name": "c", "image": "i", "restartPolicy": "OnFailure", "readinessProbe": {"exec": {"command": ["true"]}}}]}),
     [("spec.initContainers[0].restartPolicy", "FieldValueNotSupported",
       'Unsupported value: "OnFailure": supported values: "Always"'),
      ("spec.initContainers[0].name", "FieldValueDuplicate", 'Duplicate value: "c"'),
      ("spec.initContainers[0].readinessProbe", "FieldValueForbidden",
       "Forbidden: may not be set for init containers without restartPolicy=Always")]),
    ("pod-host-network", "Pod", pod({"hostNetwork": True, "containers": [
        {"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 8080}]}], "volumes": []}),
     [("spec.containers[0].ports[0].hostPort", "FieldValueInvalid",
       "Invalid value: 8080: must match `containerPort` when `hostNetwork` is true")]),
    ("pod-ephemeral-on-create", "Pod", pod({"ephemeralContainers": [{"name": "debug", "image": "busybox"}]}),
     [("spec.ephemeralContainers", "FieldValueForbidden", "Forbidden: cannot be set on create")]),
    ("pod-tolerations", "Pod", pod({"tolerations": [{"operator": "Equal", "value": "v"},
                                                    {"key": "k", "operator": "Exists", "value": "v"}]}),
     [("spec.tolerations[0].operator", "FieldValueInvalid",
       'Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"'),
      ("spec.tolerations[1].operator", "FieldValueInvalid",
       "Invalid value: \"v\": value must be empty when `operator` is 'Exists'")]),
    ("service-name", "Service", prepared("Service", {"metadata": {"name": "1abc"}, "spec": {"ports": [{"port": 80}]}}),
     [("metadata.name", "FieldValueInvalid", f'Invalid value: "1abc": {DNS1035_MSG}')]),
    ("service-no-ports", "Service", prepared("Service", {"metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}}}),
     [("spec.ports", "FieldValueRequired", "Required value")]),
    ("service-port-range", "Service", prepared("Service", {"metadata": {"name": "s"}, "spec": {
        "ports": [{"port": 0, "name": "a"}, {"port": 80, "name": "a", "targetPort": 70000}]}}),
     [("spec.ports[0].port", "FieldValueInvalid", "Invalid value: 0: must be between 1 and 65535, inclusive"),
      # targetPort was defaulted from the invalid port, so Kubernetes reports it too
      ("spec.ports[0].targetPort", "FieldValueInvalid", "Invalid value: 0: must be between 1 and 65535, inclusive"),
      ("spec.ports[1].name", "FieldValueDuplicate", 'Duplicate value: "a"'),
      ("spec.ports[1].targetPort", "FieldValueInvalid", "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("service-type", "Service", prepared("Service", {"metadata": {"name": "s"}, "spec": {
        "type": "Internal", "ports": [{"port": 80}]}}),
     [("spec.type", "FieldValueNotSupported",
       'Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"')]),
    ("service-external-ip", "Service", prepared("Service", {"metadata": {"name": "s"}, "spec": {
        "ports": [{"port": 80}], "externalIPs": ["127.0.0.1", "10.0.0"]}}),
     [("spec.externalIPs[0]", "FieldValueInvalid",
       'Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'),
      ("spec.externalIPs[1]", "FieldValueInvalid",
       'Invalid value: "10.0.0": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)')]),
    ("sts-selector-mismatch", "StatefulSet", sts(selector={"matchLabels": {"app": "web"}}),
     [("spec.template.metadata.labels", "FieldValueInvalid",
       'Invalid value: map[string]string{"app":"nginx"}: `selector` does not match template `labels`')]),
    ("sts-template-without-labels", "StatefulSet", sts(template={"spec": {"containers": []}}),
     [("spec.template.metadata.labels", "FieldValueInvalid",
       "Invalid value: map[string]string(nil): `selector` does not match template `labels`")]),
    ("sts-no-selector", "StatefulSet", sts(selector=None),
     [("spec.selector", "FieldValueRequired", "Required value")]),
    ("sts-empty-selector", "StatefulSet", sts(selector={}),
     [("spec.selector", "FieldValueInvalid", "Invalid value: &LabelSelector{MatchLabels:map[string]string{},"
                                             "MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is "
                                             "invalid for statefulset")]),
    ("sts-replicas", "StatefulSet", sts(replicas=-1, podManagementPolicy="Random"),
     [("spec.podManagementPolicy", "FieldValueInvalid", "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"),
      ("spec.replicas", "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0")]),
    ("sts-strategy", "StatefulSet", sts(updateStrategy={"type": "Canary"}),
     [("spec.updateStrategy", "FieldValueInvalid",
       'Invalid value: apps.StatefulSetUpdateStrategy{Type:"Canary", RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)'
       "(nil)}: must be 'RollingUpdate' or 'OnDelete'")]),
    ("sts-restart-policy", "StatefulSet", sts(template={"metadata": {"labels": {"app": "nginx"}},
                                                       "spec": {"restartPolicy": "Never", "containers": []}}),
     [("spec.template.spec.restartPolicy", "FieldValueNotSupported", 'Unsupported value: "Never": supported values: "Always"')]),
    ("sts-name-is-a-label", "StatefulSet", prepared("StatefulSet", {**sts(), "metadata": {"name": "web.v1"}}),
     [("metadata.name", "FieldValueInvalid", 'Invalid value: "web.v1": must not contain dots')]),
    ("namespace-name", "Namespace", prepared("Namespace", {"metadata": {"name": "team.a"}}),
     [("metadata.name", "FieldValueInvalid", 'Invalid value: "team.a": must not contain dots')]),
    ("node-taints", "Node", prepared("Node", {"metadata": {"name": "n1"}, "spec": {"taints": [
        {"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}, {"key": "k2", "effect": "Maybe"}]},
        "status": {"capacity": {"pods": "1.5"}}}),
     [("metadata.taints[1]", "FieldValueDuplicate",
       'Duplicate value: core.Taint{Key:"k", Value:"", Effect:"NoSchedule", TimeAdded:<nil>}: taints must be unique by key and effect pair'),
      ("metadata.taints[2].effect", "FieldValueNotSupported",
       'Unsupported value: "Maybe": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'),
      ("status.capacity.pods", "FieldValueInvalid", "Invalid value: 1500m: must be an integer"),
      # allocatable is defaulted from capacity
      ("status.allocatable.pods", "FieldValueInvalid", "Invalid value: 1500m: must be an integer")]),
    ("event-namespace", "Event", prepared("Event", {"metadata": {"name": "e"}, "involvedObject": {"namespace": "other"}}),
     [("involvedObject.namespace", "FieldValueInvalid", 'Invalid value: "other": does not match event.namespace')]),
    ("event-no-name", "Event", prepared("Event", {"involvedObject": {"namespace": "default"}}),
     [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")]),
    ("lease", "Lease", prepared("Lease", {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}}),
     [("spec.leaseDurationSeconds", "FieldValueInvalid", "Invalid value: 0: must be greater than 0"),
      ("spec.leaseTransitions", "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0")]),
    ("endpoints", "Endpoints", prepared("Endpoints", {"metadata": {"name": "e"}, "subsets": [
        {"addresses": [{"ip": "169.254.1.1"}], "ports": [{"port": 80}]}, {"ports": [{"port": 81}]}]}),
     [("subsets[0].addresses[0].ip", "FieldValueInvalid",
       'Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'),
      ("subsets[1]", "FieldValueRequired", "Required value: must specify `addresses` or `notReadyAddresses`")]),
]


@pytest.mark.parametrize("kind,obj,expected", [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_create_validation(kind, obj, expected):
    assert triples(validate(kind, obj)) == expected


def test_aggregate_message_like_kubectl_prints():
    causes = validate("PersistentVolumeClaim", prepared("PersistentVolumeClaim", {"metadata": {"name": "c"}, "spec": {}}))
    assert invalid("PersistentVolumeClaim", "c", causes).message == (
        'PersistentVolumeClaim "c" is invalid: [spec.accessModes: Required value: at least 1 access mode is required, '
        "spec.resources[storage]: Required value]")


def test_generic_name_rules_apply_after_kind_rules():
    ev = prepared("Event", {"metadata": {"name": "a/b"}, "involvedObject": {"namespace": "default"}})
    assert triples(validate("Event", ev)) == [("metadata.name", "FieldValueInvalid", 'Invalid value: "a/b": may not contain \'/\'')]


# ----------------------------------------------------------------------------- updates

def bound(claim: dict, capacity: str = "1Gi", volume: str = "pv1") -> dict:
    claim = copy.deepcopy(claim)
    claim["spec"]["volumeName"] = volume
    claim["status"] = {"phase": "Bound", "capacity": {"storage": capacity}, "accessModes": ["ReadWriteOnce"]}
    return claim


def changed(obj: dict, mutate) -> dict:
    new = copy.deepcopy(obj)
    mutate(new)
    return new


def test_pvc_update_rules():
    old = bound(pvc(storageClassName="manual"))
    # expansion of a bound claim is allowed
    grow = changed(old, lambda o: o["spec"]["resources"]["requests"].update(storage="2Gi"))
    assert validate("PersistentVolumeClaim", grow, old) == []
    # other spec changes are not, with the Kubernetes message and a diff
    causes = validate("PersistentVolumeClaim", changed(old, lambda o: o["spec"].update(storageClassName="gold")), old)
    assert len(causes) == 1 and causes[0].field == "spec" and causes[0].reason == "FieldValueForbidden"
    assert causes[0].message.startswith(
        "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims\n  core.PersistentVolumeClaimSpec{\n")
    assert '- \tStorageClassName: &"manual",\n+ \tStorageClassName: &"gold",' in causes[0].message
    # shrinking below what the volume has
    grown = changed(bound(pvc(resources={"requests": {"storage": "2Gi"}}), capacity="2Gi"), lambda o: None)
    shrink = changed(grown, lambda o: o["spec"]["resources"]["requests"].update(storage="1Gi"))
    assert triples(validate("PersistentVolumeClaim", shrink, grown)) == [
        ("spec.resources.requests.storage", "FieldValueForbidden", "Forbidden: field can not be less than status.capacity")]
    # a failed expansion may be walked back to above the actual capacity
    pending = bound(pvc(resources={"requests": {"storage": "5Gi"}}), capacity="2Gi")
    retry = changed(pending, lambda o: o["spec"]["resources"]["requests"].update(storage="3Gi"))
    assert validate("PersistentVolumeClaim", retry, pending) == []


def test_unbound_claims_are_immutable_but_volume_name_is_set_once():
    old = pvc()
    resized = changed(old, lambda o: o["spec"]["resources"]["requests"].update(storage="2Gi"))
    assert [c.field for c in validate("PersistentVolumeClaim", resized, old)] == ["spec"]
    named = changed(old, lambda o: o["spec"].update(volumeName="pv1"))
    assert validate("PersistentVolumeClaim", named, old) == []
    renamed = changed(named, lambda o: o["spec"].update(volumeName="pv2"))
    assert [c.field for c in validate("PersistentVolumeClaim", renamed, named)] == ["spec"]
    mode = changed(old, lambda o: o["spec"].update(volumeMode="Block"))
    assert ("volumeMode", "FieldValueInvalid", 'Invalid value: "Block": field is immutable') in \
        triples(validate("PersistentVolumeClaim", mode, old))


def test_pvc_storage_class_from_beta_annotation():
    old = prepared("PersistentVolumeClaim", SEEDS[12][1])
    upgraded = changed(old, lambda o: o["spec"].update(storageClassName="slow"))
    assert validate("PersistentVolumeClaim", upgraded, old) == []
    other = changed(old, lambda o: o["spec"].update(storageClassName="fast"))
    assert [c.field for c in validate("PersistentVolumeClaim", other, old)] == ["spec"]


def test_pv_update_rules():
    old = prepared("PersistentVolume", SEEDS[10][1])
    # seed 000: capacity edits after an rbd resize, and patching the reclaim policy, are allowed
    assert validate("PersistentVolume", changed(old, lambda o: o["spec"]["capacity"].update(storage="20Gi")), old) == []
    assert validate("PersistentVolume", changed(old, lambda o: o["spec"].update(persistentVolumeReclaimPolicy="Retain")),
                    old) == []
    causes = validate("PersistentVolume", changed(old, lambda o: o["spec"]["rbd"].update(image="other")), old)
    assert [(c.field, c.reason) for c in causes] == [("spec.persistentvolumesource", "FieldValueForbidden")]
    assert causes[0].message.startswith("Forbidden: spec.persistentvolumesource is immutable after creation\n")
    assert triples(validate("PersistentVolume", changed(old, lambda o: o["spec"].update(volumeMode="Block")), old)) == [
        ("volumeMode", "FieldValueInvalid", 'Invalid value: "Block": field is immutable')]


def test_storage_class_update_rules():
    old = prepared("StorageClass", SEEDS[5][1])
    new = changed(old, lambda o: (o["parameters"].update(pool="other"), o.update(provisioner="rbd.csi.ceph.com",
                                                                                  reclaimPolicy="Retain",
                                                                                  volumeBindingMode="WaitForFirstConsumer")))
    assert triples(validate("StorageClass", new, old)) == [
        ("parameters", "FieldValueForbidden", "Forbidden: updates to parameters are forbidden."),
        ("provisioner", "FieldValueForbidden", "Forbidden: updates to provisioner are forbidden."),
        ("reclaimPolicy", "FieldValueForbidden", "Forbidden: updates to reclaimPolicy are forbidden."),
        ("volumeBindingMode", "FieldValueInvalid", 'Invalid value: "WaitForFirstConsumer": field is immutable')]
    labelled = changed(old, lambda o: o["metadata"]["labels"].update(tier="gold"))
    assert validate("StorageClass", labelled, old) == []


def test_secret_and_configmap_update_rules():
    old = prepared("Secret", SEEDS[4][1])
    assert triples(validate("Secret", changed(old, lambda o: o.update(type="Opaque")), old)) == [
        ("type", "FieldValueInvalid", 'Invalid value: "Opaque": field is immutable')]
    frozen = changed(old, lambda o: o.update(immutable=True))
    assert validate("Secret", frozen, old) == []
    thawed = changed(frozen, lambda o: (o.update(immutable=False), o["data"].update(key="QQ==")))
    assert triples(validate("Secret", thawed, frozen)) == [
        ("immutable", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set"),
        ("data", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set")]
    cm = prepared("ConfigMap", {"metadata": {"name": "c"}, "data": {"a": "1"}, "immutable": True})
    assert [c.field for c in validate("ConfigMap", changed(cm, lambda o: o["data"].update(a="2")), cm)] == ["data"]


def test_statefulset_update_rules():
    old = prepared("StatefulSet", SEEDS[20][1])
    # kubectl scale / patch replicas, template changes and strategy changes are allowed
    for mutate in (lambda o: o["spec"].update(replicas=3),
                   lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.25"),
                   lambda o: o["spec"].update(updateStrategy={"type": "OnDelete"}),
                   lambda o: o["spec"].update(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete",
                                                                                     "whenScaled": "Retain"})):
        assert validate("StatefulSet", changed(old, mutate), old) == []
    for mutate in (lambda o: o["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"].update(storage="2Gi"),
                   lambda o: o["spec"].update(serviceName="other")):
        assert triples(validate("StatefulSet", changed(old, mutate), old)) == [("spec", "FieldValueForbidden",
                                                                                PARTS_OF_STS_UPDATE)]


def test_pod_update_rules():
    old = prepared("Pod", SEEDS[3][1])
    assert validate("Pod", changed(old, lambda o: o["spec"]["containers"][0].update(image="nginx:1.25")), old) == []
    causes = validate("Pod", changed(old, lambda o: o["spec"].update(restartPolicy="Never")), old)
    assert [(c.field, c.reason) for c in causes] == [("spec", "FieldValueForbidden")]
    assert causes[0].message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n")
    more = changed(old, lambda o: o["spec"]["containers"].append({"name": "x", "image": "y",
                                                                   "terminationMessagePolicy": "File",
                                                                   "imagePullPolicy": "Always"}))
    assert triples(validate("Pod", more, old)) == [
        ("spec.containers", "FieldValueForbidden", "Forbidden: pod updates may not add or remove containers")]
    tolerated = changed(old, lambda o: o["spec"].update(tolerations=[{"key": "k", "operator": "Exists"}]))
    assert validate("Pod", tolerated, old) == []


def test_metadata_is_immutable_on_update():
    old = pvc()
    renamed = changed(old, lambda o: o["metadata"].update(name="other"))
    assert ("metadata.name", "FieldValueInvalid", 'Invalid value: "other": field is immutable') in \
        triples(validate("PersistentVolumeClaim", renamed, old))


def test_service_cluster_ip_is_immutable():
    old = prepared("Service", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], "clusterIP": "10.96.0.10"}})
    new = changed(old, lambda o: o["spec"].update(clusterIP="10.96.0.11", clusterIPs=["10.96.0.11"]))
    assert ("spec.clusterIPs[0]", "FieldValueInvalid", 'Invalid value: []string{"10.96.0.11"}: may not change once set') \
        in triples(validate("Service", new, old))


# ----------------------------------------------------------------------------- status updates

def test_status_updates():
    old = bound(pvc())
    good = changed(old, lambda o: o["status"]["capacity"].update(storage="2Gi"))
    assert validate_status_update("PersistentVolumeClaim", good, old) == []
    bad = changed(old, lambda o: o["status"]["capacity"].update(storage="-1"))
    assert triples(validate_status_update("PersistentVolumeClaim", bad, old)) == [
        ("status.capacity[storage]", "FieldValueInvalid", "Invalid value: -1: must be a valid resource quantity")]
    ns = prepared("Namespace", {"metadata": {"name": "a"}})
    terminating = changed(ns, lambda o: o["status"].update(phase="Terminating"))
    assert triples(validate_status_update("Namespace", terminating, ns)) == [
        ("status.Phase", "FieldValueInvalid", "Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty")]
    s = prepared("StatefulSet", SEEDS[20][1])
    s_bad = changed(s, lambda o: o.update(status={"replicas": 1, "readyReplicas": 2, "availableReplicas": 0}))
    assert triples(validate_status_update("StatefulSet", s_bad, s)) == [
        ("status.readyReplicas", "FieldValueInvalid", "Invalid value: 2: cannot be greater than status.replicas")]
    p = prepared("Pod", SEEDS[3][1])
    moved = changed(p, lambda o: o["spec"].update(nodeName="node-1"))
    assert triples(validate_status_update("Pod", moved, p)) == [
        ("status.nodeName", "FieldValueForbidden", "Forbidden: may not be changed directly")]
    pv_old = prepared("PersistentVolume", SEEDS[0][1])
    assert validate_status_update("PersistentVolume", changed(pv_old, lambda o: o.update(status={"phase": "Available"})),
                                  pv_old) == []


# ----------------------------------------------------------------------------- decoding problems

def test_wrong_json_types_are_decode_errors():
    obj = pv()
    obj["spec"]["capacity"] = ["10Gi"]
    causes = validate("PersistentVolume", obj)
    assert triples(causes) == [("spec.capacity", "FieldValueTypeInvalid",
                                'Invalid value: "array": spec.capacity in body must be of type object: "array"')]
    assert decode_errors("PersistentVolume", obj) == causes
    assert decode_error_message("PersistentVolume", obj) == \
        "json: cannot unmarshal array into Go struct field .spec.capacity of type object"
    s = sts()
    s["spec"]["replicas"] = "3"
    assert triples(validate("StatefulSet", s)) == [
        ("spec.replicas", "FieldValueTypeInvalid", 'Invalid value: "string": spec.replicas in body must be of type integer: "string"')]
    assert decode_error_message("PersistentVolume", pv()) is None


def test_bad_quantities_are_decode_errors():
    claim = pvc(resources={"requests": {"storage": "10GB"}})
    assert claim["spec"]["resources"]["requests"]["storage"] == "10GB", "defaulting leaves it alone"
    assert triples(validate("PersistentVolumeClaim", claim)) == [
        ("spec.resources.requests[storage]", "FieldValueInvalid",
         "Invalid value: \"10GB\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    assert decode_error_message("PersistentVolumeClaim", claim) == \
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def test_bad_base64_is_a_decode_error():
    secret = prepared("Secret", {"metadata": {"name": "s"}, "data": {"key": "not base64!"}})
    assert triples(validate("Secret", secret)) == [
        ("data[key]", "FieldValueInvalid", 'Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3')]
    assert decode_error_message("Secret", secret) == "illegal base64 data at input byte 3"


@pytest.mark.parametrize("text,data,error", [
    ("QUJD", b"ABC", None), ("QUJDRA==", b"ABCD", None), ("QUJD\nRA==\r\n", b"ABCD", None), ("", b"", None),
    ("QQ=", None, "illegal base64 data at input byte 3"), ("Q", None, "illegal base64 data at input byte 0"),
    ("QUJDRA", None, "illegal base64 data at input byte 4"), ("a!b=", None, "illegal base64 data at input byte 1"),
    ("QQ==QQ==", None, "illegal base64 data at input byte 4"), ("QUJDRA=x", None, "illegal base64 data at input byte 6"),
])
def test_go_base64(text, data, error):
    got, err = go_base64_decode(text)
    assert err == error
    if data is not None:
        assert got == data


@pytest.mark.parametrize("s,quoted", [("abc", '"abc"'), ('a"b\\c', '"a\\"b\\\\c"'), ("a\nb\tc", '"a\\nb\\tc"'),
                                      ("\x00\x7f", '"\\x00\\x7f"'), ("ü中", '"ü中"'), ("\u200b", '"\\u200b"')])
def test_go_quote(s, quoted):
    assert go_quote(s) == quoted


# ----------------------------------------------------------------------------- never raise

KINDS = ["PersistentVolume", "PersistentVolumeClaim", "StorageClass", "Secret", "ConfigMap", "Pod", "Service",
         "StatefulSet", "Namespace", "Node", "Event", "Lease", "Endpoints", "ControllerRevision"]
BASES = {k: prepared(k, m) for k, m in reversed(SEEDS)}
BASES.update({
    "ConfigMap": prepared("ConfigMap", {"metadata": {"name": "c"}, "data": {"a": "b"}, "binaryData": {"b": "QQ=="}}),
    "Namespace": prepared("Namespace", {"metadata": {"name": "n"}, "spec": {"finalizers": ["kubernetes"]}}),
    "Node": prepared("Node", {"metadata": {"name": "n"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}],
                                                                  "podCIDRs": ["10.0.0.0/24"]},
                              "status": {"capacity": {"cpu": "2"}, "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}),
    "Event": prepared("Event", {"metadata": {"name": "e"}, "involvedObject": {"namespace": "default", "kind": "Pod"},
                                "reason": "Started", "count": 1}),
    "Lease": prepared("Lease", {"metadata": {"name": "l"}, "spec": {"holderIdentity": "h", "leaseDurationSeconds": 15}}),
    "ControllerRevision": prepared("ControllerRevision", {"metadata": {"name": "web-6d8f9c"}, "revision": 2,
                                                          "data": {"spec": {"template": {"metadata": {}}}}}),
    "Endpoints": prepared("Endpoints", {"metadata": {"name": "e"}, "subsets": [
        {"addresses": [{"ip": "10.0.0.1", "nodeName": "n"}], "ports": [{"port": 80, "name": "http"}]}]}),
})
BASES["Pod"] = pod({"initContainers": [{"name": "init", "image": "i", "restartPolicy": "Always",
                                        "livenessProbe": {"exec": {"command": ["true"]}}}],
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]}]}}},
                    "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "claim"}},
                                {"name": "p", "projected": {"sources": [{"downwardAPI": {"items": [
                                    {"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}}]})


def test_all_bases_are_valid():
    for kind in KINDS:
        assert triples(validate(kind, BASES[kind])) == [], kind


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                      st.sampled_from(["", "1Gi", "-1", "None", "RollingUpdate", "ReadWriteOnce", "a/b", "QQ==", "10GB",
                                       "0", "Bound", "127.0.0.1", "::1", "TCP", "OnDelete", "Exists", "In"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _node(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def _set(obj, path, value):
    if not path:
        return value
    _node(obj, path[:-1])[path[-1]] = value
    return obj


@st.composite
def mutated(draw):
    kind = draw(st.sampled_from(KINDS))
    obj = copy.deepcopy(BASES[kind])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(_paths(obj))
        path = draw(st.sampled_from(paths))
        obj = _set(obj, path, draw(json_value))
    return kind, obj


def _assert_no_internal_error(kind, obj, old):
    for status in (False, True):
        if status and old is None:
            continue
        errs, _ctx = _run(kind, obj, old, status)  # unguarded: a crash here fails the test
        assert all(isinstance(c, Cause) for c in errs)
    for causes in (validate(kind, obj, old), decode_errors(kind, obj)):
        assert all(c.reason != "InternalError" for c in causes)
        json.dumps([c.to_dict() for c in causes])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_validate_never_raises_on_mutated_objects(case):
    kind, obj = case
    _assert_no_internal_error(kind, obj, None)
    _assert_no_internal_error(kind, obj, BASES[kind])
    _assert_no_internal_error(kind, BASES[kind], obj if isinstance(obj, dict) else None)
    defaulted = copy.deepcopy(obj)
    apply_defaults(kind, defaulted)
    _assert_no_internal_error(kind, defaulted, BASES[kind])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KINDS + ["Unknown"]), json_value)
def test_validate_never_raises_on_garbage(kind, garbage):
    _assert_no_internal_error(kind, garbage, None)
    _assert_no_internal_error(kind, garbage, garbage)
    apply_defaults(kind, copy.deepcopy(garbage))


# Every field of every base object, in turn, given each JSON type it should not have: a systematic
# walk where the fuzzers above sample.  Compiled (setup.py), a helper annotated for one type that is
# handed another raises TypeError; this is the guard that no such path is left.
WRONG_TYPES = [None, 0, -1, 2 ** 64, 1.5, True, "", "x", [], [None], {}, {"": None}]


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_of_the_wrong_type_is_reported_not_raised(kind):
    base = BASES[kind]
    for path in list(_paths(base))[1:]:
        for wrong in WRONG_TYPES:
            obj = _set(copy.deepcopy(base), path, copy.deepcopy(wrong))
            _assert_no_internal_error(kind, obj, None)
            _assert_no_internal_error(kind, obj, base)
            _assert_no_internal_error(kind, base, obj)


# The same for every field the kind's OpenAPI schema knows, most of which no base object has: a
# "maximal" object (each property present, each list one item long, each map one entry) is walked
# node by node; each node is made null and then of another JSON type, and so (all at once) are the
# scalar fields directly under it.
KIND_GV = {"PersistentVolume": ("", "v1"), "PersistentVolumeClaim": ("", "v1"),
           "StorageClass": ("storage.k8s.io", "v1"), "Secret": ("", "v1"), "ConfigMap": ("", "v1"),
           "Pod": ("", "v1"), "Service": ("", "v1"), "StatefulSet": ("apps", "v1"), "Namespace": ("", "v1"),
           "Node": ("", "v1"), "Event": ("", "v1"), "Lease": ("coordination.k8s.io", "v1"),
           "Endpoints": ("", "v1"), "ControllerRevision": ("apps", "v1")}


def _maximal(res, node, depth=0):
    s = res.resolve(node)
    if depth > 12:
        return None
    if s.get("x-kubernetes-int-or-string"):
        return 1
    t = s.get("type")
    if s.get("properties"):
        fields = {k: _maximal(res, v, depth + 1) for k, v in s["properties"].items()}
        return {k: v for k, v in fields.items() if v is not None}
    if t == "object":
        item = _maximal(res, s["additionalProperties"], depth + 1) if isinstance(s.get("additionalProperties"),
                                                                                  dict) else None
        return {} if item is None else {"k": item}
    if t == "array":
        item = _maximal(res, s.get("items", {}), depth + 1)
        return [] if item is None else [item]
    if t == "string":
        return {"date-time": "2026-01-01T00:00:00Z", "byte": "QQ=="}.get(s.get("format"), "x")
    return {"integer": 1, "number": 1.5, "boolean": True}.get(t, "1")     # untyped: resource.Quantity


def _maximal_object(kind):
    group, version = KIND_GV[kind]
    res, root = schema._root((group, version, kind))
    obj = _maximal(res, root)
    obj.update(apiVersion=f"{group}/{version}" if group else version, kind=kind)
    obj["metadata"].update(name="n", namespace="default")
    return obj


def _other_type(v):
    return {dict: "x", list: {}, str: 0}.get(type(v), "x")


def _type_variants(full):
    fixed = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
    for path in _paths(full):
        node = _node(full, path)
        if not isinstance(node, (dict, list)):
            continue
        if path:
            for wrong in (None, _other_type(node)):
                yield _set(copy.deepcopy(full), path, wrong)
        keys = node.keys() if isinstance(node, dict) else range(len(node))
        scalars = [k for k in keys if not isinstance(node[k], (dict, list)) and path + (k,) not in fixed]
        for to_null in ((True, False) if scalars else ()):
            obj = copy.deepcopy(full)
            target = _node(obj, path)
            for k in scalars:
                target[k] = None if to_null else _other_type(target[k])
            yield obj


@pytest.mark.parametrize("kind", KINDS)
def test_every_schema_field_of_the_wrong_type_is_reported_not_raised(kind):
    full = _maximal_object(kind)
    assert len(list(_paths(full))) > 30             # the schema was found and walked
    for obj in _type_variants(full):
        for new, old, status in ((obj, None, False), (obj, full, False), (full, obj, False), (obj, full, True)):
            errs, _ctx = _run(kind, new, old, status)   # unguarded: a crash here fails the test
            assert all(isinstance(c, Cause) for c in errs)


# --- remembered checks (names, quantities repeat on every write) answer like the first time -----------------

def test_remembered_name_checks_give_each_caller_its_own_list():
    from orlop.registry.validation import _blen, is_dns1123_subdomain, is_qualified_name
    first = is_qualified_name("bad name/x")
    assert first == is_qualified_name("bad name/x") == ["prefix part " + SUBDOMAIN_MSG]
    first.append("scribbled")
    assert is_qualified_name("bad name/x") == ["prefix part " + SUBDOMAIN_MSG]
    assert is_dns1123_subdomain("ok.example") == []
    assert _blen("abc") == 3 and _blen("é") == 2 and _blen("\ud800") == 3


def test_remembered_quantities_keep_errors_and_values():
    bad = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "d"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gx"}}}}
    for _ in range(2):      # the failing parse is not remembered as a value
        assert decode_error_message("PersistentVolumeClaim", bad) is not None
    good = copy.deepcopy(bad)
    good["spec"]["resources"]["requests"]["storage"] = "1Gi"
    for _ in range(2):
        assert validate("PersistentVolumeClaim", good) == []


# Update validators that run ObjectMeta's update checks themselves are not preceded by a second run of
# them (a speed-up): the causes, their order and the decode messages must be exactly what both runs gave.
_META_BASES = {
    "PersistentVolume": {"apiVersion": "v1", "kind": "PersistentVolume",
                         "metadata": {"name": "pv1", "uid": "u1", "annotations": {"a": "b"}, "labels": {"x": "y"},
                                      "finalizers": ["kubernetes.io/pv-protection"]},
                         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                  "hostPath": {"path": "/tmp/x"}, "persistentVolumeReclaimPolicy": "Retain"}},
    "PersistentVolumeClaim": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                              "metadata": {"name": "c1", "namespace": "d", "uid": "u2", "annotations": {"a": "b"}},
                              "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "x",
                                       "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"}},
    "Namespace": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1", "uid": "u3"}},
    "Lease": {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
              "metadata": {"name": "l1", "namespace": "d", "uid": "u4"}, "spec": {"holderIdentity": "n"}},
}
_META_EDITS = {
    "rename": {"name": "other"}, "new uid": {"uid": "zz"}, "bad labels": {"labels": {"bad key!": "v", "k": 5}},
    "bad annotations": {"annotations": {"bad key!": "v", "ok": 3}},
    "bad finalizers": {"finalizers": ["bad", "orphan", "foregroundDeletion", 7]},
    "event owner": {"ownerReferences": [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"}]},
    "namespace": {"namespace": "other"}, "generation": {"generation": -1},
}


@pytest.mark.parametrize("kind", sorted(_META_BASES))
@pytest.mark.parametrize("edit", sorted(_META_EDITS))
@pytest.mark.parametrize("deleting", [False, True])
def test_update_validation_runs_object_meta_update_checks_once(kind, edit, deleting):
    old = copy.deepcopy(_META_BASES[kind])
    if deleting:
        old["metadata"]["deletionTimestamp"] = "2020-01-01T00:00:00Z"
    new = copy.deepcopy(_META_BASES[kind])
    new["metadata"].update(copy.deepcopy(_META_EDITS[edit]))
    new["metadata"]["finalizers"] = list(new["metadata"].get("finalizers") or []) + ["example.com/added"]
    once = validation.check(kind, new, old)
    assert kind in validation._UPDATE_STARTS_WITH_META
    # What check() answered when it ran the metadata checks twice (before the kind's own update
    # validator and inside it) and left the duplicates to _dedupe.  (Built here from the module's
    # parts: the module is compiled, and a compiled module's globals cannot be patched.)
    c = validation.Ctx()
    body = validation._top(c, new)
    errs = (validation._generic_meta(c, body) + validation.validate_object_meta_update(c, body, old)
            + validation._UPDATE[kind](c, body, old))
    twice = ((validation._dedupe(c.decode), c.decode_msgs[0]) if c.decode else (validation._dedupe(errs), None))
    assert once == twice
    assert once[0] or once[1]       # every edit here is refused: the causes compared are real ones


# ---------------------------------------------------------------------------- fast paths == general path
# validation.py takes shortcuts on the binder's hot path (PV/PVC creates and bind updates, Events): the
# ObjectMeta checks are remembered per Ctx and metadata object, a PVC update compares shallow copies by
# their JSON before making deep ones.  With the shortcuts switched off (``_general_path``) every result --
# causes, their order, decode messages -- must be the same.

_HOT_PV = {"apiVersion": "v1", "kind": "PersistentVolume",
           "metadata": {"name": "pv-1", "uid": "u-pv", "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 1,
                        "finalizers": ["kubernetes.io/pv-protection"],
                        "annotations": {"pv.kubernetes.io/bound-by-controller": "yes"},
                        "managedFields": [{"manager": "m", "operation": "Update", "apiVersion": "v1",
                                           "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:capacity": {}}}}]},
           "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "bench",
                    "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem",
                    "hostPath": {"path": "/tmp/orlop-bench/pv-1", "type": ""},
                    "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "b", "name": "c-1", "uid": "u-c",
                                 "apiVersion": "v1", "resourceVersion": "9"}},
           "status": {"phase": "Bound"}}
_HOT_PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "c-1", "namespace": "b", "uid": "u-c", "creationTimestamp": "2024-01-01T00:00:00Z",
                         "generation": 2, "finalizers": ["kubernetes.io/pvc-protection"],
                         "annotations": {"pv.kubernetes.io/bind-completed": "yes",
                                         "pv.kubernetes.io/bound-by-controller": "yes"},
                         "managedFields": [{"manager": "m", "operation": "Update", "apiVersion": "v1",
                                            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:volumeName": {}}}}]},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "storageClassName": "bench", "volumeMode": "Filesystem", "volumeName": "pv-1"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}
_HOT_EVENT = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "c-1.abc", "namespace": "b", "uid": "u-e"},
              "involvedObject": {"kind": "PersistentVolumeClaim", "namespace": "b", "name": "c-1", "uid": "u-c",
                                 "apiVersion": "v1", "resourceVersion": "5"},
              "reason": "ProvisioningSucceeded", "message": "ok", "type": "Normal",
              "source": {"component": "persistentvolume-controller"}, "count": 1}


def _unbound(obj):
    """The object as it was before the binder's update."""
    old = copy.deepcopy(obj)
    if old["kind"] == "PersistentVolume":
        del old["spec"]["claimRef"]
        old["status"] = {"phase": "Available"}
    else:
        del old["spec"]["volumeName"]
        old["status"] = {"phase": "Pending"}
    del old["metadata"]["annotations"]
    return old


def _validation_source():
    """validation.py imported from its source as a module of its own: the module itself may be
    compiled (setup.py), and a compiled module's functions call each other directly, so
    replacing one of them would not be seen; in this copy it is."""
    import orlop.registry
    path = Path(orlop.registry.__file__).with_name("validation.py")
    spec = importlib.util.spec_from_file_location("orlop.registry._validation_from_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SOURCE = _validation_source()


@pytest.fixture
def general_path(monkeypatch):
    """Returns a function running validation.check with the shortcuts switched off (in the source
    copy, so the answers compared are also those of the compiled module against its source)."""
    src = _SOURCE
    real_meta, real_body, real_compare = src.validate_object_meta, src._meta_body, src._pvc_specs_to_compare

    def meta(c, obj, name_fn, *, kube=True):
        c.head_seen = None
        return real_meta(c, obj, name_fn, kube=kube)

    def body(c, m):
        c.meta_seen = None
        return real_body(c, m)

    def compare(spec, old_spec, copy_fn, *rest):
        if copy_fn is dict:     # the shallow views never match: the deep copies decide
            return {"unequal": True}, {}
        return real_compare(spec, old_spec, copy_fn, *rest)

    def run(kind, obj, old=None, status=False):
        with monkeypatch.context() as m:
            m.setattr(src, "validate_object_meta", meta)
            m.setattr(src, "_meta_body", body)
            m.setattr(src, "_pvc_specs_to_compare", compare)
            return src.check(kind, copy.deepcopy(obj), copy.deepcopy(old), status)
    return run


def _edit(obj, path, value):
    out = copy.deepcopy(obj)
    node = out
    for k in path[:-1]:
        node = node.setdefault(k, {})
    if value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


_DELETE = object()
_HOT_EDITS = [
    (), (("metadata", "labels"), {"bad key!": "v", "k": 5}), (("metadata", "labels"), None),
    (("metadata", "annotations"), {"bad key!": "v", "ok": 3}), (("metadata", "annotations"), "text"),
    (("metadata", "annotations"), {"k": "x" * (256 * 1024)}),
    (("metadata", "annotations", "volume.beta.kubernetes.io/storage-class"), "bench"),
    (("metadata", "finalizers"), ["bad", "orphan", "foregroundDeletion", 7, None]),
    (("metadata", "finalizers"), ["bad", "orphan", "foregroundDeletion"]),
    (("metadata", "labels"), {"bad key!": "v"}), (("metadata", "annotations"), {"bad key!": "v"}),
    (("metadata", "finalizers"), ["kubernetes.io/pvc-protection", "kubernetes.io/pvc-protection"]),
    (("metadata", "finalizers"), "kubernetes"), (("metadata", "finalizers"), None),
    (("metadata", "ownerReferences"), [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"}, 3]),
    (("metadata", "generation"), -1), (("metadata", "generation"), "1"), (("metadata", "name"), "Bad_Name"),
    (("metadata", "name"), 7), (("metadata", "generateName"), "gen-"), (("metadata", "uid"), "other"),
    (("metadata", "namespace"), "elsewhere"), (("metadata", "deletionTimestamp"), "2024-01-01T00:00:00Z"),
    (("metadata",), None), (("metadata",), []), (("spec",), None), (("spec",), "x"),
    (("spec", "capacity"), {"storage": "0"}), (("spec", "capacity"), {"storage": "-1Gi", "cpu": "1"}),
    (("spec", "capacity"), {"storage": "1Gx"}), (("spec", "capacity"), None),
    (("spec", "accessModes"), ["ReadWriteOncePod", "ReadWriteOnce", "Bogus", 3]), (("spec", "accessModes"), []),
    (("spec", "persistentVolumeReclaimPolicy"), "Recycle"), (("spec", "hostPath"), {"path": "/"}),
    (("spec", "hostPath"), {"path": "/a/../b", "type": "Bogus"}), (("spec", "hostPath"), "x"),
    (("spec", "nfs"), {"server": "s", "path": "/p"}), (("spec", "csi"), {"driver": "d", "volumeHandle": "h"}),
    (("spec", "local"), {"path": "/mnt"}), (("spec", "iscsi"), 5),
    (("spec", "nodeAffinity"), {"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]}}),
    (("spec", "claimRef"), {"name": 5, "uid": ["u"]}), (("spec", "mountOptions"), ["ro", 1]),
    (("spec", "storageClassName"), "Bad_Class"), (("spec", "storageClassName"), _DELETE),
    (("spec", "storageClassName"), None), (("spec", "volumeMode"), "Block"), (("spec", "volumeMode"), 1),
    (("spec", "volumeName"), "pv-2"), (("spec", "volumeName"), 3),
    (("spec", "resources"), {"requests": {"storage": "2Gi"}}), (("spec", "resources"), {"requests": {"storage": "500Mi"}}),
    (("spec", "resources"), {"requests": {"storage": "0"}, "limits": {"storage": "bad"}}),
    (("spec", "resources"), {"requests": {}}), (("spec", "resources"), []),
    (("spec", "volumeAttributesClassName"), "gold"), (("spec", "unknownField"), float("nan")),
    (("spec", "unknownField"), 2 ** 70), (("spec", "selector"), {"matchLabels": {"a": "b c"}}),
    (("spec", "dataSource"), {"name": "n", "kind": "K"}),
    (("spec", "dataSourceRef"), {"name": "n", "kind": "K", "apiGroup": "g", "namespace": "ns"}),
    (("status",), {"phase": "Bound", "capacity": {"storage": "1Gi"}}), (("status",), "x"),
    (("involvedObject", "namespace"), "other"), (("involvedObject",), 3), (("involvedObject", "uid"), 5),
    (("eventTime",), "2024-01-01T00:00:00.000000Z"), (("reportingComponent",), ""), (("count",), "1"),
    (("reason",), ["r"]),
]


@pytest.mark.parametrize("base", [_HOT_PV, _HOT_PVC, _HOT_EVENT], ids=lambda o: o["kind"])
@pytest.mark.parametrize("edit", _HOT_EDITS, ids=lambda e: ".".join(e[0]) + "=" + repr(e[1])[:20] if e else "none")
def test_hot_paths_match_the_general_path(base, edit, general_path):
    new = _edit(base, *edit) if edit else base
    kind = base["kind"]
    olds = [None, base, _unbound(base), new] if kind != "Event" else [None, base]
    for old in olds:
        for status in ([False, True] if old is not None else [False]):
            got = validation.check(kind, copy.deepcopy(new), copy.deepcopy(old), status)
            assert got == general_path(kind, new, old, status), (kind, edit, old is None, status)


def _mutations(rng, obj, n):
    values = [None, 0, -1, 1.5, True, "", "x", "Bad_Name", "a/b", "1Gi", "-1Gi", "Recycle", "Bound", [], {}, ["x"],
              [None], {"a": 1}, {"storage": "1Gi"}, {"path": "/"}, {"driver": "d", "volumeHandle": "h"}]

    def paths(o, pre=()):
        yield pre
        if isinstance(o, dict):
            for k, v in o.items():
                yield from paths(v, (*pre, k))
        elif isinstance(o, list):
            for i, v in enumerate(o):
                yield from paths(v, (*pre, i))
    for _ in range(n):
        out = copy.deepcopy(obj)
        for _ in range(rng.choice([1, 1, 2, 3])):
            targets = [p for p in paths(out) if p]
            p = rng.choice(targets)
            parent = out
            for k in p[:-1]:
                parent = parent[k]
            if rng.random() < 0.3:
                parent.pop(p[-1])
            else:
                parent[p[-1]] = copy.deepcopy(rng.choice(values))
        yield out


@pytest.mark.parametrize("base", [_HOT_PV, _HOT_PVC, _HOT_EVENT], ids=lambda o: o["kind"])
def test_hot_paths_match_the_general_path_on_mutations(base, general_path):
    import random
    rng = random.Random(20240601)
    kind = base["kind"]
    old = _unbound(base) if kind != "Event" else None
    for new in _mutations(rng, base, 150):
        assert validation.check(kind, copy.deepcopy(new), None) == general_path(kind, new)
        if old is not None:
            assert validation.check(kind, copy.deepcopy(new), copy.deepcopy(old)) == general_path(kind, new, old)
            assert validation.check(kind, copy.deepcopy(old), copy.deepcopy(new)) == general_path(kind, old, new)


def test_validation_does_not_change_its_inputs():
    for kind, new, old in [("PersistentVolume", _HOT_PV, _unbound(_HOT_PV)),
                           ("PersistentVolumeClaim", _edit(_HOT_PVC, ("spec", "volumeAttributesClassName"), "g"),
                            _HOT_PVC)]:
        a, b = copy.deepcopy(new), copy.deepcopy(old)
        validation.check(kind, a, b)
        assert (a, b) == (new, old)


def test_hot_objects_are_valid():
    pv_old, pvc_old = _unbound(_HOT_PV), _unbound(_HOT_PVC)
    assert validation.check("PersistentVolume", _HOT_PV) == ([], None)
    assert validation.check("PersistentVolume", _HOT_PV, pv_old) == ([], None)
    assert validation.check("PersistentVolumeClaim", _HOT_PVC) == ([], None)
    assert validation.check("PersistentVolumeClaim", _HOT_PVC, pvc_old) == ([], None)
    assert validation.check("Event", _HOT_EVENT) == ([], None)


def test_remembered_metadata_reports_decode_errors_once_and_first():
    bad = _edit(_edit(_HOT_PV, ("metadata", "labels"), {"k": 5}), ("metadata", "annotations"), {"a": []})
    causes, msg = validation.check("PersistentVolume", bad, _unbound(_HOT_PV))
    assert [c.field for c in causes] == ["metadata.labels[k]", "metadata.annotations[a]"]
    assert msg == "json: cannot unmarshal number into Go struct field .metadata.labels[k] of type string"


@pytest.mark.parametrize("spec,want", [
    ({"persistentVolumeReclaimPolicy": "Recycle", "hostPath": {"path": "//"}},
     [("FieldValueForbidden", "spec.persistentVolumeReclaimPolicy", "Forbidden: may not be 'recycle' for a hostPath mount of '/'")]),
    ({"nfs": {"server": "s", "path": "/p"}},
     [("FieldValueForbidden", "spec.nfs", "Forbidden: may not specify more than 1 volume type")]),
    ({"hostPath": None, "local": {"path": "/mnt"}},
     [("FieldValueRequired", "spec.nodeAffinity", "Required value: Local volume requires node affinity")]),
    ({"capacity": {"storage": "0"}},
     [("FieldValueInvalid", "spec.capacity[storage]", 'Invalid value: "0": must be greater than zero')]),
    ({"accessModes": ["ReadWriteOncePod", "ReadWriteOnce", "Bogus"]},
     [("FieldValueNotSupported", "spec.accessModes", 'Unsupported value: "Bogus": supported values: "ReadOnlyMany", '
       '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"'),
      ("FieldValueForbidden", "spec.accessModes", "Forbidden: may not use ReadWriteOncePod with other access modes")]),
    ({"hostPath": {"path": "/a/../b"}},
     [("FieldValueInvalid", "spec.hostPath.path", "Invalid value: \"/a/../b\": must not contain '..'")]),
    ({"hostPath": {"path": "/a/..b"}}, []),
])
def test_pv_spec_shortcuts_keep_the_messages(spec, want):
    obj = copy.deepcopy(_HOT_PV)
    obj["spec"].update(spec)
    obj["spec"] = {k: v for k, v in obj["spec"].items() if v is not None}
    assert [(c.reason, c.field, c.message) for c in validate("PersistentVolume", obj)] == want


def test_pvc_update_shortcuts_keep_the_messages():
    bound_old = _HOT_PVC
    shrink = _edit(bound_old, ("spec", "resources"), {"requests": {"storage": "500Mi"}})
    assert [(c.reason, c.field, c.message) for c in validate("PersistentVolumeClaim", shrink, bound_old)] == [
        ("FieldValueForbidden", "spec.resources.requests.storage", "Forbidden: field can not be less than status.capacity")]
    grow = _edit(bound_old, ("spec", "resources"), {"requests": {"storage": "2Gi"}})
    assert validate("PersistentVolumeClaim", grow, bound_old) == []
    moved = _edit(bound_old, ("spec", "volumeName"), "pv-2")
    (cause,) = validate("PersistentVolumeClaim", moved, bound_old)
    assert cause.field == "spec" and '- \tVolumeName: "pv-1",\n+ \tVolumeName: "pv-2",' in cause.message
    beta = _edit(_unbound(_HOT_PVC), ("metadata", "annotations"), {"volume.beta.kubernetes.io/storage-class": "old"})
    (cause,) = validate("PersistentVolumeClaim", _edit(beta, ("metadata", "annotations"), {
        "volume.beta.kubernetes.io/storage-class": "new"}), beta)
    assert (cause.field, cause.message) == ("metadata.annotations.volume.beta.kubernetes.io/storage-class",
                                            'Invalid value: "new": field is immutable')


@pytest.mark.parametrize("spec", [
    {}, {"resources": None}, {"resources": []}, {"resources": {"requests": None}}, {"resources": {"requests": "x"}},
    {"resources": {"requests": {"storage": "1Gi"}}}, {"resources": {"requests": {"storage": 5, "cpu": "bad"}}},
    {"resources": {"requests": {"storage": "bad"}}}, {"resources": {"requests": {"storage": None}}},
    {"resources": {"requests": {"storage": 1.5}}}, {"resources": {"requests": {"storage": []}}},
])
def test_storage_request_reads_as_qmap_does(spec):
    from decimal import Decimal
    c = validation.Ctx()
    q = (c.qmap(c.obj(spec, "resources", "spec"), "requests", "spec.resources") or {}).get("storage")
    assert validation._storage_request(spec) == (q.value if q is not None else Decimal(0))


@pytest.mark.parametrize("meta", [
    None, "x", {}, {"annotations": None}, {"annotations": "x"}, {"annotations": {"k": "v"}},
    {"annotations": {"volume.beta.kubernetes.io/storage-class": "s"}},
    {"annotations": {"volume.beta.kubernetes.io/storage-class": 5}},
    {"annotations": {"volume.beta.kubernetes.io/storage-class": ""}},
])
def test_string_annotation_reads_as_smap_does(meta):
    key = "volume.beta.kubernetes.io/storage-class"
    c = validation.Ctx()
    assert validation._string_annotation(meta, key) == c.smap(meta, "annotations", "metadata").get(key)


@pytest.mark.parametrize("spec", [
    {}, {"hostPath": {}}, {"csi": {}, "hostPath": {}, "nfs": None}, {"local": {}, "nfs": {}, "x": 1},
    {"flexVolume": {}, "iscsi": 3, "cephfs": {}, "awsElasticBlockStore": {}},
])
def test_pv_sources_keep_kubernetes_order(spec):
    want = {k: spec.get(k) for k in validation.PV_SOURCE_KEYS if spec.get(k) is not None}
    got = validation._pv_sources(spec)
    assert list(got.items()) == list(want.items())


def test_type_checks_of_many_strings_record_what_str_records():
    parent = {"a": 1, "b": "x", "c": None, "d": [], "e": {"x": 1}}
    one, many = validation.Ctx(), validation.Ctx()
    for name in ("a", "b", "c", "d", "e", "f"):
        one.str(parent, name, "p")
    many.strs(parent, ("a", "b", "c", "d", "e", "f"), "p")
    assert (one.decode, one.decode_msgs) == (many.decode, many.decode_msgs)


@pytest.mark.parametrize("value", [{"storage": "1Gi"}, {"storage": "1Gx", "cpu": None, "m": 5, "x": []},
                                   {"a": "bad", "b": "worse"}, "x", None, {}])
def test_quantity_maps_record_bad_entries_under_their_paths(value):
    c = validation.Ctx()
    got = c.qmap({"capacity": value}, "capacity", "spec")
    ref = validation.Ctx()
    m = ref.obj({"capacity": value}, "capacity", "spec")
    want = None if m is None else {}
    for k, v in (m or {}).items():
        q = ref.qty(v, f"spec.capacity[{k}]")
        if q is not None:
            want[k] = q
    assert got == want and (c.decode, c.decode_msgs) == (ref.decode, ref.decode_msgs)


@pytest.mark.parametrize("name,prefix,want", [
    (".", False, ["may not be '.'"]), ("..", False, ["may not be '..'"]), (".", True, []), ("a/b%c", False,
     ["may not contain '/'", "may not contain '%'"]), ("a%", True, ["may not contain '%'"]), ("ok", False, []),
])
def test_path_segment_names(name, prefix, want):
    assert validation.path_segment_name(name, prefix) == want
