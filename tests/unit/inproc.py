"""Shared by the in-process controller tests: wait (bounded) for a condition to hold."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def until(cond: Callable[[], Awaitable[Any]], timeout: float = 15.0, what: str = "",
                interval: float = 0.02) -> Any:
    """Await ``cond()`` until it returns something truthy (returned), or fail after ``timeout`` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await cond()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
