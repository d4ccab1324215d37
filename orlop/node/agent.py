"""The node agent: a kubelet for orlop.

Why this exists: a pod bound to a node (``spec.nodeName``) is only a wish until something
on that node mounts its volumes, starts its containers, reports their state and, once
the pod is deleted, stops them and lets the object go.  ``NodeAgent`` is that something:

- registers its Node (labels, addresses, capacity, nodeInfo, conditions, the port of its
  exec/log server), renews its Lease in ``kube-node-lease`` and re-posts the Ready
  heartbeat;
- watches the pods bound to it (field selector ``spec.nodeName=<node>``) and the claims
  and volumes they use; each change queues the pod's uid, and a worker *syncs* it,
  level-triggered and idempotent: wait for Bound claims, attach and mount volumes,
  start what ``plan`` says (init containers first, restarts with back-off), post the
  status ``status.pod_status`` computes, record kubelet's events;
- on ``deletionTimestamp``: Killing events, stop with the pod's grace period, unmount,
  detach, then delete the object with grace 0 (uid precondition);
- at start, adopts what the runtime still runs and removes what belongs to pods that
  are gone (containers, mounts, directories, attachments, staged image volumes);
- grows the filesystem of a claim that is FileSystemResizePending when its image volume
  is staged here (``volumes.VolumeManager.resize``);
- serves exec and logs over HTTPS (``orlop.node.server``).

Nothing polls per pod: runtime exits, API changes and back-off timers queue the pod.
Probes are not run: a container is Ready (and started) while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..controllers.base import Handler, Informer, Informers, WorkQueue, selected
from ..errors import StatusError
from . import mounts, nodeinfo
from .kube import NodeClient
from .plan import CONTAINER_CREATING, POD_INITIALIZING, Backoff, Plan, latest, plan, pod_ref
from .podspec import ConfigError, container_config, hostname_of, referenced_objects
from .runtime import EXITED, RUNNING, PodSandbox, Runtime, SimulatedRuntime
from .server import AgentServer
from .status import pod_status
from .volumes import ATTACHED_NODE, VolumeManager, VolumeWait, claims_of, ensure_subpath, volume_device_mounts

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
MIN_GRACE = 2             # seconds: kubelet's minimumGracePeriodInSeconds for pods gone from the API
EVENT_REPEAT = 30.0       # seconds before the same warning about a pod is recorded again
TERMINAL = ("Succeeded", "Failed")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_runtime(root_dir: str) -> Runtime:
    """The process runtime as root, the simulated one otherwise."""
    if os.geteuid() == 0:
        from .process import ProcessRuntime
        return ProcessRuntime(root_dir)
    return SimulatedRuntime()


@dataclass
class _PodState:
    start_time: str
    waiting_since: float | None = None
    warned: dict[tuple[str, str], float] = field(default_factory=dict)
    backoff_reported: set[tuple[str, int]] = field(default_factory=set)
    last_status: dict[str, Any] | None = None
    terminal_done: bool = False


class NodeAgent:
    def __init__(self, client: NodeClient, node_name: str, root_dir: str, runtime: Runtime | None = None,
                 address: str = "127.0.0.1", port: int = 0, token: str = "", *,
                 lease_interval: float = 10.0, status_interval: float = 20.0, workers: int = 16,
                 backoff: Backoff | None = None, mount_warn_after: float = 10.0, informers: Informers | None = None):
        self.client = client
        self.node_name = node_name
        self.root_dir = os.path.abspath(root_dir)
        self.pods_dir = os.path.join(self.root_dir, "pods")
        os.makedirs(self.pods_dir, exist_ok=True)
        self.runtime: Runtime = runtime if runtime is not None else default_runtime(self.root_dir)
        self.address = address
        self.ip = nodeinfo.host_ip(address)
        self.lease_interval, self.status_interval = lease_interval, status_interval
        self.workers = workers
        self.backoff = backoff or Backoff()
        self.mount_warn_after = mount_warn_after
        self.volumes = VolumeManager(client, node_name, self.pods_dir, mount=self.runtime.mounts_volumes,
                                     emit=self._emit)
        self.server = AgentServer(token, self.find_pod, self.runtime, os.path.join(self.root_dir, "pki"), address,
                                  port, names=[node_name, self.ip, address])
        # Inside `orlop up` the controllers' informers already list and watch pods, claims and
        # volumes in this process: the agent subscribes to them (its pods picked out by
        # spec.nodeName, as its field selector would) instead of decoding every event twice.
        # On its own (`orlop agent`) it keeps its own, the pods selected by the server.
        self._shared = informers is not None
        self._handlers: list[tuple[Informer, Handler]] = []
        if informers is not None:
            self.pod_informer = informers.get("v1", "Pod")
            self.claim_informer = informers.get("v1", "PersistentVolumeClaim")
            self.volume_informer = informers.get("v1", "PersistentVolume")
            on_pod: Handler = selected(self._on_this_node, self._on_pod)
        else:
            self.pod_informer = Informer(client, "v1", "Pod", field_selector=f"spec.nodeName={node_name}")
            self.claim_informer = Informer(client, "v1", "PersistentVolumeClaim")
            self.volume_informer = Informer(client, "v1", "PersistentVolume")
            on_pod = self._on_pod
        self._handlers = [(self.pod_informer, on_pod), (self.claim_informer, self._on_storage),
                          (self.volume_informer, self._on_storage)]
        self._pods: dict[str, dict[str, Any]] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        self._state: dict[str, _PodState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._volume_waiters: set[str] = set()
        self._terminating: dict[str, asyncio.Task[None]] = {}
        self._queue = WorkQueue(base_delay=0.2, max_delay=30.0)
        self._resize_queue = WorkQueue(base_delay=1.0, max_delay=60.0)     # claims to grow on this node
        self._events: asyncio.Queue[tuple[dict[str, Any], str, str, str, str]] = asyncio.Queue(maxsize=50_000)
        self._tasks: list[asyncio.Task[Any]] = []
        self._facts: dict[str, Any] = {}
        self.port = port

    # --------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Serve, register the Node, adopt the runtime's containers, sync every pod of this node."""
        self.port = await self.server.start()
        self._facts = nodeinfo.machine_facts(self.root_dir)
        self._tasks.append(asyncio.create_task(self._event_sink(), name="node-events"))
        await self._register_node()
        await self.runtime.adopt()
        self.runtime.subscribe(self._queue.add)
        for inf, handler in self._handlers:
            inf.on_change(handler, replay=self._shared)
            if not self._shared:
                self._tasks.append(asyncio.create_task(inf.run(), name=f"node-informer-{inf.kind}"))
        await asyncio.gather(*(inf.synced.wait() for inf in (self.pod_informer, self.claim_informer,
                                                             self.volume_informer)))
        await self._cleanup_leftovers()
        for uid in list(self._pods):
            self._queue.add(uid)
        self._tasks += [asyncio.create_task(self._queue.process(self._sync, "node-agent"), name=f"node-worker-{i}")
                        for i in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._resize_queue.process(self._resize, "node-resize"),
                                               name="node-resize"))
        self._tasks.append(asyncio.create_task(self._lease_loop(), name="node-lease"))
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="node-heartbeat"))

    async def stop(self) -> None:
        """Stop serving and watching. Containers keep running: a restarted agent adopts them."""
        for inf, handler in self._handlers:
            inf.remove_handler(handler)
        tasks = self._tasks + list(self._terminating.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._terminating = [], {}
        await self.server.stop()
        await self.runtime.close()

    def _on_this_node(self, pod: dict[str, Any]) -> bool:
        return (pod.get("spec") or {}).get("nodeName") == self.node_name

    def find_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        uid = self._by_name.get((namespace, name))
        return self._pods.get(uid) if uid else None

    # ----------------------------------------------------------------- node
    async def _register_node(self) -> None:
        now = now_rfc3339()
        runtime = f"{self.runtime.name}://{self.runtime.version}"
        existing = await self.client.get("v1", "Node", None, self.node_name)
        created = False
        if existing is None:
            try:
                existing = await self.client.create(nodeinfo.node_object(self.node_name, self.ip, self.port,
                                                                         self._facts, runtime, now))
                created = True
            except StatusError as e:
                if e.code != 409:
                    raise
                existing = await self.client.get("v1", "Node", None, self.node_name)
        was_ready = False
        if existing is not None and not created:
            was_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in (existing.get("status") or {}).get("conditions") or [])
            meta = existing["metadata"]
            await self.client.merge_patch("v1", "Node", None, self.node_name, {"metadata": {
                "labels": nodeinfo.node_labels(self.node_name, self._facts["arch"]),
                "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}}})
            status = nodeinfo.node_status(self.node_name, self.ip, self.port, self._facts, runtime, now,
                                          existing.get("status"))
            existing = await self.client.merge_patch("v1", "Node", None, meta["name"], {"status": status},
                                                     subresource="status")
        assert existing is not None
        self._emit(existing, "Normal", "Starting", "Starting kubelet.")
        if not was_ready:
            for reason in ("NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"):
                self._emit(existing, "Normal", reason, f"Node {self.node_name} status is now: {reason}")

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.status_interval)
            try:
                node = await self.client.get("v1", "Node", None, self.node_name)
                if node is None:
                    await self._register_node()
                    continue
                conds = nodeinfo.conditions(now_rfc3339(), (node.get("status") or {}).get("conditions"))
                await self.client.merge_patch("v1", "Node", None, self.node_name, {"status": {"conditions": conds}},
                                              subresource="status")
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next heartbeat tries again
                log.exception("node %s: heartbeat failed", self.node_name)

    async def _lease_loop(self) -> None:
        while True:
            try:
                await self._renew_lease()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next renewal tries again
                log.exception("node %s: lease renewal failed", self.node_name)
            await asyncio.sleep(self.lease_interval)

    async def _renew_lease(self) -> None:
        lease = await self.client.get("coordination.k8s.io/v1", "Lease", LEASE_NAMESPACE, self.node_name)
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": now_micro()}
        if lease is None:
            node = await self.client.get("v1", "Node", None, self.node_name)
            meta: dict[str, Any] = {"name": self.node_name, "namespace": LEASE_NAMESPACE}
            if node is not None:
                meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                            "uid": node["metadata"]["uid"]}]
            await self.client.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                                      "spec": spec})
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        await self.client.update(lease)

    # --------------------------------------------------------------- events
    def _emit(self, obj: dict[str, Any], type_: str, reason: str, message: str, component: str = "kubelet") -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait((obj, type_, reason, message, component))

    async def _event_sink(self) -> None:
        async def worker() -> None:
            while True:
                obj, type_, reason, message, component = await self._events.get()
                try:
                    await self.client.event(obj, type_, reason, message, component)
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - an event is best effort, as in Kubernetes
                    log.info("event %s for %s not recorded: %s", reason, obj["metadata"].get("name"), e)
        await asyncio.gather(*(worker() for _ in range(4)))

    def _warn(self, uid: str, pod: dict[str, Any], reason: str, message: str, component: str = "kubelet") -> None:
        """A Warning about a pod, recorded again only after EVENT_REPEAT seconds."""
        st = self._state.get(uid)
        now = time.monotonic()
        if st is not None:
            last = st.warned.get((reason, message))
            if last is not None and now - last < EVENT_REPEAT:
                return
            st.warned[(reason, message)] = now
        self._emit(pod, "Warning", reason, message, component)

    # -------------------------------------------------------------- handlers
    def _on_pod(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj["metadata"]
        uid, key = meta["uid"], (meta.get("namespace") or "", meta["name"])
        if old is not None and old["metadata"]["uid"] != uid:
            self._pods.pop(old["metadata"]["uid"], None)
            self._queue.add(old["metadata"]["uid"])
        if typ == "DELETED":
            self._pods.pop(uid, None)
            if self._by_name.get(key) == uid:
                del self._by_name[key]
        else:
            self._pods[uid] = obj
            self._by_name[key] = uid
        self._queue.add(uid)

    def _on_storage(self, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        for uid in list(self._volume_waiters):
            self._queue.add(uid)
        if typ != "DELETED" and "volumeName" in (obj.get("spec") or {}) and self.volumes.wants_resize(obj):
            meta = obj["metadata"]
            self._resize_queue.add((meta.get("namespace") or "", meta["name"]))

    async def _resize(self, key: tuple[str, str]) -> None:
        claim = self._claim(key[0], key[1])
        if claim is not None and self.volumes.wants_resize(claim):
            await self.volumes.resize(claim)

    def _claim(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.claim_informer.cache.get((namespace or "", name))

    def _volume(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.volume_informer.cache.get(("", name))

    # ------------------------------------------------------------------ sync
    async def _sync(self, uid: str) -> None:
        lock = self._locks.setdefault(uid, asyncio.Lock())
        async with lock:
            pod = self._pods.get(uid)
            if pod is None:
                await self._cleanup(uid)
                return
            if pod["metadata"].get("deletionTimestamp"):
                if uid not in self._terminating:
                    self._terminating[uid] = asyncio.create_task(self._terminate(uid, pod), name=f"terminate-{uid}")
                return
            await self._sync_pod(uid, pod)

    async def _sync_pod(self, uid: str, pod: dict[str, Any]) -> None:
        st = self._state.get(uid)
        if st is None:
            st = self._state[uid] = _PodState(start_time=(pod.get("status") or {}).get("startTime") or now_rfc3339())
        if (pod.get("status") or {}).get("phase") in TERMINAL:
            if not st.terminal_done:
                await self._stop_containers(uid, pod, MIN_GRACE, events=False)
                await self.volumes.teardown(uid)
                st.terminal_done = True
            return
        loop = asyncio.get_running_loop()
        try:
            paths = await self.volumes.setup(pod, self._claim, self._volume)
            self._volume_waiters.discard(uid)
            st.waiting_since = None
        except VolumeWait as w:
            self._volume_waiters.add(uid)
            if st.waiting_since is None:
                st.waiting_since = loop.time()
            waited = loop.time() - st.waiting_since
            if not w.delayed or waited >= self.mount_warn_after:
                self._warn(uid, pod, w.reason, w.message, w.component)
            else:
                self._queue.add_after(uid, self.mount_warn_after - waited + 0.01)
            self._queue.add_after(uid, w.retry_after)
            await self._post_status(uid, pod, self._creating_plan(pod), sandbox_ready=False)
            return
        p = plan(pod, self.runtime.statuses(uid), time.time(), self.backoff)
        if p.start:
            await self._start(uid, pod, p, paths)
            p = plan(pod, self.runtime.statuses(uid), time.time(), self.backoff)
            if p.start:
                self._queue.add(uid)
        for name in p.backing_off:
            attempt = latest(self.runtime.statuses(uid))[name].attempt
            if (name, attempt) not in st.backoff_reported:
                st.backoff_reported.add((name, attempt))
                self._emit(pod, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod "
                                                      f"{pod_ref(pod)}")
        if p.retry_after is not None:
            self._queue.add_after(uid, p.retry_after + 0.01)
        status = await self._post_status(uid, pod, p, sandbox_ready=True)
        if status is not None and status.get("phase") in TERMINAL:
            await self.volumes.teardown(uid)
            st.terminal_done = True

    @staticmethod
    def _creating_plan(pod: dict[str, Any]) -> Plan:
        spec = pod.get("spec") or {}
        p = Plan(initialized=not spec.get("initContainers"))
        for c in spec.get("initContainers") or []:
            p.waiting[c["name"]] = (POD_INITIALIZING, "")
        for c in spec.get("containers") or []:
            p.waiting[c["name"]] = (POD_INITIALIZING if spec.get("initContainers") else CONTAINER_CREATING, "")
        return p

    async def _start(self, uid: str, pod: dict[str, Any], p: Plan, paths: dict[str, str]) -> None:
        meta = pod["metadata"]
        sandbox = PodSandbox(uid, meta.get("namespace") or "default", meta["name"], hostname_of(pod))
        objects: dict[tuple[str, str], dict[str, Any] | None] = {}
        for c, _, _ in p.start:
            for kind, name in referenced_objects(c):
                if (kind, name) not in objects:
                    objects[(kind, name)] = await self.client.get("v1", kind, sandbox.namespace, name)
        for c, init, attempt in p.start:
            try:
                config = container_config(pod, c, init=init, host_ip=self.ip, volume_paths=paths, objects=objects,
                                          node_allocatable={"cpu": str(self._facts.get("cpu", 1)),
                                                            "memory": f"{self._facts.get('memory_ki', 0)}Ki"})
                if self.runtime.mounts_volumes:
                    for vm, m in zip(c.get("volumeMounts") or [], config.mounts, strict=True):
                        ensure_subpath(m.host_path, paths[vm["name"]])
                config.mounts += volume_device_mounts(c, paths)
            except (ConfigError, OSError) as e:
                p.waiting[c["name"]] = ("CreateContainerConfigError", str(e))
                self._warn(uid, pod, "Failed", f"Error: {e}")
                self._queue.add_after(uid, 10.0)
                continue
            self._emit(pod, "Normal", "Pulled", f'Container image "{c.get("image", "")}" already present on machine')
            self._emit(pod, "Normal", "Created", f"Created container {c['name']}")
            started = await self.runtime.start_container(sandbox, config, attempt)
            if started.state == EXITED and started.reason == "StartError":
                self._emit(pod, "Warning", "Failed", f"Error: {started.message or 'failed to start container'}")
            else:
                self._emit(pod, "Normal", "Started", f"Started container {c['name']}")

    async def _post_status(self, uid: str, pod: dict[str, Any], p: Plan, sandbox_ready: bool) -> dict[str, Any] | None:
        st = self._state[uid]
        status = pod_status(pod, self.runtime.statuses(uid), p, host_ip=self.ip, start_time=st.start_time,
                            sandbox_ready=sandbox_ready, now=now_rfc3339())
        if status == pod.get("status") or status == st.last_status:
            return status
        # The pod may be a shared informer's cached object: the write must not touch it.
        body = dict(pod, metadata=dict(pod["metadata"]), status=status)
        for _ in range(3):
            try:
                written = await self.client.update(body, subresource="status")
            except StatusError as e:
                if e.code == 404:
                    return None
                if e.code != 409:
                    raise
                fresh = await self.client.get("v1", "Pod", pod["metadata"].get("namespace"), pod["metadata"]["name"])
                if fresh is None or fresh["metadata"]["uid"] != uid:
                    return None
                status = pod_status(fresh, self.runtime.statuses(uid), p, host_ip=self.ip, start_time=st.start_time,
                                    sandbox_ready=sandbox_ready, now=now_rfc3339())
                body = dict(fresh, status=status)
                continue
            st.last_status = status
            if uid in self._pods:
                self._pods[uid] = written
            return status
        self._queue.add_after(uid, 0.5)
        return status

    # -------------------------------------------------------------- stopping
    async def _stop_containers(self, uid: str, pod: dict[str, Any] | None, grace: float, events: bool) -> None:
        running = [s for s in latest(self.runtime.statuses(uid)).values() if s.state == RUNNING]
        if pod is not None and events:
            for s in running:
                self._emit(pod, "Normal", "Killing", f"Stopping container {s.name}")
        await asyncio.gather(*(self.runtime.stop_container(uid, s.name, grace) for s in running))

    async def _terminate(self, uid: str, pod: dict[str, Any]) -> None:
        """Graceful deletion: stop, unmount, detach, forget, then remove the object (grace 0)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        try:
            await self._stop_containers(uid, pod, float(grace), events=True)
            await self._forget(uid)
            try:
                await self.client.delete("v1", "Pod", meta.get("namespace"), meta["name"], uid=uid,
                                         grace_period_seconds=0)
            except StatusError as e:
                if e.code != 409:        # 409: the uid precondition failed: that pod is already gone
                    raise
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - retried: the pod stays until it is stopped and removed
            log.exception("pod %s/%s: termination failed; retrying", meta.get("namespace"), meta["name"])
            self._queue.add_after(uid, 1.0)
        finally:
            self._terminating.pop(uid, None)

    async def _cleanup(self, uid: str) -> None:
        """The pod is gone from the API: nothing of it may stay on the node."""
        if uid in self._terminating:
            return
        await self._stop_containers(uid, None, MIN_GRACE, events=False)
        await self._forget(uid)
        self._locks.pop(uid, None)

    async def _forget(self, uid: str) -> None:
        await self.volumes.teardown(uid)
        await self.runtime.remove_pod(uid)
        pod_dir = os.path.join(self.pods_dir, uid)
        if os.path.isdir(pod_dir) and not mounts.mount_points(pod_dir):
            mounts.safe_rmtree(pod_dir)
        self._state.pop(uid, None)
        self._volume_waiters.discard(uid)

    async def _cleanup_leftovers(self) -> None:
        """After a restart: what belongs to pods that no longer exist goes; attachments are re-checked."""
        active = set(self._pods)
        on_disk = {d for d in os.listdir(self.pods_dir) if os.path.isdir(os.path.join(self.pods_dir, d))}
        known = set(self.runtime.pods()) | on_disk | self.volumes.leftover_pods()
        for uid in sorted(known - active):
            try:
                await self._cleanup(uid)
            except Exception:  # noqa: BLE001 - one pod's leftovers must not stop the agent
                log.exception("cleaning up leftovers of pod %s failed", uid)
        in_use: set[str] = set()
        for pod in self._pods.values():
            if (pod.get("status") or {}).get("phase") in TERMINAL:
                continue
            ns = pod["metadata"].get("namespace") or ""
            for _, claim_name, _ in claims_of(pod):
                claim = self._claim(ns, claim_name)
                if claim and (claim.get("spec") or {}).get("volumeName"):
                    in_use.add(claim["spec"]["volumeName"])
        for (_, name), pv in list(self.volume_informer.cache.items()):
            if (pv["metadata"].get("annotations") or {}).get(ATTACHED_NODE) == self.node_name and name not in in_use:
                await self.volumes.detach(name)
        await self.volumes.cleanup_images(in_use, list(self.volume_informer.cache.values()))
