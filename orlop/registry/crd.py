"""The custom resource kinds orlop serves, read from their CustomResourceDefinitions.

Why this exists: Kubernetes serves snapshot.storage.k8s.io (VolumeSnapshot, -Content, -Class)
and orlop.io (SnapshotSchedule) as custom resources, and what a client sees of them is
decided by their CRDs: the OpenAPI schema (fields, defaults, validation), the printer
columns ``kubectl get`` shows, the status subresource.  The CRD manifests are kept as data
in ``crds/*.yaml`` (the upstream ones, served version only) and read here once, so the
table printer, the defaulter, the validator (crdvalidation.py) and the OpenAPI builder
(tools/build_openapi.py) all work from the same definitions.

Table rows follow apiextensions-apiserver's tableconvertor: a Name column, then one
column per ``additionalPrinterColumns`` entry; a cell is the JSONPath's value converted
by the column type (dates as "5m" ages, missing values as null, which kubectl prints as
``<none>``).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CRD", "apply_defaults", "by_kind", "crds", "table_cells", "table_columns"]

_DIR = Path(__file__).resolve().parent / "crds"

# metav1.ObjectMeta's "name" documentation: the Name column's description (as for every CR).
_NAME_DESC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")


@dataclass(frozen=True)
class CRD:
    group: str
    version: str
    kind: str
    list_kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...]
    status: bool
    schema: dict[str, Any]              # the version's openAPIV3Schema
    columns: tuple[dict[str, Any], ...]  # the version's additionalPrinterColumns

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


def _load(path: Path) -> CRD:
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    spec = doc["spec"]
    served = [v for v in spec["versions"] if v.get("served") and v.get("storage")]
    if len(served) != 1:
        raise ValueError(f"{path.name}: expected one served storage version")
    v = served[0]
    names = spec["names"]
    return CRD(group=spec["group"], version=v["name"], kind=names["kind"], list_kind=names["listKind"],
               plural=names["plural"], singular=names["singular"], namespaced=spec["scope"] == "Namespaced",
               short_names=tuple(names.get("shortNames") or ()),
               status="status" in (v.get("subresources") or {}),
               schema=v["schema"]["openAPIV3Schema"], columns=tuple(v.get("additionalPrinterColumns") or ()))


@cache
def crds() -> dict[str, CRD]:
    """kind -> CRD, for every CRD under ``crds/``."""
    out = {}
    for path in sorted(_DIR.glob("*.yaml")):
        crd = _load(path)
        out[crd.kind] = crd
    return out


def by_kind(kind: str) -> CRD | None:
    return crds().get(kind)


# --------------------------------------------------------------------------- printing

def table_columns(kind: str) -> list[dict[str, Any]]:
    crd = crds()[kind]
    cols = [{"name": "Name", "type": "string", "format": "name", "description": _NAME_DESC, "priority": 0}]
    for c in crd.columns:
        cols.append({"name": c["name"], "type": c["type"], "format": c.get("format", ""),
                     "description": c.get("description", ""), "priority": int(c.get("priority", 0))})
    return cols


def _json_path(obj: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a simple JSONPath (".a.b.c"), the only form CRD columns use."""
    cur = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _go_text(value: Any) -> str:
    """How JSONPath prints a non-string value (Go's fmt.Fprint of the decoded JSON)."""
    from ..gofmt import go_float
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    return json.dumps(value, separators=(",", ":"))


def _cell(type_: str, value: Any, now: datetime.datetime) -> Any:
    """tableconvertor's cellForJSONValue (and JSONPath printing for string columns)."""
    if value is None:
        return None
    if type_ == "string":
        return value if isinstance(value, str) else _go_text(value)
    if type_ == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value)
        return None
    if type_ == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "date":
        if not isinstance(value, str):
            return None
        from .printers import parse_timestamp, translate_timestamp_since
        if parse_timestamp(value) is None:
            return "<invalid>"
        return translate_timestamp_since(value, now)
    return None


def table_cells(kind: str, obj: dict[str, Any], now: datetime.datetime) -> list[Any]:
    crd = crds()[kind]
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    cells: list[Any] = [meta.get("name", "")]
    for c in crd.columns:
        found, value = _json_path(obj, c["jsonPath"])
        cells.append(_cell(c["type"], value, now) if found else None)
    return cells


# --------------------------------------------------------------------------- defaulting

def _default(schema: dict[str, Any], value: Any) -> None:
    """Structural defaulting: fill absent properties that declare a ``default``, recursively."""
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if name not in value and "default" in sub:
                    value[name] = json.loads(json.dumps(sub["default"]))
                if name in value:
                    _default(sub, value[name])
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict):
            for v in value.values():
                _default(addl, v)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for v in value:
                _default(items, v)


def apply_defaults(kind: str, obj: dict[str, Any]) -> None:
    """Apply the CRD schema's defaults to ``obj`` in place (metadata excepted)."""
    crd = crds().get(kind)
    if crd is None or not isinstance(obj, dict):
        return
    for name, sub in (crd.schema.get("properties") or {}).items():
        if name == "metadata":
            continue
        if name not in obj and "default" in sub:
            obj[name] = json.loads(json.dumps(sub["default"]))
        if name in obj:
            _default(sub, obj[name])


def _defaulter(kind: str) -> Any:
    return lambda obj: apply_defaults(kind, obj)


def defaulters() -> dict[str, Any]:
    """kind -> defaulting function, for defaults.py's table."""
    return {kind: _defaulter(kind) for kind in crds()}


def printers() -> tuple[dict[str, Any], dict[str, Any]]:
    """(kind -> columns, kind -> cells function), for printers.py's tables."""
    columns = {kind: table_columns(kind) for kind in crds()}
    cells = {kind: (lambda obj, now, k=kind: table_cells(k, obj, now)) for kind in crds()}
    return columns, cells
