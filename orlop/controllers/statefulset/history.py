"""ControllerRevisions of a StatefulSet: the recorded versions of its pod template.

Why this exists: a StatefulSet's pods carry the label ``controller-revision-hash`` naming
the ControllerRevision they were made from; rolling updates, partitions, OnDelete and
``kubectl rollout history/undo`` all compare those names.  Kubernetes' history package
(pkg/controller/history) and stateful_set_utils.go define them, and orlop follows them:

- the revision's ``data`` is the patch ``{"spec": {"template": <template>, "$patch":
  "replace"}}`` (the ``$patch`` key inside the template), serialized as Go's
  ``json.Marshal`` does for a ``map[string]interface{}`` (sorted keys, compact, ``<``
  ``>`` ``&`` escaped);
- its hash is FNV-1 32-bit (Go's ``hash/fnv.New32``; Kubernetes' history package uses
  FNV-1, not FNV-1a) over those bytes followed by the decimal collision count, printed
  in decimal and passed through ``rand.SafeEncodeString`` (each digit mapped into
  ``bcdfghjklmnpqrstvwxz2456789``);
- the name is ``<set>-<hash>`` (set name cut to 223 characters), the labels are the
  template's plus ``controller.kubernetes.io/hash``, the annotations are the set's, and
  a controller ownerReference points at the set.

Checked against Kubernetes' own fixture (testdata/compatibility_revision_1.33.0.json:
``test-c77f6d978``).  Byte-identical hashes need the stored template to serialize as the
Go struct does; the one known difference (Go always writes ``"resources":{}`` for a
container) is filled in, any other would only change a name, never the behaviour.
"""

from __future__ import annotations

import json
from typing import Any

from ...jsonobj import clone

JSON = dict[str, Any]

HASH_LABEL = "controller.kubernetes.io/hash"
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def go_json(obj: Any) -> bytes:
    """``json.Marshal`` of decoded JSON in Go: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text.encode("utf-8", "surrogatepass")


def fnv1_32(data: bytes, h: int = _FNV32_OFFSET) -> int:
    """FNV-1 32-bit (Go's ``fnv.New32``): multiply, then xor."""
    for b in data:
        h = ((h * _FNV32_PRIME) & 0xFFFFFFFF) ^ b
    return h


def safe_encode(s: str) -> str:
    """``rand.SafeEncodeString``: every character mapped into a vowel-free alphabet."""
    return "".join(SAFE_ALPHANUMS[ord(c) % len(SAFE_ALPHANUMS)] for c in s)


def revision_data(sts: JSON) -> JSON:
    """The patch a StatefulSet revision records (``getPatch``): the whole pod template, replacing.

    Go always serializes a container's ``resources`` struct (``"resources":{}`` when empty);
    it is added where orlop's stored template lacks it so the bytes, and so the hash, are
    the ones Kubernetes computes for the same template.
    """
    template = clone(((sts.get("spec") or {}).get("template")) or {})
    spec = template.get("spec")
    if isinstance(spec, dict):
        for key in ("initContainers", "containers"):
            for c in spec.get(key) or []:
                if isinstance(c, dict) and "resources" not in c:
                    c["resources"] = {}
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def hash_revision(data: JSON, collision_count: int | None) -> str:
    """``HashControllerRevision`` of a revision holding ``data``, probed with the collision count."""
    h = fnv1_32(go_json(data))
    if collision_count is not None:
        h = fnv1_32(str(collision_count).encode(), h)
    return safe_encode(str(h))


def revision_name(prefix: str, hash_: str) -> str:
    """``ControllerRevisionName``: ``<prefix>-<hash>`` with the prefix cut to 223 bytes."""
    return f"{prefix[:223]}-{hash_}"


def controller_ref(owner: JSON, api_version: str, kind: str) -> JSON:
    """``metav1.NewControllerRef``: controller and blockOwnerDeletion both true."""
    m = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": m["name"], "uid": m.get("uid", ""),
            "controller": True, "blockOwnerDeletion": True}


def new_revision(sts: JSON, number: int, collision_count: int) -> JSON:
    """``newRevision``: the ControllerRevision that records ``sts``'s template as revision ``number``."""
    meta = sts["metadata"]
    data = revision_data(sts)
    hash_ = hash_revision(data, collision_count)
    labels = dict((((sts.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    labels[HASH_LABEL] = hash_
    rmeta: JSON = {"name": revision_name(meta["name"], hash_), "namespace": meta.get("namespace"),
                   "labels": labels, "ownerReferences": [controller_ref(sts, "apps/v1", "StatefulSet")]}
    if meta.get("annotations"):
        rmeta["annotations"] = dict(meta["annotations"])
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": rmeta, "data": data,
            "revision": number}


def rename(revision: JSON, sts_name: str, collision_count: int) -> JSON:
    """The same revision named for another collision count (``CreateControllerRevision``'s retry).

    As in Kubernetes only the name changes: the hash label keeps the first hash.
    """
    out = clone(revision)
    out["metadata"]["name"] = revision_name(sts_name, hash_revision(revision["data"], collision_count))
    return out


def sort_revisions(revisions: list[JSON]) -> list[JSON]:
    """``SortControllerRevisions``: by revision number, then creation time, then name."""
    return sorted(revisions, key=lambda r: (int(r.get("revision") or 0),
                                            (r.get("metadata") or {}).get("creationTimestamp") or "",
                                            (r.get("metadata") or {}).get("name", "")))


def equal_revision(a: JSON | None, b: JSON | None) -> bool:
    """``EqualRevision``: both absent, or both record the same data."""
    if a is None or b is None:
        return a is b
    return bool(a.get("data") == b.get("data"))


def template_of(revision: JSON) -> JSON:
    """The pod template a revision restores (the patch's template without ``$patch``)."""
    template = clone((((revision.get("data") or {}).get("spec") or {}).get("template")) or {})
    template.pop("$patch", None)
    return template


def apply_revision(sts: JSON, revision: JSON) -> JSON:
    """``ApplyRevision``: a copy of ``sts`` whose template is the one ``revision`` recorded."""
    out = clone(sts)
    out.setdefault("spec", {})["template"] = template_of(revision)
    return out
