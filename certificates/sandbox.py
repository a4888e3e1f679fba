"""Run one parse of an untrusted file in a forked child that is killed at a time limit.

A C call (OpenSSL deriving a key) cannot be interrupted from Python, and a PKCS#12 can
hide costly bags inside an encrypted content info that `derivation_guard` cannot read
before decryption. The child gets the parse, a CPU-time rlimit as a backstop, and hands
back bytes through a pipe; the parent waits at most `seconds` and kills it. Only the
formats that derive keys go through here (PKCS#12, encrypted private keys): a fork per
file would cost too much for every PEM of a bulk import. No Django import.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import resource
import select
import signal
import time
from collections.abc import Callable
from typing import Any


class TimeLimitExceeded(Exception):
    """The child did not answer within the limit (it has been killed)."""


class ChildFailed(Exception):
    """The child died without an answer (crash, rlimit)."""


def run_bounded(function: Callable[..., Any], *args: Any, seconds: float) -> Any:
    """`function(*args)` in a child process; its result (picklable) or its exception re-raised.

    The result crosses a pipe, never the disk. Exceptions must be picklable too.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - the portal runs on Linux
        return function(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the caller's stack
        status = 0
        try:
            os.close(read_fd)
            cpu = max(1, math.ceil(seconds)) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
            try:
                payload = pickle.dumps((True, function(*args)))
            except BaseException as exc:  # handed to the parent as is
                payload = pickle.dumps((False, exc))
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeLimitExceeded
                ready, _, _ = select.select([pipe], [], [], remaining)
                if not ready:
                    raise TimeLimitExceeded
                chunk = pipe.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    except TimeLimitExceeded:
        _kill(pid)
        raise
    _, status = os.waitpid(pid, 0)
    if status != 0 or not chunks:
        raise ChildFailed(f"parser child exited with status {status}")
    ok, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child wrote it
    if ok:
        return value
    raise value


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
