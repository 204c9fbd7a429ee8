"""Kaldi rxfilenames (the value of a `wav.scp` line): which are files, which are commands, and the
decoder pipes that are read directly instead of run. Pure functions, no Spark.

Kaldi's own rules (`ClassifyRxfilename` in kaldi/src/util/kaldi-io.cc) decide the kind: a text ending
in `|` is a command run through a shell, one ending in `:<digits>` is a byte offset into an archive,
anything else a file. `pipe:<command>` (webdataset's convention, the source_uri of a command item) is
read as the command `<command> |`.

A command is split into stages on the `|` that are not quoted, each stage with `shlex` (POSIX rules).
The decoder pipes that Kaldi's recipes and Lhotse's `export_to_kaldi` write are recognised and not run
(corpus.decoder_pipes): their input file is read instead. Any other command is an "other
command", which `run_command` runs, without a shell, when the source allows it. Shell syntax that only
a shell gives a meaning (`;`, `&`, `<`, `>`, `(`, `)`, backquotes, `$`, unquoted `*` and `?`) is
reported in `Rx.problem`: such a command is never run.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Literal

from omnicorpus.corpus.decoder_pipes import DECODER_VARIABLE, recognise

__all__ = [
    "ARK",
    "COMMAND",
    "FILE",
    "PIPE",
    "PIPE_PREFIX",
    "CommandError",
    "Rx",
    "command_text",
    "parse_rxfilename",
    "run_command",
]

#: Prefix of the source_uri of a command item (webdataset's convention): `pipe:<command>`.
PIPE_PREFIX = "pipe:"

RxKind = Literal["file", "pipe", "ark", "command"]
FILE: RxKind = "file"  # a plain file
PIPE: RxKind = "pipe"  # a recognised decoder pipe: its input file is read directly
ARK: RxKind = "ark"  # `archive:offset`
COMMAND: RxKind = "command"  # any other command

_ARK = re.compile(r"^(.+):(\d+)$")


class CommandError(Exception):
    """A command that could not give its audio; `detail` is one line naming the command."""

    def __init__(self, detail: str) -> None:
        self.detail = " ".join(str(detail).split())
        super().__init__(self.detail)

    def __reduce__(self):  # picklable across Spark / multiprocessing workers
        return (type(self), (self.detail,))


@dataclass(frozen=True)
class Rx:
    """What an rxfilename is.

    kind: FILE, PIPE (a recognised decoder), ARK or COMMAND (any other command).
    text: the rxfilename stripped; for PIPE and COMMAND the command without its trailing `|` (and
      without a `pipe:` prefix), so `PIPE_PREFIX + text` is its source_uri and parses back to the same.
    path: FILE the file, PIPE the file the decoder reads, ARK the archive (as written: maybe relative).
    channel: PIPE only: the 0-based channel the command keeps, None when it keeps all (or downmixes).
    offset: ARK only: the byte offset.
    decoder: PIPE only: the program of the first stage (`flac`, `sox`, `ffmpeg`, `sph2pipe`).
    stages: PIPE and COMMAND: the argv of each stage, for `run_command`.
    problem: COMMAND only: why it cannot be run without a shell (shell syntax, unbalanced quotes).
    """

    kind: RxKind
    text: str
    path: str | None = None
    channel: int | None = None
    offset: int | None = None
    decoder: str | None = None
    stages: list[list[str]] = field(default_factory=list)
    problem: str | None = None

    @property
    def uri(self) -> str:
        """`pipe:<command>` for a command, the path for a file or an archive."""
        if self.kind in (PIPE, COMMAND):
            return PIPE_PREFIX + self.text
        return self.path or self.text


def command_text(stages: Sequence[Sequence[str]]) -> str:
    """The stages as one shell-quoted line: `cat a.wav | sox - -t wav -`."""
    return " | ".join(shlex.join(list(stage)) for stage in stages)


def parse_rxfilename(text: str) -> Rx:
    """Classify a wav.scp rxfilename (see the module doc). Never raises."""
    s = text.strip()
    if s.startswith(PIPE_PREFIX):
        command = s[len(PIPE_PREFIX):].strip()
        if command.endswith("|"):
            command = command[:-1].rstrip()
        return _parse_command(command)
    if s.endswith("|"):
        return _parse_command(s[:-1].rstrip())
    ark = _ARK.match(s)
    if ark:
        return Rx(ARK, s, path=ark.group(1), offset=int(ark.group(2)))
    return Rx(FILE, s, path=s)


# --- splitting ---------------------------------------------------------------------------------

_SHELL_CHARS = frozenset(";&<>()`")
_GLOB_CHARS = frozenset("*?")


def _split_stages(command: str) -> tuple[list[str], str | None]:
    """The command's text cut at each unquoted `|`, and the first shell construct found (or None)."""
    segments: list[str] = []
    problem: str | None = None
    start = 0
    i, n = 0, len(command)
    quote: str | None = None
    word_start = True  # at the start of a word (after whitespace or a stage boundary)
    first_word = True  # in the first word of the current stage
    while i < n:
        c = command[i]
        if quote == "'":
            if c == "'":
                quote = None
        elif quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = None
            elif c in "$`" and problem is None:
                problem = f"{c!r} inside double quotes"
        elif c == "\\":
            i += 1
            word_start = False
        elif c in "'\"":
            quote = c
            word_start = False
        elif c == "|":
            segments.append(command[start:i])
            start = i + 1
            word_start = first_word = True
            i += 1
            continue
        elif c.isspace():
            if not word_start:
                first_word = False
            word_start = True
            i += 1
            continue
        else:
            if problem is None:
                if c == "$":
                    m = DECODER_VARIABLE.match(command, i)
                    if not (word_start and first_word and m):
                        problem = "'$' (a shell variable or substitution)"
                    else:
                        i = m.end()
                        word_start = False
                        continue
                elif c in _SHELL_CHARS:
                    problem = f"{c!r} (shell syntax)"
                elif c in _GLOB_CHARS:
                    problem = f"{c!r} (a shell wildcard)"
                elif word_start and c in "#~":
                    problem = f"{c!r} at the start of a word"
            word_start = False
        i += 1
    segments.append(command[start:])
    if quote is not None:
        problem = problem or f"unbalanced {quote} quote"
    return segments, problem


def _parse_command(command: str) -> Rx:
    segments, problem = _split_stages(command)
    stages: list[list[str]] = []
    for segment in segments:
        try:
            argv = shlex.split(segment, comments=False, posix=True)
        except ValueError as exc:
            return Rx(COMMAND, command, problem=problem or f"cannot split it: {exc}")
        if not argv:
            return Rx(COMMAND, command, stages=stages, problem=problem or "an empty stage")
        stages.append(argv)
    if problem is None:
        found = recognise(stages)
        if found is not None:
            path, channel, decoder = found
            return Rx(PIPE, command, path=path, channel=channel, decoder=decoder, stages=stages)
    return Rx(COMMAND, command, stages=stages, problem=problem)


# --- running -----------------------------------------------------------------------------------

_READ_CHUNK = 1 << 16
_STDERR_TAIL = 300


def _kill(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL every stage still running, and its process group (what it started)."""
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                with contextlib.suppress(OSError):
                    p.kill()


def _stderr_tail(f: IO[bytes]) -> str:
    try:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 4096))
        text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    text = " ".join(text.split())
    return text[-_STDERR_TAIL:]


def run_command(stages: list[list[str]], cwd: str, timeout_s: float, max_bytes: int) -> bytes:
    """Run the stages chained stdout -> stdin (no shell) in `cwd`; the bytes the last one writes.

    The first stage reads /dev/null; each stage's stderr is kept for the error message. Raises
    CommandError (one line naming the command) when a stage's executable does not exist or cannot be
    run, a stage exits non-zero (or is killed by a signal), the whole run takes more than `timeout_s`
    seconds, or the last stage writes more than `max_bytes`: then every stage still running is killed
    with its process group. Every process started is waited for (no zombies).
    """
    if not stages or any(not stage for stage in stages):
        raise CommandError(f"command {command_text(stages)!r}: no program to run")
    text = command_text(stages)
    if not os.path.isdir(cwd):
        raise CommandError(f"command {text!r}: folder {cwd} to run it in does not exist")
    deadline = time.monotonic() + timeout_s
    procs: list[subprocess.Popen[bytes]] = []
    errs: list[IO[bytes]] = []
    try:
        prev: IO[bytes] | int = subprocess.DEVNULL
        for argv in stages:
            err = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
            errs.append(err)
            try:
                p = subprocess.Popen(argv, stdin=prev, stdout=subprocess.PIPE, stderr=err, cwd=cwd,
                                     start_new_session=True, close_fds=True)
            except FileNotFoundError:
                raise CommandError(f"command {text!r}: executable {argv[0]!r} not found") from None
            except PermissionError:
                raise CommandError(f"command {text!r}: {argv[0]!r} is not executable") from None
            except OSError as exc:
                raise CommandError(f"command {text!r}: cannot run {argv[0]!r}: {exc}") from None
            finally:
                if not isinstance(prev, int):
                    prev.close()  # the next stage holds it now; closing it here lets SIGPIPE work
            procs.append(p)
            assert p.stdout is not None
            prev = p.stdout
        assert not isinstance(prev, int)
        out = _read_capped(prev, deadline, max_bytes, text, timeout_s)
        prev.close()
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                raise CommandError(f"command {text!r}: timed out after {timeout_s:g} s") from None
        failed = [i for i, p in enumerate(procs) if p.returncode != 0]
        if failed:
            # a stage killed by SIGPIPE only tells that a later one stopped reading: report the cause
            i = next((i for i in failed if procs[i].returncode != -signal.SIGPIPE), failed[0])
            code = procs[i].returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            tail = _stderr_tail(errs[i])
            stage = f" (stage {i + 1}: {shlex.join(stages[i])!r})" if len(stages) > 1 else ""
            raise CommandError(f"command {text!r}{stage} {how}" + (f": {tail}" if tail else ""))
        return out
    finally:
        _kill(procs)
        for p in procs:
            if p.stdout is not None:
                p.stdout.close()
            p.wait()
        for stderr_file in errs:
            stderr_file.close()


def _read_capped(stream: IO[bytes], deadline: float, max_bytes: int, text: str, timeout_s: float) -> bytes:
    chunks: list[bytes] = []
    total = 0
    fd = stream.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandError(f"command {text!r}: timed out after {timeout_s:g} s")
            if not sel.select(remaining):
                continue
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > max_bytes:
                raise CommandError(f"command {text!r}: wrote more than {max_bytes} bytes")
            chunks.append(chunk)
