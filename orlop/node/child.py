"""Child processes of the node agent: started by the standard library, read and written with
``add_reader``/``add_writer``, whatever the event loop.

Why this exists: ``orlop up`` and ``orlop agent`` run on uvloop by default (``--event-loop``),
and uvloop's own subprocess support does not do what a container runtime needs:

* libuv's spawn has no ``close_fds``: a child inherits descriptors it was never given,
  duplicates of its own pipes among them.  A container shim that daemonizes kept its
  launcher's stdout open that way, and the agent waited for an end of file that never came;
  a ``kubectl exec`` command would hold the agent's descriptors.
* its pipe transports close their descriptor twice (MagicStack/uvloop#763), which can close
  an unrelated descriptor opened in between.

So children are started with ``subprocess.Popen`` (``close_fds``: a child gets its three
standard streams and nothing else, as asyncio's loop gives it), their pipes are non-blocking
descriptors served by the loop's ``add_reader``/``add_writer`` (which both loops implement
plainly), with asyncio's flow control (a reader stops reading while its buffer is full), and
their exit is seen through a pidfd.  The interface is the part of ``asyncio.subprocess.Process``
the runtime uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
from typing import Any

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL

READ_CHUNK = 64 * 1024
WRITE_HIGH_WATER = 64 * 1024


def output_reader(fd: int, *, eio_is_eof: bool = False) -> asyncio.StreamReader:
    """A StreamReader fed from ``fd`` (which it owns and closes at its end).

    ``eio_is_eof``: a pseudo-terminal's master fails with EIO once the last holder of the
    other side is gone; that is its end of file.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_CHUNK, loop=loop)
    _FdReader(loop, fd, reader, eio_is_eof)
    return reader


class _FdReader:
    """The "transport" a StreamReader pauses and resumes (``pause_reading``/``resume_reading``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, reader: asyncio.StreamReader,
                 eio_is_eof: bool) -> None:
        self.loop, self.fd, self.reader, self.eio_is_eof = loop, fd, reader, eio_is_eof
        self.reading = False
        os.set_blocking(fd, False)
        reader.set_transport(self)  # type: ignore[arg-type]
        self.resume_reading()

    def pause_reading(self) -> None:
        if self.reading:
            self.loop.remove_reader(self.fd)
            self.reading = False

    def resume_reading(self) -> None:
        if not self.reading and self.fd >= 0:
            self.loop.add_reader(self.fd, self._ready)
            self.reading = True

    def _ready(self) -> None:
        try:
            data = os.read(self.fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if not (self.eio_is_eof and e.errno == errno.EIO):
                self._close()
                self.reader.set_exception(e)
                return
            data = b""
        if data:
            self.reader.feed_data(data)
        else:
            self._close()
            self.reader.feed_eof()

    def _close(self) -> None:
        self.pause_reading()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


class InputWriter:
    """A child's input: ``write`` buffers (and writes what the pipe takes now), ``drain`` waits
    while more than WRITE_HIGH_WATER bytes are pending, ``close`` ends the input once they are
    written.  Owns and closes ``fd``.  Writes after the reader went away raise BrokenPipeError."""

    def __init__(self, fd: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.fd = fd
        os.set_blocking(fd, False)
        self._pending = bytearray()
        self._writing = False
        self._closing = False
        self._error: OSError | None = None
        self._drained: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] = self.loop.create_future()

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        if self._closing:
            raise RuntimeError("the input is closed")
        self._pending += data
        self._flush()

    async def drain(self) -> None:
        while self._error is None and len(self._pending) > WRITE_HIGH_WATER:
            self._drained = self.loop.create_future()
            await self._drained
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._flush()

    def is_closing(self) -> bool:
        return self._closing or self.fd < 0

    async def wait_closed(self) -> None:
        await self._closed
        if self._error is not None:
            raise self._error

    def _flush(self) -> None:
        while self._pending and self.fd >= 0:
            try:
                n = os.write(self.fd, self._pending)
            except (BlockingIOError, InterruptedError):
                if not self._writing:
                    self.loop.add_writer(self.fd, self._flush)
                    self._writing = True
                return
            except OSError as e:
                self._error = BrokenPipeError(e.errno, e.strerror) if e.errno == errno.EPIPE else e
                self._pending.clear()
                self._finish()
                return
            del self._pending[:n]
        if self._writing:
            self.loop.remove_writer(self.fd)
            self._writing = False
        self._wake()
        if self._closing:
            self._finish()

    def _wake(self) -> None:
        if self._drained is not None and not self._drained.done() and len(self._pending) <= WRITE_HIGH_WATER:
            self._drained.set_result(None)

    def _finish(self) -> None:
        if self.fd >= 0:
            if self._writing:
                self.loop.remove_writer(self.fd)
                self._writing = False
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if not self._closed.done():
            self._closed.set_result(None)


class Child:
    """A running child: ``stdin`` / ``stdout`` / ``stderr`` when asked for with PIPE, ``wait()``,
    ``kill()``, ``communicate()``."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.returncode: int | None = None
        self.stdin = InputWriter(os.dup(popen.stdin.fileno())) if popen.stdin else None
        self.stdout = output_reader(os.dup(popen.stdout.fileno())) if popen.stdout else None
        self.stderr = output_reader(os.dup(popen.stderr.fileno())) if popen.stderr else None
        for stream in (popen.stdin, popen.stdout, popen.stderr):
            if stream is not None:
                stream.close()      # (the duplicates above are the ones in use)
        self._exited: asyncio.Future[int] | None = None

    @classmethod
    async def start(cls, *argv: str, stdin: int | None = None, stdout: int | None = None,
                    stderr: int | None = None, **kw: Any) -> Child:
        """``subprocess.Popen(argv, ...)`` (``close_fds``), on the running loop."""
        popen = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True, **kw)
        return cls(popen)

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        if self._exited is None:
            loop = asyncio.get_running_loop()
            self._exited = loop.create_future()
            try:
                pidfd = os.pidfd_open(self.pid)
            except ProcessLookupError:
                self._reap()
                return self.returncode if self.returncode is not None else 255
            loop.add_reader(pidfd, self._on_exit, pidfd)
        return await asyncio.shield(self._exited)

    def _on_exit(self, pidfd: int) -> None:
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
        self._reap()

    def _reap(self) -> None:
        self.returncode = self.popen.wait()
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(self.returncode)

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()

    async def communicate(self) -> bytes:
        """All of stdout (when piped), once the child has ended."""
        out = await self.stdout.read() if self.stdout is not None else b""
        await self.wait()
        return out
