"""Pure decisions of the StatefulSet controller: a set and what exists in, the next writes out.

Why this exists: Kubernetes' StatefulSet semantics (ordered creation, ordered scale-down,
rolling updates with a partition, OnDelete, claim retention, revision history, status)
are a long chain of rules in stateful_set_control.go.  Kept free of I/O they can be
checked branch by branch from plain objects, as Kubernetes' stateful_set_control_test.go
does, and the controller that executes them stays a thin loop.

``decide(sts, pods, claims, revisions, now)`` takes everything in the set's namespace
(a fresh read, so repeating a decision after a partial failure is harmless: what was
created is seen and not created again) and returns a :class:`Plan`:

1. ``actions``, in order, stopping at the first failure (the sync is then retried):
   adopting orphans / releasing pods (ControllerRefManager), creating or re-numbering
   the update revision (``getStatefulSetRevisions``), then the pod work of
   ``updateStatefulSet``;
2. ``status``: the new ``.status`` when it differs (``inconsistentStatus``), written even
   when an action failed;
3. ``cleanup``: revisions beyond ``revisionHistoryLimit`` (``truncateHistory``), also run
   after a failure;
4. ``requeue_after``: minReadySeconds, while pods are ready but not yet available.

The pod work, Kubernetes' order:

- pods are split into *replicas* (ordinals ``start .. start+replicas-1``; a missing one
  is a to-be-created pod from the current or update revision: ordinals below the
  partition get the current revision) and *condemned* (ordinals outside, highest
  first);
- each replica, in ordinal order: a Failed/Succeeded pod is deleted (it comes back with
  the same name and claims); a missing pod is created after its missing claims (a claim
  being deleted blocks it with ``FailedCreate`` "... failed error: pvc <claim> is being
  deleted"; under whenScaled=Delete a claim still owned by an earlier pod of the name
  blocks it silently until the garbage collector removed the claim); a Pending pod gets
  its missing claims; identity labels and claim ownerReferences are repaired.
  ``OrderedReady`` stops at the first pod it created, or that is terminating, not
  Running and Ready, or not available; ``Parallel`` goes on;
- condemned pods get their claims' ownerReferences for the retention policy, then are
  deleted highest ordinal first: ``OrderedReady`` one at a time, only while every replica
  is healthy, waiting for each to be gone; ``Parallel`` all at once;
- ``RollingUpdate``: from the highest ordinal down to the partition, the first pod not at
  the update revision is deleted (one per pass), and an unhealthy pod stops the walk;
  ``OnDelete`` replaces pods only when someone deletes them.

Events are Kubernetes' (reason ``Successful<Verb>`` / ``Failed<Verb>``, messages from
stateful_pod_control.go); :func:`pod_event` and :func:`claim_event` format them for the
executor, which knows the outcome of each write.  ``maxUnavailable`` (alpha, off by
default in Kubernetes 1.32) is ignored: rolling updates replace one pod at a time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from ...errors import StatusError
from ...jsonobj import clone
from ...registry.selectors import label_selector_from_dict
from . import history as hist
from . import identity as ident

JSON = dict[str, Any]
Event = tuple[str, str, str]          # (type, reason, message)


# --------------------------------------------------------------------------- events

def pod_event(verb: str, sts_name: str, pod_name: str, err: str | None = None) -> Event:
    """``recordPodEvent``."""
    if err is None:
        return ("Normal", f"Successful{verb.title()}", f"{verb.lower()} Pod {pod_name} in StatefulSet {sts_name} "
                                                       "successful")
    return ("Warning", f"Failed{verb.title()}",
            f"{verb.lower()} Pod {pod_name} in StatefulSet {sts_name} failed error: {err}")


def claim_event(verb: str, sts_name: str, pod_name: str, claim: str, err: str | None = None) -> Event:
    """``recordClaimEvent``."""
    if err is None:
        return ("Normal", f"Successful{verb.title()}",
                f"{verb.lower()} Claim {claim} Pod {pod_name} in StatefulSet {sts_name} success")
    return ("Warning", f"Failed{verb.title()}",
            f"{verb.lower()} Claim {claim} for Pod {pod_name} in StatefulSet {sts_name} failed error: {err}")


def aggregate(errors: list[str]) -> str:
    """``utilerrors.NewAggregate(errs).Error()``."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# --------------------------------------------------------------------------- actions

@dataclass
class SetOwners:
    """Replace ``obj``'s ownerReferences (adopt an orphan, release a pod, fix a claim)."""
    obj: JSON
    owner_refs: list[JSON]
    why: str                    # "adopt" | "release" | "retention"
    pod_name: str = ""          # for retention: the pod whose claim this is (failure event)


@dataclass
class CreateRevision:
    revision: JSON


@dataclass
class RenumberRevision:
    """A rollback to an earlier template: that revision becomes the newest (``UpdateControllerRevision``)."""
    revision: JSON              # the stored object with its new ``revision`` number


@dataclass
class CreateClaims:
    """Create the missing claims of a pod that exists (``createMissingPersistentVolumeClaims``)."""
    pod_name: str
    claims: list[JSON]
    errors: list[str] = field(default_factory=list)


@dataclass
class CreatePod:
    """``CreateStatefulPod``: the missing claims first, then the pod; ``errors`` are reasons
    known now (claims being deleted) that make the pod fail after its claims were created."""
    pod: JSON
    claims: list[JSON]
    errors: list[str] = field(default_factory=list)


@dataclass
class UpdatePod:
    """``UpdateStatefulPod``: identity/storage repaired (``write`` False when only claims changed)."""
    pod: JSON
    write: bool = True


@dataclass
class DeletePod:
    pod: JSON
    why: str                    # "failed" | "scale-down" | "update"


@dataclass
class DeleteRevision:
    revision: JSON


Action = SetOwners | CreateRevision | RenumberRevision | CreateClaims | CreatePod | UpdatePod | DeletePod


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    status: JSON | None = None
    cleanup: list[DeleteRevision] = field(default_factory=list)
    requeue_after: float | None = None
    error: str = ""              # the sync must be retried even if every write succeeds
    waiting: str = ""            # why the set does not progress (for logs and tests)
    current_revision: str = ""
    update_revision: str = ""

    def events(self, sts_name: str) -> list[Event]:
        """The events the plan records when every write succeeds (tests, logs)."""
        out: list[Event] = []
        for a in self.actions:
            if isinstance(a, CreatePod):
                name = a.pod["metadata"]["name"]
                out += [claim_event("create", sts_name, name, c["metadata"]["name"]) for c in a.claims]
                out.append(pod_event("create", sts_name, name, aggregate(a.errors) if a.errors else None))
            elif isinstance(a, CreateClaims):
                out += [claim_event("create", sts_name, a.pod_name, c["metadata"]["name"]) for c in a.claims]
            elif isinstance(a, UpdatePod):
                out.append(pod_event("update", sts_name, a.pod["metadata"]["name"]))
            elif isinstance(a, DeletePod):
                out.append(pod_event("delete", sts_name, a.pod["metadata"]["name"]))
        return out


# --------------------------------------------------------------------------- helpers

def _controller_of(obj: JSON) -> JSON | None:
    for r in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(r, dict) and r.get("controller"):
            return r
    return None


def _labels(obj: JSON) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _unavailable(pod: JSON, min_ready: int, now: datetime.datetime) -> bool:
    """``isUnavailable``: not healthy, or ready for less than minReadySeconds."""
    return not ident.is_healthy(pod) or not ident.is_available(pod, min_ready, now)


def _status_counts(pods: list[JSON], min_ready: int, now: datetime.datetime, current: str,
                   update: str) -> dict[str, int]:
    """``computeReplicaStatus`` over ``pods``."""
    c = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0}
    for pod in pods:
        created = ident.is_created(pod)
        if created:
            c["replicas"] += 1
        if ident.is_running_and_ready(pod):
            c["readyReplicas"] += 1
            if ident.is_available(pod, min_ready, now):
                c["availableReplicas"] += 1
        if created and not ident.is_terminating(pod):
            rev = ident.revision_of(pod)
            if rev == current:
                c["currentReplicas"] += 1
            if rev == update:
                c["updatedReplicas"] += 1
    return c


def status_json(observed_generation: int, counts: dict[str, int], current: str, update: str,
                collision_count: int) -> JSON:
    """StatefulSetStatus as Go serializes it (zero ``omitempty`` fields left out)."""
    out: JSON = {}
    if observed_generation:
        out["observedGeneration"] = observed_generation
    out["replicas"] = counts["replicas"]
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if counts[key]:
            out[key] = counts[key]
    if current:
        out["currentRevision"] = current
    if update:
        out["updateRevision"] = update
    out["collisionCount"] = collision_count
    out["availableReplicas"] = counts["availableReplicas"]
    return out


def _inconsistent(old: JSON, new: JSON) -> bool:
    """``inconsistentStatus`` (collisionCount alone does not cause a write, as in Kubernetes)."""
    if int(new.get("observedGeneration") or 0) > int(old.get("observedGeneration") or 0):
        return True
    for key in ("replicas", "currentReplicas", "readyReplicas", "updatedReplicas", "availableReplicas"):
        if int(new.get(key) or 0) != int(old.get(key) or 0):
            return True
    return any((new.get(k) or "") != (old.get(k) or "") for k in ("currentRevision", "updateRevision"))


# --------------------------------------------------------------------------- the decision

class _Decider:
    def __init__(self, sts: JSON, pods: list[JSON], claims: list[JSON], revisions: list[JSON],
                 now: datetime.datetime):
        self.sts = sts
        self.meta = sts["metadata"]
        self.spec = sts.get("spec") or {}
        self.name = self.meta["name"]
        self.ns = self.meta.get("namespace")
        self.uid = self.meta.get("uid", "")
        self.deleting = bool(self.meta.get("deletionTimestamp"))
        self.now = now
        self.min_ready = int(self.spec.get("minReadySeconds") or 0)
        self.pods = [p for p in pods if p["metadata"].get("namespace") == self.ns]
        self.claims = {c["metadata"]["name"]: c for c in claims if c["metadata"].get("namespace") == self.ns}
        self.all_revisions = [r for r in revisions if r["metadata"].get("namespace") == self.ns]
        self.plan = Plan()

    # ----------------------------------------------------------- ownership
    def claim_pods(self, selector: Any) -> list[JSON]:
        """``ClaimPods``: ours (controller ref), adopting matching orphans, releasing non-matching."""
        out = []
        for pod in self.pods:
            ref = _controller_of(pod)
            match = selector.matches(_labels(pod)) and ident.is_member(self.sts, pod)
            if ref is not None:
                if ref.get("uid") != self.uid:
                    continue
                if match:
                    out.append(pod)
                elif not self.deleting:
                    refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("uid") != self.uid]
                    self.plan.actions.append(SetOwners(pod, refs, "release"))
                continue
            if self.deleting or not match or ident.is_terminating(pod):
                continue
            refs = list(pod["metadata"].get("ownerReferences") or [])
            refs.append(hist.controller_ref(self.sts, "apps/v1", "StatefulSet"))
            self.plan.actions.append(SetOwners(pod, refs, "adopt"))
            adopted = clone(pod)
            adopted["metadata"]["ownerReferences"] = refs
            out.append(adopted)
        return out

    def list_revisions(self, selector: Any) -> list[JSON]:
        """``ListRevisions`` after ``adoptOrphanRevisions``: ours and adopted orphans, sorted."""
        out = []
        for rev in self.all_revisions:
            if not selector.matches(_labels(rev)):
                continue
            ref = _controller_of(rev)
            if ref is None:
                if self.deleting:
                    continue
                refs = list(rev["metadata"].get("ownerReferences") or [])
                refs.append(hist.controller_ref(self.sts, "apps/v1", "StatefulSet"))
                self.plan.actions.append(SetOwners(rev, refs, "adopt"))
                rev = clone(rev)
                rev["metadata"]["ownerReferences"] = refs
            elif ref.get("uid") != self.uid:
                continue
            out.append(rev)
        return hist.sort_revisions(out)

    # ----------------------------------------------------------- revisions
    def revisions(self, ours: list[JSON]) -> tuple[JSON, JSON, int]:
        """``getStatefulSetRevisions``: (current, update, collisionCount)."""
        status = self.sts.get("status") or {}
        collision = int(status.get("collisionCount") or 0)
        number = int(ours[-1].get("revision") or 0) + 1 if ours else 1
        candidate = hist.new_revision(self.sts, number, collision)
        equal = [r for r in ours if hist.equal_revision(r, candidate)]
        if equal and hist.equal_revision(ours[-1], equal[-1]):
            update = ours[-1]
        elif equal:
            update = clone(equal[-1])
            update["revision"] = number
            self.plan.actions.append(RenumberRevision(update))
        else:
            by_name = {r["metadata"]["name"]: r for r in self.all_revisions}
            update = candidate
            while True:
                existing = by_name.get(update["metadata"]["name"])
                if existing is None:
                    self.plan.actions.append(CreateRevision(update))
                    break
                if existing.get("data") == update.get("data"):
                    update = existing           # CreateControllerRevision returns the equal one
                    break
                collision += 1
                update = hist.rename(candidate, self.name, collision)
        current = next((r for r in ours if r["metadata"]["name"] == status.get("currentRevision")), update)
        return current, update, collision

    # ----------------------------------------------------------- pods
    def new_versioned_pod(self, ordinal: int) -> JSON:
        """``newVersionedStatefulSetPod``: below the partition from the current revision."""
        strategy = self.current_set.get("spec", {}).get("updateStrategy") or {}
        rolling = strategy.get("rollingUpdate")
        start = ident.start_ordinal(self.current_set)
        current_replicas = int((self.current_set.get("status") or {}).get("currentReplicas") or 0)
        if ((strategy.get("type") == "RollingUpdate" and rolling is None and ordinal < start + current_replicas)
                or (rolling is not None and ordinal < start + int(rolling.get("partition") or 0))):
            return ident.new_pod(self.current_set, ordinal, self.current_name)
        return ident.new_pod(self.update_set, ordinal, self.update_name)

    def _claims_for(self, sts: JSON, pod: JSON) -> tuple[list[JSON], list[str], list[JSON]]:
        """(claims to create, errors, existing claims) for ``pod`` (``createPersistentVolumeClaims``)."""
        missing, errors, existing = [], [], []
        for c in ident.new_claims(sts, ident.ordinal_of(pod)).values():
            have = self.claims.get(c["metadata"]["name"])
            if have is None:
                missing.append(c)
            else:
                existing.append(have)
                if have["metadata"].get("deletionTimestamp"):
                    errors.append(f"pvc {c['metadata']['name']} is being deleted")
        return missing, errors, existing

    def _retention_fixes(self, sts: JSON, pod: JSON, claims: list[JSON]) -> list[SetOwners]:
        """Claims whose ownerReferences the retention policy wants changed.  The changed claim
        replaces the read one, so a later step of this decision sees it fixed."""
        out = []
        for claim in claims:
            if not ident.claim_owner_up_to_date(claim, sts, pod):
                refs = ident.claim_owner_refs(claim, sts, pod)
                out.append(SetOwners(claim, refs, "retention", pod["metadata"]["name"]))
                fixed = clone(claim)
                fixed["metadata"]["ownerReferences"] = refs
                self.claims[claim["metadata"]["name"]] = fixed
        return out

    def _existing_claims(self, sts: JSON, pod: JSON) -> list[JSON]:
        names = [c["metadata"]["name"] for c in ident.new_claims(sts, ident.ordinal_of(pod)).values()]
        return [self.claims[n] for n in names if n in self.claims]

    def process_replica(self, pod: JSON, monotonic: bool) -> bool:
        """``processReplica``: True = stop (OrderedReady waits, or an error)."""
        a = self.plan.actions
        name = pod["metadata"]["name"]
        if ident.phase(pod) in ("Failed", "Succeeded"):
            if not ident.is_terminating(pod):
                a.append(DeletePod(pod, "failed"))
            self.plan.waiting = f"pod {name} {ident.phase(pod)}: recreating"
            return True
        if not ident.is_created(pod):
            if ident.claim_is_stale(self.sts, pod, self.claims):
                self.plan.waiting = f"a claim of {name} still belongs to an earlier pod {name}"
                return True
            missing, errors, existing = self._claims_for(self.sts, pod)
            for c in missing:
                c["metadata"]["ownerReferences"] = ident.claim_owner_refs(c, self.sts, pod)
                if not c["metadata"]["ownerReferences"]:
                    del c["metadata"]["ownerReferences"]
            a.append(CreatePod(pod, missing, errors))
            if errors:
                self.plan.error = aggregate(errors)
                self.plan.waiting = f"pod {name} blocked: {self.plan.error}"
                return True
            # Set the claims' references as far as possible now (UpdatePodClaimForRetentionPolicy).
            a.extend(self._retention_fixes(self.sts, pod, existing))
            if monotonic:
                self.plan.waiting = f"created pod {name}"
                return True
            return False
        if ident.phase(pod) == "Pending":
            missing, errors, existing = self._claims_for(self.sts, pod)
            if missing or errors:
                a.append(CreateClaims(name, missing, errors))
            if errors:
                self.plan.error = aggregate(errors)
                return True
            a.extend(self._retention_fixes(self.sts, pod, existing))
        if monotonic:
            if ident.is_terminating(pod):
                self.plan.waiting = f"waiting for pod {name} to terminate"
                return True
            if not ident.is_running_and_ready(pod):
                self.plan.waiting = f"waiting for pod {name} to be Running and Ready"
                return True
            if not ident.is_available(pod, self.min_ready, self.now):
                self.plan.waiting = f"waiting for pod {name} to be available"
                return True
        retention_ok = all(ident.claim_owner_up_to_date(c, self.update_set, pod)
                           for c in self._existing_claims(self.update_set, pod))
        if ident.identity_matches(self.sts, pod) and ident.storage_matches(self.sts, pod) and retention_ok:
            return False
        # UpdateStatefulPod (against the update revision's set).
        fixed = clone(pod)
        dirty = False
        if not ident.identity_matches(self.update_set, fixed):
            ident.update_identity(self.update_set, fixed)
            dirty = True
        if not ident.storage_matches(self.update_set, fixed):
            ident.update_storage(self.update_set, fixed)
            dirty = True
            missing, errors, _ = self._claims_for(self.update_set, fixed)
            if missing or errors:
                a.append(CreateClaims(name, missing, errors))
            if errors:
                self.plan.error = aggregate(errors)
                return True
        fixes = self._retention_fixes(self.update_set, fixed, self._existing_claims(self.update_set, fixed))
        a.extend(fixes)
        a.append(UpdatePod(fixed, write=dirty))
        return False

    def process_condemned(self, pod: JSON, first_unhealthy: JSON | None, monotonic: bool) -> bool:
        """``processCondemned``: True = stop."""
        name = pod["metadata"]["name"]
        if ident.is_terminating(pod):
            if monotonic:
                self.plan.waiting = f"waiting for pod {name} to terminate before scaling down"
                return True
            return False
        if monotonic and pod is not first_unhealthy and not ident.is_running_and_ready(pod):
            self.plan.waiting = f"waiting for pod {name} to be Running and Ready before scaling down"
            return True
        if monotonic and pod is not first_unhealthy and not ident.is_available(pod, self.min_ready, self.now):
            self.plan.waiting = f"waiting for pod {name} to be available before scaling down"
            return True
        self.plan.actions.append(DeletePod(pod, "scale-down"))
        return True

    # ----------------------------------------------------------- main
    def run(self) -> Plan:
        try:
            selector = label_selector_from_dict(self.spec.get("selector"))
        except StatusError as e:
            self.plan.waiting = f"invalid selector: {e}"     # not retried, as in Kubernetes
            return self.plan
        ours_revisions = self.list_revisions(selector)
        pods = self.claim_pods(selector)
        current, update, collision = self.revisions(ours_revisions)
        self.current_name, self.update_name = current["metadata"]["name"], update["metadata"]["name"]
        self.plan.current_revision, self.plan.update_revision = self.current_name, self.update_name
        self.current_set = hist.apply_revision(self.sts, current)
        self.update_set = hist.apply_revision(self.sts, update)

        generation = int(self.meta.get("generation") or 0)
        # A set being deleted only has its status kept current.
        counts = (self._counts(pods) if self.deleting else self.update_pods(pods))
        status = status_json(generation, counts, self.current_name, self.update_name, collision)
        self.finish_status(status)
        self.truncate_history(ours_revisions, pods, current, update)
        replicas = ident.replica_count(self.sts)
        if self.min_ready > 0 and status.get("availableReplicas", 0) != replicas:
            self.plan.requeue_after = float(self.min_ready)
        return self.plan

    def _counts(self, pods: list[JSON]) -> dict[str, int]:
        return _status_counts(pods, self.min_ready, self.now, self.current_name, self.update_name)

    def update_pods(self, pods: list[JSON]) -> dict[str, int]:
        """``updateStatefulSet`` from the partition of pods on; returns the status counts."""
        n = ident.replica_count(self.sts)
        start = ident.start_ordinal(self.sts)
        replicas: list[JSON | None] = [None] * max(n, 0)
        condemned: list[JSON] = []
        for pod in pods:
            o = ident.ordinal_of(pod)
            if ident.in_range(self.sts, o):
                replicas[o - start] = pod
            elif o >= 0:
                condemned.append(pod)
        full: list[JSON] = [p if p is not None else self.new_versioned_pod(start + i) for i, p in enumerate(replicas)]
        condemned.sort(key=ident.ordinal_of, reverse=True)

        first_unhealthy: JSON | None = None
        for pod in full:
            if _unavailable(pod, self.min_ready, self.now):
                first_unhealthy = pod
                break
        if first_unhealthy is None:
            for pod in reversed(condemned):
                if _unavailable(pod, self.min_ready, self.now):
                    first_unhealthy = pod
                    break

        def counts() -> dict[str, int]:
            return self._counts(full + condemned)

        monotonic = self.spec.get("podManagementPolicy") != "Parallel"
        for pod in full:
            # Parallel goes on past a pod it waits for; an error stops both.
            if self.process_replica(pod, monotonic) and (monotonic or self.plan.error):
                return counts()
        # Claims of condemned pods get the references the retention policy asks for.
        for pod in condemned:
            self.plan.actions.extend(self._retention_fixes(self.update_set, pod,
                                                           self._existing_claims(self.update_set, pod)))
        for pod in condemned:
            if self.process_condemned(pod, first_unhealthy, monotonic) and monotonic:
                return counts()
        result = counts()
        strategy = self.spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return result
        rolling = strategy.get("rollingUpdate")
        update_min = int(rolling.get("partition") or 0) if isinstance(rolling, dict) else 0
        for target in range(len(full) - 1, update_min - 1, -1):
            pod = full[target]
            if ident.revision_of(pod) != self.update_name and not ident.is_terminating(pod):
                if ident.is_created(pod):
                    self.plan.actions.append(DeletePod(pod, "update"))
                self.plan.waiting = f"rolling update: replacing pod {pod['metadata']['name']}"
                result["currentReplicas"] -= 1
                return result
            if _unavailable(pod, self.min_ready, self.now):
                self.plan.waiting = f"rolling update: waiting for pod {pod['metadata']['name']}"
                return result
        return result

    def finish_status(self, status: JSON) -> None:
        """``updateStatefulSetStatus``: complete a finished rolling update; write only on change."""
        strategy = (self.spec.get("updateStrategy") or {}).get("type")
        replicas = ident.replica_count(self.sts)
        if (strategy == "RollingUpdate" and status.get("updatedReplicas", 0) == replicas
                and status.get("readyReplicas", 0) == replicas and status["replicas"] == replicas):
            if status.get("updatedReplicas"):
                status["currentReplicas"] = status["updatedReplicas"]
            else:
                status.pop("currentReplicas", None)
            status["currentRevision"] = status.get("updateRevision", "")
            if not status["currentRevision"]:
                del status["currentRevision"]
        if _inconsistent(self.sts.get("status") or {}, status):
            self.plan.status = status

    def truncate_history(self, ours: list[JSON], pods: list[JSON], current: JSON, update: JSON) -> None:
        live = {current["metadata"]["name"], update["metadata"]["name"]} | {ident.revision_of(p) for p in pods}
        old = [r for r in ours if r["metadata"]["name"] not in live]
        limit = self.spec.get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        if limit < 0 or len(old) <= limit:
            return
        self.plan.cleanup = [DeleteRevision(r) for r in old[:len(old) - limit]]


def decide(sts: JSON, pods: list[JSON], claims: list[JSON], revisions: list[JSON],
           now: datetime.datetime | None = None) -> Plan:
    """The next writes for ``sts`` given everything in its namespace (see the module docstring)."""
    return _Decider(sts, pods, claims, revisions, now or datetime.datetime.now(datetime.UTC)).run()
