"""apply_defaults fills in what Kubernetes 1.32's SetDefaults_* functions fill in."""

import base64
import copy

import pytest
import yaml

from orlop.registry.defaults import apply_defaults, image_pull_policy


def defaulted(kind: str, manifest: str | dict) -> dict:
    obj = yaml.safe_load(manifest) if isinstance(manifest, str) else copy.deepcopy(manifest)
    apply_defaults(kind, obj)
    return obj


def test_persistent_volume_spec_defaults():
    pv = defaulted("PersistentVolume", """
kind: PersistentVolume
apiVersion: v1
metadata: {name: task-pv-volume}
spec:
  storageClassName: manual
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /tmp/data}
""")
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["volumeMode"] == "Filesystem"
    assert pv["spec"]["hostPath"] == {"path": "/tmp/data", "type": ""}
    assert "status" not in pv, "the status phase on create is the registry's"


def test_persistent_volume_keeps_explicit_values_and_defaults_rbd():
    pv = defaulted("PersistentVolume", {
        "metadata": {"name": "ceph-pv"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Recycle", "volumeMode": "Block",
                 "rbd": {"monitors": ["10.47.136.60:6789"], "image": "ceph-image", "secretRef": {"name": "ceph-secret"}}},
    })
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Recycle"
    assert pv["spec"]["volumeMode"] == "Block"
    assert pv["spec"]["rbd"] == {"monitors": ["10.47.136.60:6789"], "image": "ceph-image",
                                 "secretRef": {"name": "ceph-secret"}, "pool": "rbd", "user": "admin",
                                 "keyring": "/etc/ceph/keyring"}


def test_persistent_volume_claim_defaults_and_quantities():
    pvc = defaulted("PersistentVolumeClaim", {
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1024Mi"}, "limits": {"storage": 2000}}},
        "status": {"capacity": {"storage": "0.5Gi"}},
    })
    assert pvc["spec"]["volumeMode"] == "Filesystem"
    assert pvc["spec"]["resources"] == {"requests": {"storage": "1Gi"}, "limits": {"storage": "2k"}}
    assert pvc["status"]["capacity"] == {"storage": "512Mi"}


def test_invalid_quantities_are_left_for_validation():
    pvc = defaulted("PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "10GB", "x": [1]}}}})
    assert pvc["spec"]["resources"]["requests"] == {"storage": "10GB", "x": [1]}


SEED_POD = """
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
"""


def test_pod_defaults_from_seed_000():
    pod = defaulted("Pod", SEED_POD)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    ctr = spec["containers"][0]
    assert ctr["imagePullPolicy"] == "Always"
    assert ctr["terminationMessagePath"] == "/dev/termination-log"
    assert ctr["terminationMessagePolicy"] == "File"
    assert ctr["ports"] == [{"containerPort": 80, "name": "http-server", "protocol": "TCP"}]
    assert spec["volumes"] == [{"name": "task-pv-storage", "persistentVolumeClaim": {"claimName": "task-pv-claim"}}]


def test_pod_volume_and_container_defaults():
    pod = defaulted("Pod", {"spec": {
        "hostNetwork": True,
        "containers": [{
            "name": "c", "image": "busybox:1.36",
            "ports": [{"containerPort": 8080}],
            "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
            "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
            "livenessProbe": {"httpGet": {"port": 8080}},
        }],
        "volumes": [
            {"name": "empty"},
            {"name": "s", "secret": {"secretName": "x"}},
            {"name": "cm", "configMap": {"name": "x", "defaultMode": 256}},
            {"name": "hp", "hostPath": {"path": "/data"}},
            {"name": "r", "rbd": {"monitors": ["m"], "image": "i"}},
            {"name": "e", "emptyDir": {"sizeLimit": "1000Mi"}},
        ],
    }})
    spec = pod["spec"]
    ctr = spec["containers"][0]
    assert ctr["imagePullPolicy"] == "IfNotPresent"
    assert ctr["ports"] == [{"containerPort": 8080, "protocol": "TCP", "hostPort": 8080}]
    assert ctr["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    assert ctr["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.namespace", "apiVersion": "v1"}
    assert ctr["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                    "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["empty"] == {"name": "empty", "emptyDir": {}}
    assert vols["s"]["secret"] == {"secretName": "x", "defaultMode": 420}
    assert vols["cm"]["configMap"] == {"name": "x", "defaultMode": 256}
    assert vols["hp"]["hostPath"] == {"path": "/data", "type": ""}
    assert vols["r"]["rbd"]["pool"] == "rbd"
    assert vols["e"]["emptyDir"] == {"sizeLimit": "1000Mi"}


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.9.1", "IfNotPresent"),
    ("kubernetes/pause", "Always"), ("dockerfile/nginx", "Always"), ("busybox", "Always"),
    ("192.168.1.52/tenx_containers/mysql-galera:e2e", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("Nginx", "IfNotPresent"), ("", "IfNotPresent"), (None, "IfNotPresent"),
])
def test_image_pull_policy(image, policy):
    assert image_pull_policy(image) == policy


def test_service_defaults_for_seed_000_services():
    svc = defaulted("Service", """
apiVersion: v1
kind: Service
metadata: {name: mysqltest-pgytt}
spec:
  ports: [{port: 3306, name: mysqltest}]
  selector: {app: mysqltest}
  externalIPs: [11.11.1.1]
""")
    assert svc["spec"] == {
        "ports": [{"port": 3306, "name": "mysqltest", "protocol": "TCP", "targetPort": 3306}],
        "selector": {"app": "mysqltest"}, "externalIPs": ["11.11.1.1"], "sessionAffinity": "None",
        "type": "ClusterIP", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}
    headless = defaulted("Service", {"spec": {"ports": [{"port": 3306, "targetPort": "mysql"}], "clusterIP": "None",
                                              "selector": {"app": "mysqltest"}}})
    assert headless["spec"]["clusterIPs"] == ["None"]
    assert headless["spec"]["ports"][0]["targetPort"] == "mysql"
    assert "externalTrafficPolicy" not in headless["spec"]
    no_selector = defaulted("Service", {"spec": {"clusterIP": "None"}})
    assert no_selector["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert no_selector["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    lb = defaulted("Service", {"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]}})
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    assert lb["spec"]["externalTrafficPolicy"] == "Cluster"
    assert lb["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    ext = defaulted("Service", {"spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert "ipFamilyPolicy" not in ext["spec"] and "internalTrafficPolicy" not in ext["spec"]


def test_statefulset_defaults():
    sts = defaulted("StatefulSet", """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.9.1
        ports: [{containerPort: 80, name: web}]
        resources: {limits: {cpu: "1"}}
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
""")
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    tmpl = spec["template"]
    assert tmpl["metadata"] == {"labels": {"app": "nginx"}, "creationTimestamp": None}
    assert tmpl["spec"]["restartPolicy"] == "Always"
    assert tmpl["spec"]["terminationGracePeriodSeconds"] == 30
    assert "enableServiceLinks" not in tmpl["spec"], "SetDefaults_Pod applies to Pods only"
    assert tmpl["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}}
    assert tmpl["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["volumeClaimTemplates"] == [{
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "www", "creationTimestamp": None},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "volumeMode": "Filesystem"},
        "status": {"phase": "Pending"}}]


def test_statefulset_ondelete_strategy_gets_no_rolling_update():
    sts = defaulted("StatefulSet", {"spec": {"updateStrategy": {"type": "OnDelete"}}})
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_storage_class_defaults():
    sc = defaulted("StorageClass", """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: slow}
provisioner: kubernetes.io/glusterfs
parameters: {resturl: "http://10.170.13.153:8080", gidMin: "40000", gidMax: "50000", volumetype: "none"}
""")
    assert sc["reclaimPolicy"] == "Delete"
    assert sc["volumeBindingMode"] == "Immediate"
    kept = defaulted("StorageClass", {"reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"})
    assert kept["reclaimPolicy"] == "Retain" and kept["volumeBindingMode"] == "WaitForFirstConsumer"


def test_secret_defaults_and_string_data():
    s = defaulted("Secret", {"metadata": {"name": "a"}, "data": {"key": "QQ=="},
                             "stringData": {"user": "admin", "key": "überschrieben"}})
    assert s["type"] == "Opaque"
    assert "stringData" not in s
    assert s["data"]["user"] == base64.b64encode(b"admin").decode()
    assert base64.b64decode(s["data"]["key"]).decode() == "überschrieben"
    rbd = defaulted("Secret", {"type": "kubernetes.io/rbd", "data": {"key": "QQ=="}})
    assert rbd["type"] == "kubernetes.io/rbd"
    assert defaulted("Secret", {"stringData": {}}) == {"type": "Opaque"}
    assert defaulted("Secret", {"stringData": {"a": 1}})["stringData"] == {"a": 1}


def test_namespace_node_endpoints_defaults():
    ns = defaulted("Namespace", {"metadata": {"name": "team-a"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert ns["status"] == {"phase": "Active"}
    node = defaulted("Node", {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "2", "memory": "4096Mi"}}})
    assert node["status"]["capacity"] == {"cpu": "2", "memory": "4Gi"}
    assert node["status"]["allocatable"] == {"cpu": "2", "memory": "4Gi"}
    ep = defaulted("Endpoints", {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]})
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]


@pytest.mark.parametrize("kind", ["ConfigMap", "Event", "Lease"])
def test_kinds_without_defaults_are_unchanged(kind):
    obj = {"metadata": {"name": "x"}, "data": {"a": "b"}, "spec": {"holderIdentity": "h"}}
    assert defaulted(kind, obj) == obj


@pytest.mark.parametrize("kind", ["PersistentVolume", "PersistentVolumeClaim", "Pod", "Service", "StatefulSet",
                                  "StorageClass", "Secret", "Namespace", "Node", "Endpoints"])
def test_defaulting_is_idempotent(kind):
    obj = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}], "template": {"spec": {}},
                                               "ports": [{"port": 1}], "capacity": {"storage": "1000Mi"}},
           "stringData": {"a": "b"}}
    once = defaulted(kind, obj)
    assert defaulted(kind, once) == once


@pytest.mark.parametrize("obj", [
    {"spec": "string"}, {"spec": {"containers": "x", "volumes": [1, None, "v"]}}, {"spec": {"template": []}},
    {"spec": {"updateStrategy": "x", "persistentVolumeClaimRetentionPolicy": 5, "volumeClaimTemplates": [3]}},
    {"spec": {"ports": [None, {"targetPort": None}]}, "metadata": []}, {"status": {"capacity": [1]}},
    {"data": "x", "stringData": ["a"]}, [], "x", None,
])
@pytest.mark.parametrize("kind", ["PersistentVolume", "PersistentVolumeClaim", "Pod", "Service", "StatefulSet",
                                  "StorageClass", "Secret", "Namespace", "Node", "Endpoints"])
def test_malformed_objects_do_not_raise(kind, obj):
    apply_defaults(kind, copy.deepcopy(obj))


@pytest.mark.parametrize("text", ["1Gi", "1024Mi", "0.5Gi", "100m", "1.5", "1e3", "10", "5Ki", "bogus", "1.0001m"])
@pytest.mark.parametrize("round_milli", [False, True])
def test_remembered_canonical_quantities_are_canonical_quantity(text: str, round_milli: bool) -> None:
    from orlop.quantity import canonical_quantity
    from orlop.registry import defaults
    for _ in range(2):          # the second time from the memo
        try:
            want: str | type[ValueError] = canonical_quantity(text, round_milli=round_milli)
        except ValueError:
            want = ValueError
        if want is ValueError:
            with pytest.raises(ValueError):
                defaults._canonical(text, round_milli)
        else:
            assert defaults._canonical(text, round_milli) == want
