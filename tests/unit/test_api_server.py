"""Pieces of the HTTP layer that need no server: the field manager named after the User-Agent."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orlop.api.server import ApiServer


@pytest.mark.parametrize(("ua", "manager"), [
    ("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9", "kubectl"),
    ("OpenAPI-Generator/29.0.0/python", "OpenAPI-Generator"),
    ("", "unknown"),
    ("a\x00b\tc/1.0", "abc"),                    # non-printable characters are dropped
    ("x" * 200 + "/1", "x" * 128),               # at most 128 bytes (the limit of a manager name)
    ("é" * 100, "é" * 64),                       # bytes, not characters: é is two
])
def test_manager_from_user_agent_is_kubernetes_prefix_from_user_agent(ua: str, manager: str) -> None:
    request = SimpleNamespace(headers={"User-Agent": ua} if ua else {})
    assert ApiServer._manager_default(request) == manager  # type: ignore[arg-type]
