"""Pure decisions of the PersistentVolume controller: objects in, a ``Decision`` out.

Why this exists: the binder is where Kubernetes' storage semantics live (which volume a
claim gets, when a claim is Lost, when a volume is Released and reclaimed).  Keeping
those rules free of I/O makes every branch testable from plain objects, the way
Kubernetes' binder_test.go tests ``syncClaim`` / ``syncVolume``, and lets the controller
that executes the decisions be as fast as it likes without touching the rules.

Design
======

The fundamental invariant is the two-way pointer between a PersistentVolume and a
PersistentVolumeClaim: ``pv.spec.claimRef`` <-> ``pvc.spec.volumeName``.  There are no
transactions, so binding is a sequence of single-object writes, always in this order
(Kubernetes' ``bind()``):

1. PV spec: ``claimRef`` = reference to the claim (kind, namespace, name, uid, apiVersion,
   resourceVersion) + ``pv.kubernetes.io/bound-by-controller: "yes"`` unless the volume
   was already pre-bound to this claim by the user;
2. PV status: phase ``Bound``;
3. PVC spec: ``volumeName`` + ``pv.kubernetes.io/bound-by-controller: "yes"`` (only when
   the controller chose the volume) + ``pv.kubernetes.io/bind-completed: "yes"``;
4. PVC status: phase ``Bound``, ``accessModes`` and ``capacity`` copied from the PV.

The PV side is written first: a volume that points at a claim is "taken" for every other
claim, so two claims can never both win one volume.  Every step is safe against a
conflict (each write carries the resourceVersion it was computed from, so a stale write
fails with 409 and nothing else happens) and against a crash halfway: whatever prefix of
the four writes landed, the next ``sync_claim`` or ``sync_volume`` recognises the
half-bound state (a PV whose claimRef names the claim wins the match immediately; a
claim with bind-completed is finished by ``bind()`` again) and writes the rest.  Each
step is skipped when already done, so repeating a decision is harmless.

Writes are not folded: the PV and PVC main resources ignore ``status`` and their
``/status`` subresources ignore everything but ``status`` (as in Kubernetes), so a spec
change and a status change are necessarily two PUTs.  Two writes of one object in one
Decision are computed one on top of the other; the executor must send the second with
the resourceVersion the first write returned (see :class:`Write`).

Matching (``find_best_volume``), Kubernetes' rules:

- only volumes whose access modes are a superset of the claim's are considered; the
  volumes with the *fewest* access modes are preferred (Kubernetes searches its
  access-mode index from the smallest mode set up), then the *smallest capacity* that
  fits;
- a volume whose claimRef names this claim (by namespace/name, and uid when set) wins
  immediately, even when binding is delayed, provided size, access modes and volumeMode
  fit (orlop prefers it over every other volume; Kubernetes' controller only finds it
  within the access-mode set it happens to search first);
- a volume pre-bound or bound to another claim, too small, of another volumeMode
  (unset = Filesystem) or being deleted is skipped;
- for the others: binding delayed by a WaitForFirstConsumer class skips them (the
  scheduler path binds them); only phase ``Available``; the claim's label selector must
  match; ``storageClassName`` must be equal as a string (claim: beta annotation
  ``volume.beta.kubernetes.io/storage-class`` first, then ``spec.storageClassName``,
  unset -> ""; volume: beta annotation first, then the field), so "" != "gold" and an
  unset class matches only volumes without a class;
- with a node (the scheduler path, or orlop's selected-node path below) the volume's
  node affinity must match the node; a pre-bound volume that does not fit the node
  means no match at all.

Deterministic tie-break (Kubernetes iterates Go maps, so its choice among equals is
random): among candidates, fewest distinct access modes first, then smallest capacity,
then the PV name in lexical (code point) order.  The same order picks among several
volumes pre-bound to one claim.

orlop's improvement: for every volume rejected, ``find_best_volume`` says why in a short,
stable phrase (``capacity 1Gi < requested 3Gi``, ``storageClassName "slow" != "manual"``,
``access modes [ReadWriteOnce] do not include [ReadWriteMany]``, ``labels do not match
selector app=db``, ``already bound to default/other``, ``pre-bound to default/other``,
``volumeMode Block != Filesystem``, ``being deleted``, ``phase Released, not
Available``, ``binding waits for a consumer (WaitForFirstConsumer)``, ``node affinity
does not match node-1``).  Reasons are ordered most useful first (volumes that a user
would expect to fit: size, class, modes, selector, volumeMode, node; then
phase / deletion / delay; then volumes taken by other claims), by PV name within a
rank.  When a claim stays Pending without provisioning, the event Kubernetes emits
(``FailedBinding``, or ``ProvisioningFailed`` for a missing class or
``kubernetes.io/no-provisioner``) carries the first ten reasons in parentheses after
Kubernetes' own message.

Deliberate differences from Kubernetes (each documented where it is made):

- capacity resync: Kubernetes copies the PV capacity into a claim's status only when the
  claim *becomes* Bound.  Seed 000 relies on an administrator growing a bound PV and the
  claim following, so orlop also raises ``status.capacity`` of a Bound claim to a larger
  PV capacity -- never while a resize is in flight (request above status capacity,
  resize conditions or ``allocatedResourceStatuses`` present) and never downwards;
- ``status.lastPhaseTransitionTime`` is set on every PV phase change the controller
  writes (Kubernetes 1.32's API server sets it in the PV status strategy; orlop sets it
  here too, so it is right whatever the registry does);
- a delayed-binding claim that carries ``volume.kubernetes.io/selected-node`` is matched
  against static volumes on that node (when the caller passes the Node) before
  provisioning, which is what Kubernetes' scheduler does before it sets the annotation;
- the per-volume reasons appended to FailedBinding / ProvisioningFailed messages (the
  message starts with Kubernetes' text, unchanged when no volume was considered).

Scale: ``find_best_volume`` scans every volume it is given (it must, to explain each
rejection).  :class:`VolumeIndex` keeps unclaimed volumes per class in match order and
claimed ones by claim, so ``sync_claim`` over an index stops at the first fit and gives
the same answer; reasons are only built (by a full scan) when nothing fits.

Every branch below carries an ``# OBSERVATION:`` comment stating the phases it sees, as
Kubernetes' controller does.
"""

from __future__ import annotations

import bisect
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ...admission import BETA_CLASS_ANNOTATION, default_class
from ...errors import StatusError
from ...jsonobj import clone
from ...quantity import parse_quantity
from ...registry.selectors import LabelSelector, label_selector_from_dict

__all__ = [
    "ANN_BIND_COMPLETED",
    "ANN_BOUND_BY_CONTROLLER",
    "ANN_PROVISIONED_BY",
    "ANN_SELECTED_NODE",
    "ANN_STORAGE_PROVISIONER",
    "ANN_BETA_STORAGE_PROVISIONER",
    "NO_PROVISIONER",
    "Decision",
    "Event",
    "VolumeIndex",
    "Write",
    "claim_class",
    "claim_has_class",
    "claim_ref",
    "default_class_for",
    "find_best_volume",
    "is_delay_binding",
    "node_requirement_matches",
    "provisioned_volume",
    "sync_claim",
    "sync_volume",
    "unbind_writes",
    "volume_class",
]

PV = "PersistentVolume"
PVC = "PersistentVolumeClaim"

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_PRE_RESIZE_CAPACITY = "volume.alpha.kubernetes.io/pre-resize-capacity"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
PV_CONTROLLER_FINALIZER = "kubernetes.io/pv-controller"

# Claim conditions that mean a resize is in flight (capacity is the resizer's business).
_RESIZE_CONDITIONS = {"Resizing", "FileSystemResizePending", "ControllerResizeError", "NodeResizeError",
                      "NodeResizePending", "NodeResizeInProgress"}

# How many per-volume reasons an event message carries.
MAX_REASONS_IN_EVENT = 10

# Reason ranks: lower = more useful to the user reading `describe pvc`.  A volume of
# another class is listed after every volume of the claim's own class, whatever else is
# wrong with it (a class mismatch is the first thing a reader must know, and the least
# likely to be what they want to fix).
# A volume still reserved for an earlier claim of the same name comes first of all.
_RANK_EARLIER, _RANK_FIT, _RANK_STATE, _RANK_TAKEN, _RANK_CLASS = -1, 0, 1, 2, 3


# --------------------------------------------------------------------------- decision types

@dataclass
class Event:
    """A core/v1 Event to record about the object it is attached to."""

    type: str      # "Normal" | "Warning"
    reason: str
    message: str


@dataclass
class Write:
    """One PUT: the full new object, carrying the resourceVersion it was computed from.

    ``subresource`` is "" (main resource: metadata + spec; the registry keeps the stored
    status) or "status" (``/status``: status only).  When a Decision writes one object
    twice (spec then status), the second ``obj`` already contains the first write's
    changes but still carries the original resourceVersion: the executor must replace it
    with the resourceVersion returned by the previous write of the same object in this
    Decision.  In ``_bind`` the two may even be the same dict (the spec write's object then
    carries the status as well, which a main-resource update ignores): the executor folds such
    a pair into one write (``_folded``) rather than sending the first and changing it.  Any
    failure (409 Conflict included) stops the Decision; the next sync
    resumes from whatever state is stored.
    """

    kind: str      # "PersistentVolume" | "PersistentVolumeClaim"
    obj: dict[str, Any]
    subresource: str = ""   # "" | "status"


@dataclass
class Decision:
    """What one sync decided.  The executor applies ``writes`` in order, stopping at the
    first failure, records ``events``, then starts the backend operation asked for."""

    writes: list[Write] = field(default_factory=list)
    # (kind, namespace, name, event); namespace "" for PersistentVolumes.
    events: list[tuple[str, str, str, Event]] = field(default_factory=list)
    # The claim needs dynamic provisioning by ``provisioner`` (run after the writes, which
    # may set the storage-provisioner annotations on the claim first).
    provision: bool = False
    provisioner: str = ""
    # For a volume: "Delete" | "Recycle" -- the controller runs the backend operation.
    reclaim: str | None = None
    # Sync this object again later (Kubernetes returned an error here: retry with backoff).
    requeue: bool = False
    # Other objects to sync soon: (kind, namespace, name).
    enqueue: list[tuple[str, str, str]] = field(default_factory=list)
    # Kubernetes' error text when this sync is a failure (the controller logs it and retries).
    error: str | None = None

    def idle(self) -> bool:
        """Nothing to do: no write, event, backend operation, retry or other object to sync."""
        return not (self.writes or self.events or self.provision or self.reclaim or self.requeue or self.enqueue)

    def write(self, kind: str, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]:
        self.writes.append(Write(kind, obj, subresource))
        return obj

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        kind = PVC if _is_claim(obj) else PV
        meta = obj.get("metadata") or {}
        self.events.append((kind, meta.get("namespace") or "", meta.get("name") or "", Event(type_, reason, message)))


# --------------------------------------------------------------------------- small accessors

def _d(obj: Any, key: str) -> dict[str, Any]:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else {}


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return _d(obj, "metadata")


def _anns(obj: dict[str, Any]) -> dict[str, str]:
    return _d(_meta(obj), "annotations")


def _name(obj: dict[str, Any]) -> str:
    return _meta(obj).get("name") or ""


def _ns(obj: dict[str, Any]) -> str:
    return _meta(obj).get("namespace") or ""


def _uid(obj: dict[str, Any]) -> str:
    return _meta(obj).get("uid") or ""


def _phase(obj: dict[str, Any]) -> str:
    return _d(obj, "status").get("phase") or ""


def _is_claim(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == PVC or (obj.get("kind") is None and "namespace" in _meta(obj))


def _claimref(volume: dict[str, Any]) -> dict[str, Any] | None:
    ref = _d(volume, "spec").get("claimRef")
    return ref if isinstance(ref, dict) else None


def _modes(obj: dict[str, Any]) -> list[str]:
    return [m for m in (_d(obj, "spec").get("accessModes") or []) if isinstance(m, str)]


def _volume_mode(obj: dict[str, Any]) -> str:
    # CheckVolumeModeMismatches: an unset volumeMode means Filesystem.
    return _d(obj, "spec").get("volumeMode") or "Filesystem"


@lru_cache(maxsize=4096)
def _qty_text(text: str) -> Decimal:
    try:
        return parse_quantity(text)
    except (StatusError, ValueError, ArithmeticError):
        return Decimal(0)


def _qty(value: Any) -> Decimal:
    """A quantity's exact value; absent or malformed is 0 (a zero resource.Quantity)."""
    if value is None:
        return Decimal(0)
    return _qty_text(str(value))


def _volume_capacity(volume: dict[str, Any]) -> Any:
    return _d(_d(volume, "spec"), "capacity").get("storage")


def _claim_request(claim: dict[str, Any]) -> Any:
    return _d(_d(_d(claim, "spec"), "resources"), "requests").get("storage")


def claim_class(claim: dict[str, Any]) -> str:
    """GetPersistentVolumeClaimClass: the beta annotation first, then spec.storageClassName; unset is ""."""
    anns = _anns(claim)
    if BETA_CLASS_ANNOTATION in anns:
        return anns[BETA_CLASS_ANNOTATION] or ""
    return _d(claim, "spec").get("storageClassName") or ""


def claim_has_class(claim: dict[str, Any]) -> bool:
    """PersistentVolumeClaimHasClass: a class was asked for (even ""), by annotation or field."""
    return BETA_CLASS_ANNOTATION in _anns(claim) or _d(claim, "spec").get("storageClassName") is not None


def volume_class(volume: dict[str, Any]) -> str:
    """GetPersistentVolumeClass: the beta annotation first, then spec.storageClassName."""
    anns = _anns(volume)
    if BETA_CLASS_ANNOTATION in anns:
        return anns[BETA_CLASS_ANNOTATION] or ""
    return _d(volume, "spec").get("storageClassName") or ""


def default_class_for(classes: Mapping[str, dict[str, Any]]) -> str | None:
    """The default StorageClass's name (is-default-class "true", or its beta form); several
    defaults -> the newest creationTimestamp wins, ties by name.  None when there is none."""
    cls = default_class(list(classes.values()))
    return _name(cls) if cls is not None else None


def is_delay_binding(claim: dict[str, Any], classes: Mapping[str, dict[str, Any]]) -> bool:
    """IsDelayBindingMode: the claim's class exists and binds WaitForFirstConsumer.

    No class or a missing class -> not delayed.  An unset volumeBindingMode (the API
    defaults it to Immediate) is Immediate.
    """
    name = claim_class(claim)
    if not name:
        return False
    cls = classes.get(name)
    return cls is not None and cls.get("volumeBindingMode") == "WaitForFirstConsumer"


def claim_ref(claim: dict[str, Any]) -> dict[str, Any]:
    """reference.GetReference(claim): what the binder writes into pv.spec.claimRef."""
    meta = _meta(claim)
    ref: dict[str, Any] = {"kind": PVC, "namespace": meta.get("namespace") or "", "name": meta.get("name") or ""}
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    ref["apiVersion"] = "v1"
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    return ref


def _is_bound_to(volume: dict[str, Any], claim: dict[str, Any]) -> bool:
    """IsVolumeBoundToClaim: claimRef names the claim; its uid, when set, must be the claim's."""
    ref = _claimref(volume)
    if ref is None:
        return False
    if (ref.get("name") or "") != _name(claim) or (ref.get("namespace") or "") != _ns(claim):
        return False
    return not ref.get("uid") or ref.get("uid") == _uid(claim)


def _ref_key(ref: dict[str, Any]) -> str:
    return f"{ref.get('namespace') or ''}/{ref.get('name') or ''}"


def _fmt_modes(modes: Iterable[str]) -> str:
    return "[" + ", ".join(modes) + "]"


# --------------------------------------------------------------------------- node affinity

def node_requirement_matches(req: dict[str, Any], values_of: Mapping[str, str]) -> bool:
    """One NodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) against labels or fields."""
    key, op = req.get("key") or "", req.get("operator") or ""
    vals = [str(v) for v in (req.get("values") or [])]
    if op == "In":
        return key in values_of and values_of[key] in vals
    if op == "NotIn":
        return key not in values_of or values_of[key] not in vals
    if op == "Exists":
        return key in values_of
    if op == "DoesNotExist":
        return key not in values_of
    if op in ("Gt", "Lt"):
        if key not in values_of or len(vals) != 1:
            return False
        try:
            have, want = int(values_of[key]), int(vals[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _node_matches(volume: dict[str, Any], node: dict[str, Any]) -> bool:
    """CheckNodeAffinity: the PV's required node selector terms (ORed) match the node."""
    required = _d(_d(_d(volume, "spec"), "nodeAffinity"), "required")
    if not _d(_d(volume, "spec"), "nodeAffinity") or not required:
        return True
    labels = {str(k): str(v) for k, v in (_meta(node).get("labels") or {}).items()}
    fields = {"metadata.name": _name(node)}
    for term in required.get("nodeSelectorTerms") or []:
        if not isinstance(term, dict):
            continue
        exprs = [e for e in term.get("matchExpressions") or [] if isinstance(e, dict)]
        flds = [e for e in term.get("matchFields") or [] if isinstance(e, dict)]
        if not exprs and not flds:
            continue  # an empty term matches no node
        if all(node_requirement_matches(e, labels) for e in exprs) and all(node_requirement_matches(f, fields)
                                                                        for f in flds):
            return True
    return False


# --------------------------------------------------------------------------- matching

@dataclass
class _ClaimView:
    """What matching needs from the claim, computed once per search."""

    namespace: str
    name: str
    uid: str
    modes: frozenset[str]
    mode_list: list[str]
    request: Decimal
    request_text: str
    cls: str
    volume_mode: str
    selector: LabelSelector | None
    selector_text: str

    @classmethod
    def of(cls, claim: dict[str, Any]) -> _ClaimView:
        spec = _d(claim, "spec")
        raw_sel = spec.get("selector")
        selector: LabelSelector | None = None
        sel_text = ""
        if isinstance(raw_sel, dict):
            try:
                selector = label_selector_from_dict(raw_sel)
                sel_text = str(selector)
            except StatusError as e:  # unreachable after validation; then nothing matches
                selector, sel_text = LabelSelector.match_nothing(), f"<invalid: {e}>"
        req = _claim_request(claim)
        modes = _modes(claim)
        return cls(_ns(claim), _name(claim), _uid(claim), frozenset(modes), modes, _qty(req),
                   str(req) if req is not None else "0", claim_class(claim), _volume_mode(claim), selector,
                   sel_text)


_PREBOUND, _CANDIDATE, _REJECTED, _NO_MATCH = range(4)


def _check(cv: _ClaimView, volume: dict[str, Any], delay_binding: bool, node: dict[str, Any] | None,
           explain: bool) -> tuple[int, int, str]:
    """(verdict, rank, reason) for one volume, following findMatchingVolume's order.

    The verdict keeps Kubernetes' order of checks; the reason of a rejected volume of
    another class names the class (see ``_explain_class``), whatever check failed first.
    """
    verdict, rank, why = _check_in_order(cv, volume, delay_binding, node, explain)
    if verdict == _REJECTED and explain:
        return _explain_class(cv, volume, rank, why)
    return verdict, rank, why


def _explain_class(cv: _ClaimView, volume: dict[str, Any], rank: int, why: str) -> tuple[int, int, str]:
    """A volume of another class could never bind this claim, so that is its reason
    (rather than, say, "capacity 1Gi < requested 5Gi", which suggests a fix that would not
    help); volumes pre-bound to this very claim keep their own reason (Kubernetes binds
    them whatever their class, then reports the mismatch)."""
    vcls = volume_class(volume)
    ref = _d(volume, "spec").get("claimRef")
    if vcls == cv.cls or (isinstance(ref, dict) and (ref.get("name") or "") == cv.name
                          and (ref.get("namespace") or "") == cv.namespace and ref.get("uid") in (None, "", cv.uid)):
        return _REJECTED, rank, why
    return _REJECTED, _RANK_CLASS, f'storageClassName "{vcls}" != "{cv.cls}"'


def _taken(cv: _ClaimView, ref: dict[str, Any], volume: dict[str, Any]) -> tuple[int, str]:
    """(rank, reason) of a volume whose claimRef names another claim."""
    key = _ref_key(ref)
    if not ref.get("uid"):
        return _RANK_TAKEN, f"pre-bound to {key}"
    if (ref.get("name") or "") == cv.name and (ref.get("namespace") or "") == cv.namespace:
        # The classic confusion (kubernetes/kubernetes#20753): a claim deleted and created
        # again under the same name is a new claim; the volume stays reserved for the old
        # one.  Most likely the very volume the reader wants, so it comes first.
        return _RANK_EARLIER, (f"{_phase(volume) or 'reserved'}: its claimRef names an earlier claim {key} "
                               f"(uid {ref['uid']}), not this one; remove the volume's spec.claimRef to reuse it")
    return _RANK_TAKEN, f"already bound to {key}"


def _check_in_order(cv: _ClaimView, volume: dict[str, Any], delay_binding: bool, node: dict[str, Any] | None,
                    explain: bool) -> tuple[int, int, str]:
    spec = _d(volume, "spec")
    ref = spec.get("claimRef") if isinstance(spec.get("claimRef"), dict) else None
    bound_here = False
    if ref is not None:
        same = (ref.get("name") or "") == cv.name and (ref.get("namespace") or "") == cv.namespace
        if same and (not ref.get("uid") or ref.get("uid") == cv.uid):
            bound_here = True
        else:
            if not explain:
                return _REJECTED, _RANK_TAKEN, ""
            return (_REJECTED, *_taken(cv, ref, volume))
    # The access-mode index: only volumes whose modes include every requested mode.
    vmodes = spec.get("accessModes") or []
    if not cv.modes.issubset(vmodes):
        return _REJECTED, _RANK_FIT, (f"access modes {_fmt_modes(vmodes)} do not include "
                                      f"{_fmt_modes(cv.mode_list)}" if explain else "")
    cap = spec.get("capacity", {}).get("storage") if isinstance(spec.get("capacity"), dict) else None
    if _qty(cap) < cv.request:
        return _REJECTED, _RANK_FIT, (f"capacity {cap if cap is not None else 0} < requested {cv.request_text}"
                                      if explain else "")
    vmode = spec.get("volumeMode") or "Filesystem"
    if vmode != cv.volume_mode:
        return _REJECTED, _RANK_FIT, f"volumeMode {vmode} != {cv.volume_mode}" if explain else ""
    if _meta(volume).get("deletionTimestamp"):
        return _REJECTED, _RANK_STATE, "being deleted"
    node_ok = node is None or _node_matches(volume, node)
    if bound_here:
        if not node_ok:
            # A pre-bound volume that does not fit the node: no volume fits this claim here.
            return _NO_MATCH, _RANK_FIT, f"node affinity does not match {_name(node or {})}"
        return _PREBOUND, 0, ""
    if node is None and delay_binding:
        return _REJECTED, _RANK_STATE, "binding waits for a consumer (WaitForFirstConsumer)"
    phase = _phase(volume)
    if phase != "Available":
        return _REJECTED, _RANK_STATE, f"phase {phase or '<none>'}, not Available" if explain else ""
    if cv.selector is not None and not cv.selector.matches(_meta(volume).get("labels") or {}):
        return _REJECTED, _RANK_FIT, f"labels do not match selector {cv.selector_text}"
    vcls = volume_class(volume)
    if vcls != cv.cls:
        return _REJECTED, _RANK_FIT, f'storageClassName "{vcls}" != "{cv.cls}"' if explain else ""
    if not node_ok:
        return _REJECTED, _RANK_FIT, f"node affinity does not match {_name(node or {})}"
    return _CANDIDATE, 0, ""


def _order_key(volume: dict[str, Any]) -> tuple[int, Decimal, str]:
    spec = _d(volume, "spec")
    return (len(set(spec.get("accessModes") or [])), _qty(_volume_capacity(volume)), _name(volume))


def find_best_volume(claim: dict[str, Any], volumes: Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]],
                     delay_binding: bool = False, *, node: dict[str, Any] | None = None,
                     explain: bool = True) -> tuple[dict[str, Any] | None, list[str]]:
    """The volume the claim should bind to, and why each rejected volume does not fit.

    Mirrors Kubernetes' findBestMatchForClaim / FindMatchingVolume (see the module
    docstring for the rules and the tie-break).  ``delay_binding``: the claim's class is
    WaitForFirstConsumer -- only volumes pre-bound to the claim match (the PV controller
    path).  ``node``: a Node object -- the scheduler path: node affinity is checked and
    delayed binding no longer skips unbound volumes.

    Returns ``(volume or None, reasons)``; reasons are ``"<pv>: <why>"``, most useful
    first.  ``explain=False`` skips building them (the hot path when a match is likely).
    Callers may leave out volumes that cannot match (another class, bound to other
    claims) for speed; they then simply do not appear among the reasons.
    """
    cv = _ClaimView.of(claim)
    items = volumes.values() if isinstance(volumes, Mapping) else volumes
    best: dict[str, Any] | None = None
    best_key: tuple[int, Decimal, str] | None = None
    prebound: dict[str, Any] | None = None
    prebound_key: tuple[int, Decimal, str] | None = None
    rejected: list[tuple[int, str, str]] = []
    for volume in items:
        verdict, rank, why = _check(cv, volume, delay_binding, node, explain)
        if verdict == _NO_MATCH:
            return None, [f"{_name(volume)}: {why}"] if explain else []
        if verdict == _PREBOUND:
            key = _order_key(volume)
            if prebound_key is None or key < prebound_key:
                prebound, prebound_key = volume, key
        elif verdict == _CANDIDATE:
            key = _order_key(volume)
            if best_key is None or key < best_key:
                best, best_key = volume, key
        elif explain:
            rejected.append((rank, _name(volume), why))
    if prebound is not None:
        return prebound, []
    if best is not None:
        return best, []
    rejected.sort()
    return None, [f"{name}: {why}" for _, name, why in rejected]


_OrderKey = tuple[int, Decimal, str]
# Explaining a failed match scans every volume up to this many; beyond, a bounded subset.
EXPLAIN_ALL = 500
EXPLAIN_OTHERS = 5


class VolumeIndex(Mapping[str, dict[str, Any]]):
    """PVs by name, plus what makes matching cheap at scale; pure, no I/O.

    Kubernetes keeps an access-mode index and scans it per claim; with 10,000 volumes
    that is the binder's cost.  Here unclaimed volumes (no claimRef) sit per
    storageClassName in match order (only Available ones, not being deleted: nothing else can
    match an unbound claim), sorted as (fewest access modes, smallest capacity, name --
    the tie-break of ``find_best_volume``), so a search stops at the first volume that
    fits, and claimed volumes are found by the claim they name.  ``find_best`` returns
    exactly what ``find_best_volume`` returns over ``values()``; ``sync_claim`` uses it
    when given an index.  The caller keeps it current (``upsert`` on every added or
    modified PV, ``remove`` on deletion), e.g. from the PV informer's handler.
    """

    def __init__(self, volumes: Iterable[dict[str, Any]] = ()) -> None:
        self._by_name: dict[str, dict[str, Any]] = {}
        self._free: dict[str, list[tuple[_OrderKey, str]]] = {}
        self._free_entry: dict[str, tuple[str, _OrderKey]] = {}
        self._claimed: dict[tuple[str, str], set[str]] = {}
        self._claim_of: dict[str, tuple[str, str]] = {}
        for volume in volumes:
            self.upsert(volume)

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def upsert(self, volume: dict[str, Any]) -> None:
        name = _name(volume)
        self.remove(name)
        self._by_name[name] = volume
        ref = _claimref(volume)
        if ref is None:
            if _phase(volume) != "Available" or _meta(volume).get("deletionTimestamp"):
                # Only Available volumes can match an unbound claim: keep the buckets short.
                return
            entry = (volume_class(volume), _order_key(volume))
            self._free_entry[name] = entry
            bisect.insort(self._free.setdefault(entry[0], []), (entry[1], name))
        else:
            key = (ref.get("namespace") or "", ref.get("name") or "")
            self._claim_of[name] = key
            self._claimed.setdefault(key, set()).add(name)

    def remove(self, name: str) -> None:
        if self._by_name.pop(name, None) is None:
            return
        entry = self._free_entry.pop(name, None)
        if entry is not None:
            bucket = self._free[entry[0]]
            i = bisect.bisect_left(bucket, (entry[1], name))
            if i < len(bucket) and bucket[i] == (entry[1], name):
                del bucket[i]
            if not bucket:
                del self._free[entry[0]]
        key = self._claim_of.pop(name, None)
        if key is not None:
            names = self._claimed[key]
            names.discard(name)
            if not names:
                del self._claimed[key]

    def explain_set(self, claim: dict[str, Any]) -> Iterable[dict[str, Any]]:
        """The volumes worth explaining a failed match with.

        Up to ``EXPLAIN_ALL`` volumes: all of them.  Beyond that (a scan per pending claim
        would make binding quadratic), the volumes that could have fitted: the claim's
        class bucket, the volumes naming the claim, and a few others for the
        "storageClassName differs" hints.
        """
        if len(self._by_name) <= EXPLAIN_ALL:
            return self._by_name.values()
        cv = _ClaimView.of(claim)
        names = [name for _, name in self._free.get(cv.cls, ())[:EXPLAIN_ALL]]
        names += self._claimed.get((cv.namespace, cv.name), ())
        for other, bucket in self._free.items():
            if other != cv.cls:
                names += [name for _, name in bucket[:EXPLAIN_OTHERS]]
        return [self._by_name[n] for n in dict.fromkeys(names)]

    def find_best(self, claim: dict[str, Any], delay_binding: bool = False, *,
                  node: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """``find_best_volume(claim, self.values(), ...)[0]``, without scanning every volume."""
        cv = _ClaimView.of(claim)
        prebound: dict[str, Any] | None = None
        prebound_key: _OrderKey | None = None
        for name in self._claimed.get((cv.namespace, cv.name), ()):
            volume = self._by_name[name]
            verdict, _, _ = _check_in_order(cv, volume, delay_binding, node, False)
            if verdict == _NO_MATCH:
                return None
            if verdict == _PREBOUND:
                key = _order_key(volume)
                if prebound_key is None or key < prebound_key:
                    prebound, prebound_key = volume, key
        if prebound is not None:
            return prebound
        if delay_binding and node is None:
            return None  # only pre-bound volumes match
        for _, name in self._free.get(cv.cls, ()):
            volume = self._by_name[name]
            if _check_in_order(cv, volume, delay_binding, node, False)[0] == _CANDIDATE:
                return volume
        return None


def _explained(volumes: Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]],
               claim: dict[str, Any]) -> Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]]:
    return volumes.explain_set(claim) if isinstance(volumes, VolumeIndex) else volumes


def _with_reasons(message: str, reasons: list[str]) -> str:
    """Kubernetes' message, then orlop's per-volume reasons in parentheses."""
    if not reasons:
        return message
    shown = reasons[:MAX_REASONS_IN_EVENT]
    more = len(reasons) - len(shown)
    tail = f"; and {more} more" if more > 0 else ""
    return f"{message} ({'; '.join(shown)}{tail})"


def _check_volume_satisfies_claim(volume: dict[str, Any], claim: dict[str, Any]) -> str | None:
    """checkVolumeSatisfyClaim: why a volume the claim asked for by name cannot be bound."""
    if _meta(volume).get("deletionTimestamp"):
        return f'the volume is marked for deletion "{_name(volume)}"'
    if _qty(_volume_capacity(volume)) < _qty(_claim_request(claim)):
        return "requested PV is too small"
    if volume_class(volume) != claim_class(claim):
        return "storageClassName does not match"
    if _volume_mode(volume) != _volume_mode(claim):
        return "incompatible volumeMode"
    if not set(_modes(claim)).issubset(_modes(volume)):
        return "incompatible accessMode"
    return None


# --------------------------------------------------------------------------- object edits

def _with_volume_phase(volume: dict[str, Any], phase: str, now: str, message: str = "",
                       in_place: bool = False) -> dict[str, Any]:
    """updateVolumePhase: the phase, the message (cleared when empty) and the transition time.

    ``in_place``: ``volume`` is this decision's own copy (what its spec write carries), so it
    is changed instead of copied; the spec write then carries the status too, which an update
    of the main resource ignores (see ``Write``).
    """
    new = volume if in_place else clone(volume)
    status = new.get("status")
    if not isinstance(status, dict):
        status = new["status"] = {}
    status["phase"] = phase
    if message:
        status["message"] = message
    else:
        status.pop("message", None)
    status["lastPhaseTransitionTime"] = now
    return new


def _set_volume_phase(d: Decision, volume: dict[str, Any], phase: str, now: str,
                      message: str = "", in_place: bool = False) -> dict[str, Any]:
    """Write the phase if it changes; returns the volume as it will then be."""
    if _phase(volume) == phase:
        return volume
    return d.write(PV, _with_volume_phase(volume, phase, now, message, in_place), "status")


def _resize_in_flight(claim: dict[str, Any]) -> bool:
    status = _d(claim, "status")
    if status.get("allocatedResourceStatuses"):
        return True
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") in _RESIZE_CONDITIONS:
            return True
    cap = _d(status, "capacity").get("storage")
    req = _claim_request(claim)
    return cap is not None and req is not None and _qty(req) > _qty(cap)


def _claim_status_changes(claim: dict[str, Any], phase: str, volume: dict[str, Any] | None) -> bool:
    """Whether ``_claim_status`` changes anything (the same tests, without copying the claim)."""
    status = _d(claim, "status")
    if (status.get("phase") or "") != phase:
        return True
    if volume is None:
        return status.get("accessModes") is not None or status.get("capacity") is not None
    if status.get("accessModes") != _d(volume, "spec").get("accessModes"):
        return True
    vcap = _volume_capacity(volume)
    ccap = _d(status, "capacity").get("storage")
    return (phase == "Bound" and vcap is not None and ccap is not None and _qty(vcap) > _qty(ccap)
            and not _resize_in_flight(claim) and ANN_PRE_RESIZE_CAPACITY not in _anns(volume))


def _claim_status(claim: dict[str, Any], phase: str, volume: dict[str, Any] | None,
                  in_place: bool = False) -> dict[str, Any] | None:
    """updateClaimStatus: the claim with its new status, or None when nothing changes.

    ``in_place`` as for ``_with_volume_phase`` (every read of the old status below comes
    before the write that changes it).
    """
    if not _claim_status_changes(claim, phase, volume):
        return None     # (a resync of a bound claim: no copy made)
    status = _d(claim, "status")
    new = claim if in_place else clone(claim)
    nst = new.get("status")
    if not isinstance(nst, dict):
        nst = new["status"] = {}
    dirty = False
    old_phase = status.get("phase") or ""
    if old_phase != phase:
        nst["phase"] = phase
        dirty = True
    if volume is None:
        # Not bound to anything: no access modes, no capacity.
        for key in ("accessModes", "capacity"):
            if nst.get(key) is not None:
                nst.pop(key)
                dirty = True
            else:
                nst.pop(key, None)
        return new if dirty else None
    vmodes = _d(volume, "spec").get("accessModes")
    if status.get("accessModes") != vmodes:
        nst["accessModes"] = clone(vmodes)
        dirty = True
    vcap = _volume_capacity(volume)
    ccap = _d(status, "capacity").get("storage")
    if old_phase != phase:
        # Capacity is copied when the claim *becomes* Bound; later a discrepancy may be
        # intentional (the filesystem is smaller than the block device).
        pre = _anns(volume).get(ANN_PRE_RESIZE_CAPACITY)
        if pre is not None:
            nst.setdefault("capacity", {})
            if not isinstance(nst["capacity"], dict):
                nst["capacity"] = {}
            nst["capacity"]["storage"] = pre
            dirty = True
        elif vcap is not None and (ccap is None or _qty(vcap) != _qty(ccap)):
            nst["capacity"] = clone(_d(_d(volume, "spec"), "capacity"))
            dirty = True
    elif (phase == "Bound" and vcap is not None and ccap is not None and _qty(vcap) > _qty(ccap)
          and not _resize_in_flight(claim) and ANN_PRE_RESIZE_CAPACITY not in _anns(volume)):
        # orlop: an administrator grew a bound PV (seed 000) -> the claim's capacity follows.
        nst["capacity"] = dict(nst.get("capacity") or {})
        nst["capacity"]["storage"] = vcap
        dirty = True
    return new if dirty else None


def _set_claim_status(d: Decision, claim: dict[str, Any], phase: str,
                      volume: dict[str, Any] | None, in_place: bool = False) -> dict[str, Any]:
    new = _claim_status(claim, phase, volume, in_place)
    return d.write(PVC, new, "status") if new is not None else claim


def _set_claim_status_with_event(d: Decision, claim: dict[str, Any], phase: str, volume: dict[str, Any] | None,
                                 type_: str, reason: str, message: str) -> None:
    """updateClaimStatusWithEvent: write and emit only when the phase changes."""
    if _phase(claim) == phase:
        return
    new = _set_claim_status(d, claim, phase, volume)
    d.event(new, type_, reason, message)


def _bind_volume_to_claim(volume: dict[str, Any], claim: dict[str, Any]) -> dict[str, Any] | None:
    """GetBindVolumeToClaim: the volume pointing at the claim, or None when it already does."""
    ref = _claimref(volume)
    set_by_controller = not _is_bound_to(volume, claim)
    new_ref = (ref is None or (ref.get("name") or "") != _name(claim) or (ref.get("namespace") or "") != _ns(claim)
               or (ref.get("uid") or "") != _uid(claim))
    if not new_ref and not (set_by_controller and ANN_BOUND_BY_CONTROLLER not in _anns(volume)):
        return None     # already bound to the claim: no copy made
    new = clone(volume)
    dirty = False
    if new_ref:
        new.setdefault("spec", {})["claimRef"] = claim_ref(claim)
        dirty = True
    if set_by_controller and ANN_BOUND_BY_CONTROLLER not in _anns(new):
        meta = new.setdefault("metadata", {})
        anns = meta.get("annotations")
        if not isinstance(anns, dict):
            anns = meta["annotations"] = {}
        anns[ANN_BOUND_BY_CONTROLLER] = "yes"
        dirty = True
    return new if dirty else None


def _provisioned_for(volume: dict[str, Any], claim: dict[str, Any]) -> str:
    """The provisioner that made ``volume`` for ``claim`` (named pvc-<claim uid>, pointing at it), else ""."""
    ref = _claimref(volume)
    if not _uid(claim) or _name(volume) != f"pvc-{_uid(claim)}" or ref is None or ref.get("uid") != _uid(claim):
        return ""
    return _anns(volume).get(ANN_PROVISIONED_BY) or ""


def _bind_claim_to_volume(claim: dict[str, Any], volume: dict[str, Any]) -> dict[str, Any] | None:
    """bindClaimToVolume: volumeName (+ bound-by-controller when we chose it) and bind-completed.

    Binding a claim to the volume provisioned for it also sets the storage-provisioner
    annotations (both forms) when the claim lacks them: the controller folds
    setClaimProvisioner's write for its own drivers into this one (see
    ``PVController._sync_claim``), so the bound claim ends as Kubernetes leaves it.
    """
    if (_d(claim, "spec").get("volumeName") or "") == _name(volume) and ANN_BIND_COMPLETED in _anns(claim):
        return None     # already done: no copy made (annotations a user removed since stay removed)
    provisioner = "" if ANN_STORAGE_PROVISIONER in _anns(claim) else _provisioned_for(volume, claim)
    new = clone(claim)
    meta = new.setdefault("metadata", {})
    anns = meta.get("annotations")
    if not isinstance(anns, dict):
        anns = {}
    dirty = False
    if provisioner:
        anns[ANN_BETA_STORAGE_PROVISIONER] = provisioner
        anns[ANN_STORAGE_PROVISIONER] = provisioner
        dirty = True
    if (_d(claim, "spec").get("volumeName") or "") != _name(volume):
        new.setdefault("spec", {})["volumeName"] = _name(volume)
        if ANN_BOUND_BY_CONTROLLER not in anns:
            anns[ANN_BOUND_BY_CONTROLLER] = "yes"
        dirty = True
    if ANN_BIND_COMPLETED not in anns:
        anns[ANN_BIND_COMPLETED] = "yes"
        dirty = True
    if dirty:
        meta["annotations"] = anns
        return new
    return None


def _bind(d: Decision, volume: dict[str, Any], claim: dict[str, Any], now: str) -> None:
    """bind(): the four writes of the Design, each only when not already done."""
    # A status write that follows the object's spec write changes that write's copy (one copy
    # per object, not two): the controller folds the two into one write anyway.
    new_volume = _bind_volume_to_claim(volume, claim)
    if new_volume is not None:
        volume = d.write(PV, new_volume)
    volume = _set_volume_phase(d, volume, "Bound", now, in_place=new_volume is not None)
    new_claim = _bind_claim_to_volume(claim, volume)
    if new_claim is not None:
        claim = d.write(PVC, new_claim)
    _set_claim_status(d, claim, "Bound", volume, in_place=new_claim is not None)


def unbind_writes(volume: dict[str, Any], now: str) -> list[Write]:
    """unbindVolume: undo a binding (also what a successful Recycle ends with).

    Bound by the controller -> claimRef removed and bound-by-controller dropped; pre-bound
    by the user -> only claimRef.uid cleared, the reservation stays.  Then phase Available.
    """
    new = clone(volume)
    meta = new.setdefault("metadata", {})
    anns = meta.get("annotations")
    if isinstance(anns, dict) and ANN_BOUND_BY_CONTROLLER in anns:
        new.setdefault("spec", {}).pop("claimRef", None)
        anns.pop(ANN_BOUND_BY_CONTROLLER)
        if not anns:
            meta.pop("annotations")
    else:
        ref = _claimref(new)
        if ref is not None:
            ref.pop("uid", None)
    writes = [Write(PV, new)]
    if _phase(new) != "Available":
        writes.append(Write(PV, _with_volume_phase(new, "Available", now), "status"))
    return writes


def _unbind(d: Decision, volume: dict[str, Any], now: str) -> None:
    d.writes.extend(unbind_writes(volume, now))


# --------------------------------------------------------------------------- syncClaim

def _lookup(volumes: Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    if isinstance(volumes, Mapping):
        return volumes.get(name)
    for v in volumes:
        if _name(v) == name:
            return v
    return None


def sync_claim(claim: dict[str, Any], volumes: Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]],
               classes: Mapping[str, dict[str, Any]], now: str, *, node: dict[str, Any] | None = None,
               pods: Iterable[dict[str, Any]] | None = None, drivers: Container[str] | None = None) -> Decision:
    """syncClaim: what to do with one claim.

    ``volumes``: the PVs (a list, a mapping name -> PV, or a :class:`VolumeIndex` -- the
    fast path for many volumes); ``classes``:
    StorageClasses by name; ``now``: RFC 3339 time for lastPhaseTransitionTime.
    ``node``: the Node named by the claim's selected-node annotation, if known (lets a
    delayed claim bind a static volume on that node).  ``pods``: Pods that may use the
    claim (for WaitForPodScheduled; any Pods may be passed, they are filtered here).
    ``drivers``: the provisioners this controller runs itself; None = all of them.
    """
    d = Decision()
    if ANN_BIND_COMPLETED not in _anns(claim):
        _sync_unbound_claim(d, claim, volumes, classes, now, node, pods, drivers)
    else:
        _sync_bound_claim(d, claim, volumes, now)
    return d


def _waiting_pods(claim: dict[str, Any], pods: Iterable[dict[str, Any]] | None) -> list[str]:
    """findNonScheduledPodsByPVC: active Pods using the claim that have no node yet."""
    names = []
    for pod in pods or ():
        if _ns(pod) != _ns(claim) or _d(pod, "status").get("phase") in ("Succeeded", "Failed"):
            continue
        spec = _d(pod, "spec")
        uses = any(isinstance(v, dict) and _d(v, "persistentVolumeClaim").get("claimName") == _name(claim)
                   for v in spec.get("volumes") or [])
        if uses and not spec.get("nodeName"):
            names.append(_name(pod))
    return sorted(names)


def _sync_unbound_claim(d: Decision, claim: dict[str, Any],
                        volumes: Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]],
                        classes: Mapping[str, dict[str, Any]], now: str, node: dict[str, Any] | None,
                        pods: Iterable[dict[str, Any]] | None, drivers: Container[str] | None) -> None:
    # OBSERVATION: pvc is "Pending" (binding not completed)
    volume_name = _d(claim, "spec").get("volumeName") or ""
    if not volume_name:
        # [Unit test set 1] The user did not care which PV they get.
        delay = is_delay_binding(claim, classes)
        selected = ANN_SELECTED_NODE in _anns(claim)
        search_node = node if (delay and selected and node is not None) else None
        if isinstance(volumes, VolumeIndex):
            volume = volumes.find_best(claim, delay, node=search_node)
        else:
            volume, _ = find_best_volume(claim, volumes, delay, node=search_node, explain=False)
        if volume is None:
            # OBSERVATION: pvc is "Pending", no volume fits; provision if possible, retry later.
            if not claim_has_class(claim):
                default = default_class_for(classes)
                if default is not None:
                    # Retroactive default class; the update re-triggers this sync.
                    new = clone(claim)
                    new.setdefault("spec", {})["storageClassName"] = default
                    d.write(PVC, new)
                    return
            if delay and not selected:
                # OBSERVATION: pvc is "Pending", binding waits for a Pod using it to be scheduled.
                waiting = _waiting_pods(claim, pods)
                if not waiting:
                    d.event(claim, "Normal", "WaitForFirstConsumer",
                            "waiting for first consumer to be created before binding")
                elif len(waiting) == 1:
                    d.event(claim, "Normal", "WaitForPodScheduled", f"waiting for pod {waiting[0]} to be scheduled")
                else:
                    d.event(claim, "Normal", "WaitForPodScheduled",
                            f"waiting for pods {','.join(waiting)} to be scheduled")
            elif claim_class(claim):
                # OBSERVATION: pvc is "Pending", its class may provision a volume.
                _provision(d, claim, volumes, classes, delay, search_node, drivers)
                return
            else:
                # OBSERVATION: pvc is "Pending", no class to provision from.
                _, reasons = find_best_volume(claim, _explained(volumes, claim), delay, node=search_node)
                d.event(claim, "Normal", "FailedBinding",
                        _with_reasons("no persistent volumes available for this claim and no storage class is set",
                                      reasons))
            _set_claim_status(d, claim, "Pending", None)
            return
        # OBSERVATION: pvc is "Pending", pv is "Available" (or already points at the claim)
        _bind(d, volume, claim, now)
        # OBSERVATION: pvc is "Bound", pv is "Bound"
        return
    # [Unit test set 2] The user asked for a specific PV.
    volume = _lookup(volumes, volume_name)
    if volume is None:
        # OBSERVATION: pvc is "Pending", the requested pv does not exist (yet); retry later.
        _set_claim_status(d, claim, "Pending", None)
        return
    ref = _claimref(volume)
    if ref is None:
        # OBSERVATION: pvc is "Pending", pv is "Available" and unclaimed
        why = _check_volume_satisfies_claim(volume, claim)
        if why is not None:
            d.event(claim, "Warning", "VolumeMismatch", f'Cannot bind to requested volume "{volume_name}": {why}')
            _set_claim_status(d, claim, "Pending", None)
            return
        _bind(d, volume, claim, now)
        # OBSERVATION: pvc is "Bound", pv is "Bound"
        return
    if _is_bound_to(volume, claim):
        # OBSERVATION: pvc is "Pending", pv is "Bound" (or pre-bound) to this claim: finish the binding.
        _bind(d, volume, claim, now)
        # OBSERVATION: pvc is "Bound", pv is "Bound"
        return
    # OBSERVATION: pvc is "Pending", pv is "Bound" to another claim
    message = f'volume "{volume_name}" already bound to a different claim.'
    d.event(claim, "Warning", "FailedBinding", message)
    if ANN_BOUND_BY_CONTROLLER not in _anns(claim):
        # The user asked for this PV: wait until it is free.
        _set_claim_status(d, claim, "Pending", None)
        return
    # This should never happen: someone removed bind-completed from a claim we bound.
    d.requeue = True
    d.error = (f'invalid binding of claim "{_ns(claim)}/{_name(claim)}" to volume "{volume_name}": '
               f'volume already claimed by "{_ref_key(ref)}"')


def _provision(d: Decision, claim: dict[str, Any], volumes: Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]],
               classes: Mapping[str, dict[str, Any]], delay: bool, node: dict[str, Any] | None,
               drivers: Container[str] | None) -> None:
    """provisionClaim: find the class's provisioner and hand the claim to it."""
    name = claim_class(claim)
    cls = classes.get(name)
    if cls is None:
        # OBSERVATION: pvc is "Pending", its class does not exist.
        _, reasons = find_best_volume(claim, _explained(volumes, claim), delay, node=node)
        d.event(claim, "Warning", "ProvisioningFailed",
                _with_reasons(f'storageclass.storage.k8s.io "{name}" not found', reasons))
        return
    provisioner = str(cls.get("provisioner") or "")
    internal = drivers is None or provisioner in drivers
    if provisioner == NO_PROVISIONER or (not internal and provisioner.startswith("kubernetes.io/")):
        # OBSERVATION: pvc is "Pending", its class cannot provision (static volumes only).
        _, reasons = find_best_volume(claim, _explained(volumes, claim), delay, node=node)
        d.event(claim, "Warning", "ProvisioningFailed",
                _with_reasons(f"no volume plugin matched name: {provisioner}", reasons))
        return
    # setClaimProvisioner: both annotation forms name the provisioner.
    if _anns(claim).get(ANN_STORAGE_PROVISIONER) != provisioner:
        new = clone(claim)
        meta = new.setdefault("metadata", {})
        anns = meta.get("annotations")
        if not isinstance(anns, dict):
            anns = meta["annotations"] = {}
        anns[ANN_BETA_STORAGE_PROVISIONER] = provisioner
        anns[ANN_STORAGE_PROVISIONER] = provisioner
        d.write(PVC, new)
    d.provisioner = provisioner
    if internal:
        # OBSERVATION: pvc is "Pending"; the controller's driver provisions pvc-<uid>.
        d.provision = True
    else:
        # OBSERVATION: pvc is "Pending"; an external provisioner acts on the annotation.
        d.event(claim, "Normal", "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external provisioner '{provisioner}' "
                "or manually by the system administrator. If volume creation is delayed, please verify that "
                "the provisioner is running and correctly registered.")


def provisioned_volume(claim: dict[str, Any], storage_class: dict[str, Any], source: dict[str, Any], *,
                       capacity: str | None = None, node_affinity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The PV provisionClaimOperation creates for a claim once the driver made the volume.

    Named ``pvc-<claim uid>`` (so a retry after a crash finds it instead of leaking a
    second one), pre-bound to the claim (claimRef with uid), with the claim's class,
    access modes and volumeMode, the class's reclaimPolicy (default Delete) and
    mountOptions, ``bound-by-controller`` and ``provisioned-by: <provisioner>``, and --
    for Delete -- the ``kubernetes.io/pv-controller`` finalizer that keeps the PV until
    the backend volume is gone (HonorPVReclaimPolicy).  ``source`` is the volume source
    (e.g. ``{"hostPath": {...}}``, ``{"local": {...}}``); ``capacity`` defaults to the
    request.  The API server resets status on create; ``sync_volume`` then marks it Bound
    and ``sync_claim`` completes the binding.
    """
    policy = storage_class.get("reclaimPolicy") or "Delete"
    spec: dict[str, Any] = {
        "capacity": {"storage": capacity or str(_claim_request(claim) or "0")},
        "accessModes": list(_modes(claim)),
        "persistentVolumeReclaimPolicy": policy,
        "storageClassName": claim_class(claim),
        "volumeMode": _volume_mode(claim),
        "claimRef": claim_ref(claim),
        **clone(source),
    }
    if storage_class.get("mountOptions"):
        spec["mountOptions"] = list(storage_class["mountOptions"])
    if node_affinity:
        spec["nodeAffinity"] = clone(node_affinity)
    meta: dict[str, Any] = {"name": f"pvc-{_uid(claim)}",
                            "annotations": {ANN_BOUND_BY_CONTROLLER: "yes",
                                            ANN_PROVISIONED_BY: str(storage_class.get("provisioner") or "")}}
    if policy == "Delete":
        meta["finalizers"] = [PV_CONTROLLER_FINALIZER]
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta, "spec": spec}


def _sync_bound_claim(d: Decision, claim: dict[str, Any],
                      volumes: Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]], now: str) -> None:
    # [Unit test set 3] The claim has been bound before.
    # OBSERVATION: pvc is not "Pending" (bind-completed)
    volume_name = _d(claim, "spec").get("volumeName") or ""
    if not volume_name:
        # OBSERVATION: pvc is "Bound"/"Lost" but lost its volumeName
        _set_claim_status_with_event(d, claim, "Lost", None, "Warning", "ClaimLost",
                                     "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
        return
    volume = _lookup(volumes, volume_name)
    if volume is None:
        # OBSERVATION: pvc is "Bound", pv does not exist
        _set_claim_status_with_event(d, claim, "Lost", None, "Warning", "ClaimLost",
                                     "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
        return
    ref = _claimref(volume)
    if ref is None:
        # OBSERVATION: pvc is "Bound", pv is "Available": the volume came unbound, or its
        # update has not been seen yet.  Bind it again.
        _bind(d, volume, claim, now)
        return
    if (ref.get("uid") or "") == _uid(claim):
        # OBSERVATION: pvc is "Bound", pv is "Bound" to it: all is well; bind() completes
        # anything missing (and resyncs a grown capacity).
        _bind(d, volume, claim, now)
        return
    # OBSERVATION: pvc is "Bound", pv is "Bound" to another claim
    _set_claim_status_with_event(d, claim, "Lost", None, "Warning", "ClaimMisbound",
                                 "Two claims are bound to the same volume, this one is bound incorrectly")


# --------------------------------------------------------------------------- syncVolume

def sync_volume(volume: dict[str, Any], claim: dict[str, Any] | None, classes: Mapping[str, dict[str, Any]],
                now: str) -> Decision:
    """syncVolume: what to do with one volume.

    ``claim``: the claim the volume's claimRef names, looked up by namespace/name (None
    when it does not exist).  A claim with another uid is a new claim of the same name:
    the volume's claim is gone.  Like Kubernetes, the caller should not trust a cache
    miss blindly: when the cache has no claim (or one with another uid) and the volume is
    not yet Released/Failed, pass the claim read live from the API, so a volume is never
    released because the cache lags behind.
    """
    d = Decision()
    ref = _claimref(volume)
    # [Unit test set 4]
    if ref is None:
        # OBSERVATION: pv is unused -> "Available"
        _set_volume_phase(d, volume, "Available", now)
        return d
    if not ref.get("uid"):
        # OBSERVATION: pv is pre-bound to a claim that has not been bound yet; syncClaim binds it.
        _set_volume_phase(d, volume, "Available", now)
        return d
    if claim is not None and (_uid(claim) != ref.get("uid") or _name(claim) != (ref.get("name") or "")
                              or _ns(claim) != (ref.get("namespace") or "")):
        # The claim was deleted and another one with the same name created.
        claim = None
    if claim is None:
        # OBSERVATION: pv is "Bound"/"Released"/"Failed", its claim is gone
        if _phase(volume) not in ("Released", "Failed"):
            volume = _set_volume_phase(d, volume, "Released", now)
        _reclaim(d, volume, now)
        return d
    claim_volume = _d(claim, "spec").get("volumeName") or ""
    if not claim_volume:
        # OBSERVATION: pvc is "Pending", pv points at it: the binding is not complete.
        if _volume_mode(claim) != _volume_mode(volume):
            # syncClaim would never pick this volume: say so on both objects.
            d.event(volume, "Warning", "VolumeMismatch",
                    f'Cannot bind PersistentVolume to requested PersistentVolumeClaim "{_name(claim)}" '
                    "due to incompatible volumeMode.")
            d.event(claim, "Warning", "VolumeMismatch",
                    f'Cannot bind PersistentVolume "{_name(volume)}" to requested PersistentVolumeClaim '
                    "due to incompatible volumeMode.")
            return d
        # Bound by the controller (binding not finished) or by the user (dangling): either
        # way syncClaim finishes it; ask for it now rather than at the next resync.
        d.enqueue.append((PVC, _ns(claim), _name(claim)))
        return d
    if claim_volume == _name(volume):
        # OBSERVATION: pvc is "Bound", pv is "Bound": update the phase if needed.
        _set_volume_phase(d, volume, "Bound", now)
        return d
    # OBSERVATION: pv points at a claim that is bound to another volume
    if ANN_PROVISIONED_BY in _anns(volume) and _d(volume, "spec").get("persistentVolumeReclaimPolicy") == "Delete":
        # Provisioned for this claim, which got another volume: not needed, delete it.
        if _phase(volume) not in ("Released", "Failed"):
            volume = _set_volume_phase(d, volume, "Released", now)
        _reclaim(d, volume, now)
        return d
    # Bound by the controller: roll the binding back (claimRef removed).  Pre-bound by
    # the user: clear only the uid and keep the reservation.
    _unbind(d, volume, now)
    return d


def _reclaim(d: Decision, volume: dict[str, Any], now: str) -> None:
    """reclaimVolume: apply persistentVolumeReclaimPolicy."""
    policy = _d(volume, "spec").get("persistentVolumeReclaimPolicy") or ""
    if policy == "Retain":
        # OBSERVATION: pv is "Released" and stays so until an administrator acts.
        return
    if policy in ("Recycle", "Delete"):
        # OBSERVATION: pv is "Released"; the controller runs the backend operation.
        d.reclaim = policy
        return
    # OBSERVATION: pv is "Released" with a policy nobody knows -> "Failed"
    if _phase(volume) != "Failed":
        new = _set_volume_phase(d, volume, "Failed", now)
        d.event(new, "Warning", "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy")
