"""The API client the node agent is written against.

Why this exists: the agent runs inside ``orlop up`` (``LocalClient``, in process) or as
``orlop agent`` on another machine (``RemoteClient`` over HTTPS).  It uses only these
methods, so any client that has them fits; nothing in ``orlop.node`` names a client class.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..controllers.base import ListWatcher


class NodeClient(ListWatcher, Protocol):
    """An informer's client (list, watch) that also reads and writes single objects."""

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    async def update(self, obj: dict[str, Any], subresource: str = "") -> dict[str, Any]: ...

    async def merge_patch(self, api_version: str, kind: str, namespace: str | None, name: str,
                          patch: dict[str, Any], subresource: str = "") -> dict[str, Any]: ...

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str,
                     propagation_policy: str = "Background", uid: str | None = None,
                     grace_period_seconds: int | None = None) -> bool: ...

    async def event(self, involved: dict[str, Any], type_: str, reason: str, message: str,
                    component: str) -> dict[str, Any]: ...
