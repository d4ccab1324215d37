"""Admission: policy checks that run on every write after validation, before the store.

Why this exists: some rules are not about the object alone but about the rest of the
cluster (does the namespace exist? is it being deleted? which StorageClass is the
default?).  Kubernetes runs them as admission plugins; so do we, in a fixed order.
A plugin may mutate the object (create/update) or refuse the write with a Status error.

Plugins receive a read-only ``lookup(resource, namespace, name)`` coroutine so they can
consult other objects without depending on the registry's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import StatusError, forbidden, not_found
from ..registry.resources import Resource

Lookup = Callable[[str, str, str | None, str], Awaitable[dict[str, Any] | None]]
"""lookup(group, plural, namespace, name) -> object or None"""


class Plugin(Protocol):
    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    lookup: Lookup) -> None: ...


# Namespaces that can never be deleted (Kubernetes' NamespaceLifecycle immortal set).
IMMORTAL_NAMESPACES = {"default", "kube-system", "kube-public"}


class NamespaceLifecycle:
    """No new objects in a namespace that does not exist or is terminating; immortal namespaces."""

    async def admit(self, op: str, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None,
                    lookup: Lookup) -> None:
        if op == "DELETE" and res.kind == "Namespace" and obj["metadata"]["name"] in IMMORTAL_NAMESPACES:
            name = obj["metadata"]["name"]
            raise forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                            name=name, resource="namespaces", group="")
        if op != "CREATE" or not res.namespaced:
            return
        ns_name = obj["metadata"].get("namespace", "")
        ns = await lookup("", "namespaces", None, ns_name)
        if ns is None:
            raise not_found("namespaces", ns_name)
        # Events may still be written into a terminating namespace (as Kubernetes allows).
        if ns["metadata"].get("deletionTimestamp") and res.kind != "Event":
            raise StatusError(403, "Forbidden",
                              f"{res.plural} \"{obj['metadata'].get('name') or obj['metadata'].get('generateName', '')}\" "
                              f"is forbidden: unable to create new content in namespace {ns_name} because it is being "
                              "terminated", name=obj["metadata"].get("name", ""), kind=res.plural, group=res.group)


def default_chain() -> list[Plugin]:
    return [NamespaceLifecycle()]
