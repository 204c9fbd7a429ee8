"""One writer per output root: `with output_lock(root): ...` holds an exclusive lock on `OUT/.omnicorpus.lock`.

A second run on the same output root (another process, on this machine or another one sharing the folder
over a filesystem with working `flock`) fails at once with a message naming the holder, instead of two runs
interleaving their increments. The lock is an OS lock on an open file: a killed run releases it with its
process, so a stale lock never blocks the next run. Within one process the lock nests (a run takes it, and
the steps it calls take it again).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

LOCK_NAME = ".omnicorpus.lock"
_T = TypeVar("_T")

_held: dict[str, tuple[IO[str], int]] = {}
_guard = threading.Lock()


class OutputLocked(RuntimeError):
    """Another run holds the output root; the message names it."""


def _holder(f: IO[str]) -> str:
    f.seek(0)
    try:
        info = json.loads(f.read() or "{}")
    except ValueError:
        return "another run"
    return (f"pid {info.get('pid')} on {info.get('host')}, since {info.get('since')}: "
            f"{info.get('command', '?')}")


@contextmanager
def output_lock(root: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the output root's lock for the duration of the block (see the module doc). Remote output roots
    (URIs) are not locked: object stores have no such lock."""
    text = os.fspath(root)
    if "://" in text and not text.startswith("file://"):
        yield
        return
    path = Path(text.removeprefix("file://")).resolve()
    key = str(path)
    with _guard:
        if key in _held:
            f, depth = _held[key]
            _held[key] = (f, depth + 1)
            nested = True
        else:
            nested = False
    if not nested:
        path.mkdir(parents=True, exist_ok=True)
        f = open(path / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 (kept open while held)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(f)
            f.close()
            raise OutputLocked(f"{path} is in use by another omnicorpus run ({holder}); wait for it to end, "
                               "or give another --out") from None
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        f.flush()
        with _guard:
            _held[key] = (f, 1)
    try:
        yield
    finally:
        with _guard:
            f, depth = _held[key]
            if depth > 1:
                _held[key] = (f, depth - 1)
            else:
                del _held[key]
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                f.close()


def holds_output_lock(job: Callable[..., _T]) -> Callable[..., _T]:
    """A job whose first argument is a pipeline config runs holding the lock of its output root."""

    @functools.wraps(job)
    def run(cfg: Any, *args: Any, **kwargs: Any) -> _T:
        with output_lock(cfg.output):
            return job(cfg, *args, **kwargs)

    return run
