#!/bin/sh
# The seeds' data flows against a running `orlop up` (as root, so pods really run):
#   seed 002 实践四 / seed 003: StatefulSet web, hello $(hostname) written with kubectl exec,
#   pods deleted, the same lines read back from the recreated pods;
#   seed 004: ceph-pod1 writes hello-ceph.txt into ceph-claim, is deleted, ceph-pod2 reads it.
# Usage: export KUBECONFIG=~/.local/share/orlop/kubeconfig; sh demo/seed-data-flows.sh
set -eu
M="$(dirname "$0")/../tests/e2e/manifests"
NS="demo-$(date +%s)"
kubectl create namespace "$NS"
trap 'kubectl delete namespace "$NS" --wait=false >/dev/null' EXIT

echo "== seed 002/003: StatefulSet web with volumeClaimTemplates www"
kubectl apply -n "$NS" -f "$M/seed002-statefulset-web.yaml"
kubectl rollout status -n "$NS" statefulset/web --timeout=120s
kubectl get -n "$NS" pvc
for i in 0 1; do
  kubectl exec -n "$NS" "web-$i" -- sh -c 'echo hello $(hostname) > /usr/share/nginx/html/index.html'
done
kubectl delete -n "$NS" pod -l app=nginx
sleep 1
kubectl rollout status -n "$NS" statefulset/web --timeout=120s
for i in 0 1; do
  kubectl exec -n "$NS" "web-$i" -- cat /usr/share/nginx/html/index.html
done

echo "== seed 004: one pod writes, another reads"
kubectl create -n "$NS" -f "$M/seed004-ceph-claim.yaml" -f "$M/seed004-ceph-pod1.yaml"
kubectl wait -n "$NS" --for=condition=Ready pod/ceph-pod1 --timeout=120s
kubectl exec -n "$NS" ceph-pod1 -- sh -c "echo 'Hello World' > /usr/share/busybox/hello-ceph.txt"
kubectl delete -n "$NS" pod ceph-pod1
kubectl create -n "$NS" -f "$M/seed004-ceph-pod2.yaml"
kubectl wait -n "$NS" --for=condition=Ready pod/ceph-pod2 --timeout=120s
kubectl exec -n "$NS" ceph-pod2 -- cat /usr/share/busybox/hello-ceph.txt
