"""Pure scheduling decisions: a pending pod and a snapshot in, a node (or why not) out.

Why this exists: where a pod may run is decided by storage more than anything else in
orlop -- a local volume pins its pods to one node, a WaitForFirstConsumer claim is only
provisioned once the scheduler picked a node, a ReadWriteOncePod claim admits one pod.
Kubernetes' kube-scheduler owns those rules and tells users why a pod stays Pending in
one carefully formatted message (``kubectl describe pod``, FailedScheduling).  This
module reproduces the parts of kube-scheduler 1.32 that matter to a storage control
plane, with no I/O, so that every rule and every message is tested from plain objects;
``orlop.scheduler.scheduler`` runs it.

What is checked, in kube-scheduler's order
==========================================

No nodes at all: ``no nodes available to schedule pods``.

PreFilter (a failure here applies to every node; the message is the plugin's own):

1. NodeAffinity: required ``matchFields`` on ``metadata.name`` (``In``) narrow the nodes;
   terms that exclude each other -> ``pod affinity terms conflict``.  Nodes left out
   are reported as ``node(s) didn't satisfy plugin(s) [NodeAffinity]``.
2. VolumeRestrictions: each ``persistentVolumeClaim`` volume's claim must exist:
   ``persistentvolumeclaim "www-web-0" not found``.
3. VolumeBinding, per claim of the pod (``persistentVolumeClaim`` and generic
   ``ephemeral`` volumes, in ``spec.volumes`` order): missing (ephemeral: ``waiting for
   ephemeral volume controller to create the persistentvolumeclaim "x"``), phase Lost
   (``persistentvolumeclaim "x" bound to non-existent persistentvolume "y"``), being
   deleted (``persistentvolumeclaim "x" is being deleted``); an ephemeral claim not owned
   by the pod (``PVC ns/x was not created for pod ns/p (pod is not owner)``).  Then a
   claim not fully bound (``spec.volumeName`` and ``pv.kubernetes.io/bind-completed``)
   that is not a WaitForFirstConsumer claim without ``volumeName`` ->
   ``pod has unbound immediate PersistentVolumeClaims``.

Filter, per node, the first failing plugin gives the node's reasons:

- NodeUnschedulable: ``spec.unschedulable`` not tolerated -> ``node(s) were
  unschedulable``;
- NodeName: ``spec.nodeName`` set to another node -> ``node(s) didn't match the
  requested node name`` (the scheduler skips such pods; kept for completeness);
- TaintToleration: the first ``NoSchedule``/``NoExecute`` taint not tolerated ->
  ``node(s) had untolerated taint {key: value}``.  Taints are the node's plus those its
  conditions imply (``orlop.scheduler.taints``): a Ready False / Unknown node is refused
  as ``node.kubernetes.io/not-ready`` / ``unreachable`` even before the node lifecycle
  controller has written the taint;
- NodeAffinity: ``spec.nodeSelector`` and required node affinity -> ``node(s) didn't
  match Pod's node affinity/selector``;
- VolumeRestrictions: a ReadWriteOncePod claim already used by another non-terminated
  pod assigned to a node (or assumed by this scheduler) -> ``node(s) unavailable due to
  PersistentVolumeClaim with ReadWriteOncePod access mode already in-use by another
  pod`` (resolvable by preemption in Kubernetes' terms, see below);
- VolumeBinding (FindPodVolumes), possibly several reasons on one node, in this order:
  a bound claim's PV whose node affinity does not match -> ``node(s) had volume node
  affinity conflict``; a WaitForFirstConsumer claim already annotated
  ``volume.kubernetes.io/selected-node`` for another node, or one that neither finds a
  static PV on the node (``orlop.controllers.pv.decide.find_best_volume`` with the node,
  claims smallest first, a PV chosen for one claim not offered to the next) nor can be
  provisioned there (class provisioner empty or ``kubernetes.io/no-provisioner``, or
  ``allowedTopologies`` not matching the node's labels) -> ``node(s) didn't find
  available persistent volumes to bind``; a bound claim whose PV does not exist ->
  ``node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)``.

The FailedScheduling message is Kubernetes' FitError: ``0/<nodes> nodes are available:``
then the PreFilter message, or the histogram of node reasons as ``"<count> <reason>"``
sorted as strings and joined by ``", "``, each part ending in ``.``; then the preemption
verdict: ``preemption: 0/<nodes> nodes are available: <histogram>.`` where a node whose
failure preemption cannot resolve counts as ``Preemption is not helpful for
scheduling`` and the others (ReadWriteOncePod) as ``No preemption victims found for
incoming pod``; a pod with ``preemptionPolicy: Never`` gets ``preemption: not eligible
due to preemptionPolicy=Never.``

Scoring (orlop's, deliberately simple and deterministic): among feasible nodes, the one
with the fewest non-terminated pods assigned to it (assumed ones included, so pods
scheduled back to back spread), then the node name in code point order.  kube-scheduler
weighs resources, spreading and images, then breaks ties at random; two replicas of a
StatefulSet on two nodes land on different nodes either way.

What the chosen node requires (kube-scheduler's AssumePodVolumes / BindPodVolumes):
``prebind`` -- static PVs found for WaitForFirstConsumer claims, to be pre-bound to them
(PV ``claimRef`` + ``pv.kubernetes.io/bound-by-controller``; the PV controller completes
the binding); ``provision`` -- the claims to annotate with
``volume.kubernetes.io/selected-node: <node>`` (the PV controller then provisions for
that node); ``wait_for`` -- every such claim, which must be Bound before the pod is bound.

Not modelled (no effect on orlop's flows; documented so nobody relies on them): CPU /
memory / pod-count fit, host ports, inter-pod affinity, topology spread, volume zones,
CSI volume limits and storage capacity, preemption itself (orlop never evicts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..controllers.pv.decide import (
    ANN_BIND_COMPLETED,
    ANN_SELECTED_NODE,
    NO_PROVISIONER,
    claim_class,
    find_best_volume,
    is_delay_binding,
    node_requirement_matches,
    volume_class,
)
from ..errors import StatusError
from ..quantity import parse_quantity
from .taints import TAINT_UNSCHEDULABLE, effective_taints, find_untolerated, tolerates

__all__ = [
    "ClaimKey",
    "DEFAULT_SCHEDULER_NAME",
    "MSG_NO_NODES",
    "MSG_UNBOUND_IMMEDIATE",
    "REASON_AFFINITY",
    "REASON_BIND_CONFLICT",
    "REASON_NODE_CONFLICT",
    "REASON_NODE_NAME",
    "REASON_PV_NOT_EXIST",
    "REASON_RWOP",
    "REASON_UNSCHEDULABLE",
    "Result",
    "Snapshot",
    "VolumeCandidates",
    "claim_keys",
    "fit_error",
    "is_fully_bound",
    "is_terminal",
    "needs_scheduling",
    "node_selector_matches",
    "pv_matches_node",
    "schedule",
]

DEFAULT_SCHEDULER_NAME = "default-scheduler"

MSG_NO_NODES = "no nodes available to schedule pods"
MSG_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
MSG_AFFINITY_CONFLICT = "pod affinity terms conflict"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_RWOP = ("node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode "
               "already in-use by another pod")
REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
REASON_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_NO_VICTIMS = "No preemption victims found for incoming pod"

# Status codes of kube-scheduler's framework that matter for the messages.
UNSCHEDULABLE = "Unschedulable"                                     # preemption might help
UNRESOLVABLE = "UnschedulableAndUnresolvable"                       # preemption cannot help

ClaimKey = tuple[str, str]                                          # (namespace, name)


def _d(obj: Any, key: str) -> dict[str, Any]:
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else {}


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return _d(obj, "metadata")


def _name(obj: dict[str, Any]) -> str:
    return _meta(obj).get("name") or ""


def _anns(obj: dict[str, Any]) -> dict[str, str]:
    return _d(_meta(obj), "annotations")


def _quote(s: str) -> str:
    """Go's %q for the names that appear in messages (plain ASCII in practice)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------- pods

def is_terminal(pod: dict[str, Any]) -> bool:
    return _d(pod, "status").get("phase") in ("Succeeded", "Failed")


def needs_scheduling(pod: dict[str, Any]) -> bool:
    """The pod is this scheduler's to place: no node yet, ``schedulerName`` default-scheduler
    (or unset), not being deleted, not terminated, no scheduling gates."""
    spec = _d(pod, "spec")
    return (not spec.get("nodeName")
            and (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == DEFAULT_SCHEDULER_NAME
            and not _meta(pod).get("deletionTimestamp")
            and not is_terminal(pod)
            and not spec.get("schedulingGates"))


def pod_claims(pod: dict[str, Any]) -> list[tuple[str, bool]]:
    """(claim name, from an ephemeral volume) for each claim volume, in ``spec.volumes`` order."""
    out = []
    for vol in _d(pod, "spec").get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        pvc = vol.get("persistentVolumeClaim")
        if isinstance(pvc, dict):
            out.append((str(pvc.get("claimName") or ""), False))
        elif isinstance(vol.get("ephemeral"), dict):
            out.append((f"{_name(pod)}-{vol.get('name') or ''}", True))
    return out


def claim_keys(pod: dict[str, Any]) -> set[ClaimKey]:
    """Every claim the pod uses (``persistentVolumeClaim`` and generic ephemeral volumes)."""
    ns = _meta(pod).get("namespace") or ""
    return {(ns, name) for name, _ in pod_claims(pod)}


def is_fully_bound(claim: dict[str, Any]) -> bool:
    """isPVCFullyBound: ``spec.volumeName`` set and the bind-completed annotation present."""
    return bool(_d(claim, "spec").get("volumeName")) and ANN_BIND_COMPLETED in _anns(claim)


# --------------------------------------------------------------------------- node selectors

def node_selector_matches(terms: Iterable[Any], node: dict[str, Any]) -> bool:
    """MatchNodeSelectorTerms: any term matches (expressions on labels and fields on
    ``metadata.name`` ANDed); an empty term, or no terms at all, matches nothing."""
    labels = {str(k): str(v) for k, v in (_meta(node).get("labels") or {}).items()}
    fields = {"metadata.name": _name(node)}
    for term in terms:
        if not isinstance(term, dict):
            continue
        exprs = [e for e in term.get("matchExpressions") or [] if isinstance(e, dict)]
        flds = [e for e in term.get("matchFields") or [] if isinstance(e, dict)]
        if not exprs and not flds:
            continue
        if all(node_requirement_matches(e, labels) for e in exprs) and all(node_requirement_matches(f, fields) for f in flds):
            return True
    return False


def _required_terms(pod: dict[str, Any]) -> list[Any] | None:
    na = _d(_d(_d(pod, "spec"), "affinity"), "nodeAffinity")
    required = na.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, dict):
        return None
    return list(required.get("nodeSelectorTerms") or [])


def _pod_matches_node(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    """RequiredNodeAffinity.Match: ``spec.nodeSelector`` and the required terms."""
    selector = _d(pod, "spec").get("nodeSelector")
    if isinstance(selector, dict) and selector:
        labels = _meta(node).get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            return False
    terms = _required_terms(pod)
    return terms is None or node_selector_matches(terms, node)


def _affinity_node_names(pod: dict[str, Any]) -> set[str] | None:
    """NodeAffinity PreFilter: the node names required ``matchFields`` allow, None = any."""
    terms = _required_terms(pod)
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for req in (term.get("matchFields") or []) if isinstance(term, dict) else []:
            if isinstance(req, dict) and req.get("key") == "metadata.name" and req.get("operator") == "In":
                vals = {str(v) for v in req.get("values") or []}
                term_names = vals if term_names is None else term_names & vals
        if term_names is None:
            return None          # this term allows any node name; the terms are ORed
        names |= term_names
    return names


def pv_matches_node(pv: dict[str, Any], node: dict[str, Any]) -> bool:
    """CheckNodeAffinity: the PV's required node selector terms match the node."""
    affinity = _d(_d(pv, "spec"), "nodeAffinity")
    required = affinity.get("required")
    if not isinstance(required, dict):
        return True
    return node_selector_matches(required.get("nodeSelectorTerms") or [], node)


def _topology_matches(cls: dict[str, Any], node: dict[str, Any]) -> bool:
    """MatchTopologySelectorTerms(class.allowedTopologies, node labels)."""
    terms = cls.get("allowedTopologies") or []
    if not terms:
        return True
    labels = _meta(node).get("labels") or {}
    for term in terms:
        exprs = (term.get("matchLabelExpressions") or []) if isinstance(term, dict) else []
        if not exprs:
            continue
        if all(isinstance(e, dict) and e.get("key") in labels
               and labels[e["key"]] in [str(v) for v in e.get("values") or []] for e in exprs):
            return True
    return False


# --------------------------------------------------------------------------- snapshot

def _request(claim: dict[str, Any]) -> Decimal:
    req = _d(_d(_d(claim, "spec"), "resources"), "requests").get("storage")
    if req is None:
        return Decimal(0)
    try:
        return parse_quantity(str(req))
    except (StatusError, ValueError, ArithmeticError):
        return Decimal(0)


class VolumeCandidates:
    """The PVs that can match an unbound claim: Available unclaimed ones by class, and
    those whose ``claimRef`` names a claim.  Volumes bound to other claims -- nearly all of
    them in a running cluster -- are never scanned.  Pure; the caller keeps it current."""

    def __init__(self, volumes: Iterable[dict[str, Any]] = ()) -> None:
        self._free: dict[str, dict[str, dict[str, Any]]] = {}
        self._claimed: dict[ClaimKey, dict[str, dict[str, Any]]] = {}
        self._where: dict[str, tuple[str, Any]] = {}
        for pv in volumes:
            self.upsert(pv)

    def upsert(self, pv: dict[str, Any]) -> None:
        name = _name(pv)
        self.remove(name)
        ref = _d(pv, "spec").get("claimRef")
        if isinstance(ref, dict):
            key = (str(ref.get("namespace") or ""), str(ref.get("name") or ""))
            self._claimed.setdefault(key, {})[name] = pv
            self._where[name] = ("claimed", key)
        elif _d(pv, "status").get("phase") == "Available" and not _meta(pv).get("deletionTimestamp"):
            cls = volume_class(pv)
            self._free.setdefault(cls, {})[name] = pv
            self._where[name] = ("free", cls)

    def remove(self, name: str) -> None:
        where = self._where.pop(name, None)
        if where is None:
            return
        bucket = (self._claimed if where[0] == "claimed" else self._free)[where[1]]
        bucket.pop(name, None)
        if not bucket:
            del (self._claimed if where[0] == "claimed" else self._free)[where[1]]

    def for_claim(self, claim: dict[str, Any]) -> list[dict[str, Any]]:
        key = (_meta(claim).get("namespace") or "", _name(claim))
        return [*self._claimed.get(key, {}).values(), *self._free.get(claim_class(claim), {}).values()]


@dataclass
class Snapshot:
    """What a decision reads.  Mappings may be live caches: nothing is copied or changed.

    ``nodes``: name -> Node; ``claims``: (namespace, name) -> PVC; ``volumes``: name -> PV;
    ``classes``: name -> StorageClass; ``pod_counts``: node -> non-terminated pods assigned
    (or assumed) there; ``claim_users``: (namespace, claim) -> non-terminated pods assigned
    (or assumed) to a node that use it; ``candidates``: index of ``volumes`` (built when
    omitted).
    """

    nodes: Mapping[str, dict[str, Any]]
    claims: Mapping[ClaimKey, dict[str, Any]]
    volumes: Mapping[str, dict[str, Any]]
    classes: Mapping[str, dict[str, Any]]
    pod_counts: Mapping[str, int] = field(default_factory=dict)
    claim_users: Mapping[ClaimKey, int] = field(default_factory=dict)
    candidates: VolumeCandidates | None = None

    def __post_init__(self) -> None:
        if self.candidates is None:
            self.candidates = VolumeCandidates(self.volumes.values())

    @classmethod
    def of(cls, nodes: Iterable[dict[str, Any]] = (), claims: Iterable[dict[str, Any]] = (),
           volumes: Iterable[dict[str, Any]] = (), classes: Iterable[dict[str, Any]] = (),
           pods: Iterable[dict[str, Any]] = ()) -> Snapshot:
        """A snapshot from object lists; ``pods`` are the other pods (their nodes and claims count)."""
        counts: Counter[str] = Counter()
        users: Counter[ClaimKey] = Counter()
        for pod in pods:
            node = _d(pod, "spec").get("nodeName")
            if node and not is_terminal(pod):
                counts[node] += 1
                for key in claim_keys(pod):
                    users[key] += 1
        return cls(nodes={_name(n): n for n in nodes},
                   claims={(_meta(c).get("namespace") or "", _name(c)): c for c in claims},
                   volumes={_name(v): v for v in volumes}, classes={_name(c): c for c in classes},
                   pod_counts=counts, claim_users=users)


@dataclass
class Result:
    """A decision.  ``node`` set: schedule there after the volume steps; else ``message``
    is the FailedScheduling text and ``reason`` the PodScheduled condition's reason."""

    node: str | None = None
    message: str = ""
    reason: str = ""
    prebind: list[tuple[ClaimKey, str]] = field(default_factory=list)    # (claim, static PV)
    provision: list[ClaimKey] = field(default_factory=list)              # annotate selected-node
    wait_for: list[ClaimKey] = field(default_factory=list)               # must be Bound first
    statuses: dict[str, list[str]] = field(default_factory=dict)         # node -> its filter reasons


# --------------------------------------------------------------------------- the decision

@dataclass
class _Volumes:
    """VolumeBinding's view of one pod (PreFilter state)."""

    bound: list[tuple[dict[str, Any], dict[str, Any] | None]] = field(default_factory=list)
    delayed: list[dict[str, Any]] = field(default_factory=list)   # WFFC, no volumeName, smallest first


def _prefilter(pod: dict[str, Any], snap: Snapshot) -> tuple[str | None, _Volumes, int]:
    """PreFilter of VolumeRestrictions and VolumeBinding: (failure message, volumes,
    number of the pod's ReadWriteOncePod claims in use by other pods)."""
    ns = _meta(pod).get("namespace") or ""
    claims = pod_claims(pod)
    # VolumeRestrictions: every persistentVolumeClaim volume's claim must exist.
    rwop_in_use = 0
    for name, ephemeral in claims:
        if ephemeral:
            continue
        claim = snap.claims.get((ns, name))
        if claim is None:
            return f"persistentvolumeclaim {_quote(name)} not found", _Volumes(), 0
        if "ReadWriteOncePod" in (_d(claim, "spec").get("accessModes") or []) and snap.claim_users.get((ns, name)):
            rwop_in_use += 1
    # VolumeBinding: podHasPVCs, then GetPodVolumeClaims.
    vols = _Volumes()
    for name, ephemeral in claims:
        claim = snap.claims.get((ns, name))
        if claim is None:
            if ephemeral:
                return ("waiting for ephemeral volume controller to create the persistentvolumeclaim "
                        f"{_quote(name)}"), vols, 0
            return f"persistentvolumeclaim {_quote(name)} not found", vols, 0
        if _d(claim, "status").get("phase") == "Lost":
            return (f"persistentvolumeclaim {_quote(name)} bound to non-existent persistentvolume "
                    f"{_quote(str(_d(claim, 'spec').get('volumeName') or ''))}"), vols, 0
        if _meta(claim).get("deletionTimestamp"):
            return f"persistentvolumeclaim {_quote(name)} is being deleted", vols, 0
        if ephemeral and not any(isinstance(o, dict) and o.get("controller") and o.get("kind") == "Pod"
                                 and o.get("uid") == _meta(pod).get("uid")
                                 for o in _meta(claim).get("ownerReferences") or []):
            return (f"PVC {ns}/{name} was not created for pod {ns}/{_name(pod)} (pod is not owner)"), vols, 0
    immediate = False
    for name, _ in claims:
        claim = snap.claims[(ns, name)]
        if is_fully_bound(claim):
            vols.bound.append((claim, snap.volumes.get(str(_d(claim, "spec").get("volumeName")))))
        elif is_delay_binding(claim, snap.classes) and not _d(claim, "spec").get("volumeName"):
            vols.delayed.append(claim)
        else:
            immediate = True
    if immediate:
        return MSG_UNBOUND_IMMEDIATE, vols, 0
    vols.delayed.sort(key=_request)     # findMatchingVolumes: smallest request first (stable)
    return None, vols, rwop_in_use


def _find_pod_volumes(vols: _Volumes, node: dict[str, Any], snap: Snapshot
                      ) -> tuple[list[str], list[tuple[dict[str, Any], dict[str, Any]]],
                                 list[dict[str, Any]]]:
    """FindPodVolumes on one node: (reasons, static bindings, claims to provision)."""
    node_name = _name(node)
    bound_ok, pvs_found, unbound_ok = True, True, True
    static: list[tuple[dict[str, Any], dict[str, Any]]] = []
    dynamic: list[dict[str, Any]] = []

    def reasons() -> list[str]:
        out = []
        if not bound_ok:
            out.append(REASON_NODE_CONFLICT)
        if not unbound_ok:
            out.append(REASON_BIND_CONFLICT)
        if not pvs_found:
            out.append(REASON_PV_NOT_EXIST)
        return out

    for _claim, pv in vols.bound:
        if pv is None:
            pvs_found = False
            break
        if not pv_matches_node(pv, node):
            bound_ok = False
            break
    to_provision: list[dict[str, Any]] = []
    to_match: list[dict[str, Any]] = []
    for claim in vols.delayed:
        selected = _anns(claim).get(ANN_SELECTED_NODE)
        if selected is not None:
            if selected != node_name:
                unbound_ok = False        # fast path: the claim is promised to another node
                return reasons(), [], []
            to_provision.append(claim)
        else:
            to_match.append(claim)
    chosen: set[str] = set()
    assert snap.candidates is not None
    for claim in to_match:
        cands = [pv for pv in snap.candidates.for_claim(claim) if _name(pv) not in chosen]
        pv, _ = find_best_volume(claim, cands, True, node=node, explain=False)
        if pv is None:
            to_provision.append(claim)
            unbound_ok = False
            continue
        chosen.add(_name(pv))
        static.append((claim, pv))
    if to_provision:
        unbound_ok = True
        for claim in to_provision:
            cls = snap.classes.get(claim_class(claim))
            provisioner = str((cls or {}).get("provisioner") or "")
            if cls is None or provisioner in ("", NO_PROVISIONER) or not _topology_matches(cls, node):
                unbound_ok = False
                break
            dynamic.append(claim)
    return reasons(), static, dynamic


def fit_error(num_nodes: int, prefilter_msg: str, node_reasons: Iterable[Iterable[str]],
              postfilter_msg: str = "") -> str:
    """FitError.Error(): ``0/N nodes are available: <prefilter or histogram>. <postfilter>``."""
    msg = f"0/{num_nodes} nodes are available:"
    if prefilter_msg:
        msg += f" {prefilter_msg}."
    else:
        hist: Counter[str] = Counter()
        for reasons in node_reasons:
            hist.update(reasons)
        parts = sorted(f"{count} {reason}" for reason, count in hist.items())
        if parts:
            msg += " " + ", ".join(parts) + "."
    if postfilter_msg:
        msg += " " + postfilter_msg
    return msg


def _preemption(pod: dict[str, Any], num_nodes: int, codes: Iterable[str]) -> str:
    """DefaultPreemption's PostFilter message (orlop never preempts; see module docstring)."""
    if _d(pod, "spec").get("preemptionPolicy") == "Never":
        return "preemption: not eligible due to preemptionPolicy=Never."
    verdicts = [[PREEMPTION_NOT_HELPFUL if code == UNRESOLVABLE else PREEMPTION_NO_VICTIMS] for code in codes]
    return "preemption: " + fit_error(num_nodes, "", verdicts)


def schedule(pod: dict[str, Any], snap: Snapshot) -> Result:
    """Place one pod: the chosen node and its volume steps, or Kubernetes' FailedScheduling text."""
    nodes = snap.nodes
    n = len(nodes)
    if n == 0:
        return Result(message=MSG_NO_NODES, reason="Unschedulable")
    # ---- PreFilter
    allowed = _affinity_node_names(pod)
    if allowed is not None and not allowed:
        return _failed(pod, n, MSG_AFFINITY_CONFLICT, {})
    failure, vols, rwop_in_use = _prefilter(pod, snap)
    if failure is not None:
        return _failed(pod, n, failure, {})
    statuses: dict[str, tuple[str, list[str]]] = {}
    if allowed is not None:
        absent = (UNRESOLVABLE, ["node(s) didn't satisfy plugin(s) [NodeAffinity]"])
        for name in nodes:
            if name not in allowed:
                statuses[name] = absent
    # ---- Filter
    spec = _d(pod, "spec")
    tolerations = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    node_name = spec.get("nodeName") or ""
    feasible: list[tuple[int, str, list[Any], list[Any]]] = []
    for name, node in nodes.items():
        if name in statuses:
            continue
        if _d(node, "spec").get("unschedulable") and not tolerates(
                tolerations, {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}):
            statuses[name] = (UNRESOLVABLE, [REASON_UNSCHEDULABLE])
            continue
        if node_name and node_name != name:
            statuses[name] = (UNRESOLVABLE, [REASON_NODE_NAME])
            continue
        taint = find_untolerated(effective_taints(node), tolerations)
        if taint is not None:
            statuses[name] = (UNRESOLVABLE, [f"node(s) had untolerated taint {{{taint.get('key') or ''}: "
                                             f"{taint.get('value') or ''}}}"])
            continue
        if not _pod_matches_node(pod, node):
            statuses[name] = (UNRESOLVABLE, [REASON_AFFINITY])
            continue
        if rwop_in_use:
            statuses[name] = (UNSCHEDULABLE, [REASON_RWOP])
            continue
        reasons, static, dynamic = _find_pod_volumes(vols, node, snap)
        if reasons:
            statuses[name] = (UNRESOLVABLE, reasons)
            continue
        feasible.append((snap.pod_counts.get(name, 0), name, static, dynamic))
    if not feasible:
        return _failed(pod, n, "", statuses)
    _, chosen, static, dynamic = min(feasible, key=lambda f: (f[0], f[1]))
    ns = _meta(pod).get("namespace") or ""
    key = lambda c: (ns, _name(c))  # noqa: E731 - local shorthand
    return Result(node=chosen,
                  prebind=[(key(c), _name(pv)) for c, pv in static],
                  provision=[key(c) for c in dynamic],
                  wait_for=[key(c) for c in vols.delayed],
                  statuses={k: v[1] for k, v in statuses.items()})


def _failed(pod: dict[str, Any], n: int, prefilter_msg: str, statuses: dict[str, tuple[str, list[str]]]) -> Result:
    if prefilter_msg:
        codes = [UNRESOLVABLE] * n
    else:
        codes = [code for code, _ in statuses.values()]
    message = fit_error(n, prefilter_msg, (r for _, r in statuses.values()), _preemption(pod, n, codes))
    return Result(message=message, reason="Unschedulable", statuses={k: v[1] for k, v in statuses.items()})
