"""The node agent's child processes (``orlop.node.child``) on both event loops `orlop` runs on.

Each test runs its coroutine on a fresh asyncio loop and on a fresh uvloop loop: what a
container or a ``kubectl exec`` command gets (exactly its three standard streams, its
input and output intact, its exit code) must not depend on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from orlop.node import child

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def run_on(loop_name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        return runner.run(fn())


@pytest.fixture(params=sorted(LOOPS))
def loop_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_child_gets_its_three_streams_and_nothing_else(loop_name: str) -> None:
    """An inheritable descriptor of the agent (as libuv's spawn would pass on) stays out of the child."""
    async def main() -> list[str]:
        r, w = os.pipe()
        os.set_inheritable(w, True)
        s = socket.socket()
        os.set_inheritable(s.fileno(), True)
        try:
            proc = await child.Child.start("ls", "/proc/self/fd", stdin=child.DEVNULL, stdout=child.PIPE,
                                           stderr=child.PIPE)
            out = await proc.communicate()
            assert proc.stderr is not None and await proc.stderr.read() == b""
            assert proc.returncode == 0
            return sorted(out.decode().split())
        finally:
            os.close(r)
            os.close(w)
            s.close()
    # 0, 1, 2 and the descriptor ls opened to list the directory
    assert run_on(loop_name, main) == ["0", "1", "2", "3"]


def test_input_and_output_round_trip_with_flow_control(loop_name: str) -> None:
    """8 MiB through `cat`, written in chunks with drain and read in small reads: every byte arrives
    in order, and the writer waits while the pipe is full instead of buffering it all."""
    data = os.urandom(8 * 1024 * 1024)

    async def main() -> tuple[str, int, int, int]:
        proc = await child.Child.start("cat", stdin=child.PIPE, stdout=child.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        most_pending = 0

        async def feed() -> None:
            nonlocal most_pending
            assert proc.stdin is not None
            for i in range(0, len(data), 100_000):
                proc.stdin.write(data[i:i + 100_000])
                most_pending = max(most_pending, len(proc.stdin._pending))
                await proc.stdin.drain()
            proc.stdin.close()
            await proc.stdin.wait_closed()

        feeder = asyncio.create_task(feed())
        digest, total = hashlib.sha256(), 0
        while chunk := await proc.stdout.read(4096):
            digest.update(chunk)
            total += len(chunk)
        await feeder
        return digest.hexdigest(), total, await proc.wait(), most_pending

    digest, total, code, most_pending = run_on(loop_name, main)
    assert (total, code) == (len(data), 0)
    assert most_pending <= child.WRITE_HIGH_WATER + 100_000
    assert digest == hashlib.sha256(data).hexdigest()


def test_a_full_output_buffer_pauses_reading(loop_name: str) -> None:
    """Nobody reads: the reader stops taking output near its limit, so the child blocks on a full pipe
    instead of the agent holding all of its output."""
    async def main() -> int:
        proc = await child.Child.start("head", "-c", str(32 * 1024 * 1024), "/dev/zero", stdout=child.PIPE)
        assert proc.stdout is not None
        await asyncio.sleep(0.5)
        held = len(proc.stdout._buffer)        # type: ignore[attr-defined]
        proc.kill()
        assert await proc.wait() == -signal.SIGKILL
        return held

    held = run_on(loop_name, main)
    assert 0 < held <= 4 * child.READ_CHUNK


def test_writing_to_a_child_that_went_away_is_a_broken_pipe(loop_name: str) -> None:
    async def main() -> None:
        proc = await child.Child.start("true", stdin=child.PIPE)
        assert proc.stdin is not None
        assert await proc.wait() == 0
        with pytest.raises(BrokenPipeError):
            for _ in range(100):
                proc.stdin.write(b"x" * 100_000)
                await proc.stdin.drain()
    run_on(loop_name, main)


def test_exit_codes_and_kill(loop_name: str) -> None:
    async def main() -> tuple[int, int, int]:
        three = await child.Child.start("sh", "-c", "exit 3")
        sleeper = await child.Child.start("sleep", "30")
        waiter = asyncio.create_task(sleeper.wait())
        await asyncio.sleep(0.1)
        sleeper.kill()
        killed = await waiter
        sleeper.kill()      # (a second kill of a reaped child does nothing)
        return await three.wait(), killed, await sleeper.wait()
    assert run_on(loop_name, main) == (3, -signal.SIGKILL, -signal.SIGKILL)


def test_a_pseudo_terminal_ends_its_output_when_the_command_ends(loop_name: str) -> None:
    """A pty master reads EIO once the command is gone: that is the end of its output, not an error."""
    async def main() -> tuple[bytes, int]:
        master, slave = os.openpty()
        try:
            proc = await child.Child.start(sys.executable, "-c", "import os; print(os.isatty(1), 'done')",
                                           stdin=slave, stdout=slave, stderr=slave)
        finally:
            os.close(slave)
        reader = child.output_reader(os.dup(master), eio_is_eof=True)
        out = await reader.read()
        os.close(master)
        return out, await proc.wait()
    out, code = run_on(loop_name, main)
    assert (out.replace(b"\r\n", b"\n"), code) == (b"True done\n", 0)
