"""Reading CRI-format container log files the way ``kubectl logs`` expects.

Why this exists: the shim writes each line of a container's output as a CRI record
(``<RFC3339Nano> stdout|stderr F|P <text>``), the format the kubelet reads from
containerd.  ``kubectl logs`` options map onto those records: ``--tail`` counts records
from the end, ``--since`` compares their timestamps, ``--timestamps`` prints them,
``--limit-bytes`` cuts the output, ``-f`` keeps reading until the container ends.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import AsyncIterator, Callable

from .runtime import LogOptions

FOLLOW_POLL = 0.1        # seconds between looks at a followed file that has not grown


def parse_record(line: bytes) -> tuple[bytes, bytes, bool, bytes] | None:
    """(timestamp, stream, partial, content) of one record (without its newline), None if malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    content = parts[3] if len(parts) == 4 else b""
    if stream not in (b"stdout", b"stderr"):
        return None
    return ts, stream, tag.startswith(b"P"), content


def format_record(rec: tuple[bytes, bytes, bool, bytes], timestamps: bool) -> bytes:
    ts, _, partial, content = rec
    out = content if partial else content + b"\n"
    return ts + b" " + out if timestamps else out


def tail_offset(fd: int, n: int, size: int) -> int:
    """Byte offset where the last ``n`` records of the file begin."""
    if n <= 0:
        return size
    pos, count, block = size, 0, 64 * 1024
    # A complete file ends with "\n": that last newline does not start a record.
    while pos > 0:
        start = max(0, pos - block)
        chunk = os.pread(fd, pos - start, start)
        if start + len(chunk) == size and chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        idx = len(chunk)
        while True:
            idx = chunk.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            count += 1
            if count == n:
                return start + idx + 1
        pos = start
    return 0


def since_cutoff(since_seconds: int | None) -> bytes | None:
    if not since_seconds or since_seconds <= 0:
        return None
    t = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=since_seconds)
    return (t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond:06d}000Z").encode()


async def read_log(path: str, opts: LogOptions, running: Callable[[], bool]) -> AsyncIterator[bytes]:
    """Chunks of ``kubectl logs`` output for one container instance's log file.

    ``running()`` tells whether the instance is still running: a followed log ends once it
    is not and the file has been read to its end.
    """
    cutoff = since_cutoff(opts.since_seconds)
    budget = opts.limit_bytes if opts.limit_bytes and opts.limit_bytes > 0 else None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        pos = tail_offset(fd, opts.tail_lines, size) if opts.tail_lines is not None else 0
        pending = b""
        while True:
            data = os.pread(fd, 256 * 1024, pos)
            if data:
                pos += len(data)
                pending += data
                lines = pending.split(b"\n")
                pending = lines.pop()
                out = []
                for line in lines:
                    rec = parse_record(line)
                    if rec is None or (cutoff is not None and rec[0] < cutoff):
                        continue
                    out.append(format_record(rec, opts.timestamps))
                chunk = b"".join(out)
                if budget is not None:
                    chunk = chunk[:budget]
                    budget -= len(chunk)
                if chunk:
                    yield chunk
                if budget == 0:
                    return
                continue
            if not opts.follow:
                return
            alive = running()
            # One more read after the container ended: its last lines may have landed meanwhile.
            if not alive:
                data = os.pread(fd, 1, pos)
                if not data:
                    return
                continue
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        os.close(fd)
