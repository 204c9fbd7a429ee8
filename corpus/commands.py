"""Kaldi rxfilenames (the value of a `wav.scp` line): which are files, which are commands, and the
decoder pipes that are read directly instead of run. Pure functions, no Spark.

Kaldi's own rules (`ClassifyRxfilename` in kaldi/src/util/kaldi-io.cc) decide the kind: a text ending
in `|` is a command run through a shell, one ending in `:<digits>` is a byte offset into an archive,
anything else a file. `pipe:<command>` (webdataset's convention, the source_uri of a command item) is
read as the command `<command> |`.

A command is split into stages on the `|` that are not quoted, each stage with `shlex` (POSIX rules).
The decoders that Kaldi's recipes and Lhotse's `export_to_kaldi` write are recognised and not run:
their input file is read instead, and the channel they keep is returned (0-based):

  - `flac -c -d -s X` (any order, `-cds` style bundles, `--decode --stdout --silent`);
  - `sph2pipe [-f wav|rif|riff|sph|raw|au|aif|aiff] [-p] [-c 1|2] X` (options before or after X, as
    Lhotse writes them); the executable may be `$sph2pipe`, `${sph2pipe}` or a path ending in
    `/sph2pipe` (swbd1_data_prep.sh writes `$KALDI_ROOT/tools/sph2pipe_v2.5/sph2pipe`);
  - `sox [global options] [-t TYPE] X [-t wav] [-r RATE] [-b BITS] [-e ENCODING] [-c N] - [effects]`
    with the effects `remix N`, `remix -`, `channels N`, `rate [-v|-h|-m|-l|-q|-s|-I|-M|-L] RATE`;
  - `ffmpeg [-threads N] [-nostdin] [-hide_banner] [-y] [-loglevel L] -i X [-ar N] [-ac N]
    [-map_channel 0.0.N] [-acodec/-c:a pcm_*] [-vn] -f wav [-threads N] -|pipe:1|pipe:`;
  - a chain of those where the first reads the file and the others read stdin (`sox - ...`,
    `ffmpeg -i pipe:0 ...`, `flac -c -d -s -`): Lhotse's `sph2pipe X -f wav -c 2 -p | ffmpeg -threads 1
    -i pipe:0 -ar 8000 -f wav -threads 1 pipe:1`, or `flac -s -c -d X | sox - -b 16 -t wav -r 16000 -`.

Their resampling, bit-depth and downmix options change nothing the ingest does not redo (it always
makes 16 kHz mono). Any other option (sox `trim`, `speed`, `vol`, an input-side `-r`/`-c`/`-e`, which
reinterpret the file; ffmpeg `-af`, `-ss`; sph2pipe `-t`, `-u`; ...) makes the command an "other
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
_DECODER_VARIABLE = re.compile(r"\$(?:\{(sph2pipe|sox|flac|ffmpeg)\}|(sph2pipe|sox|flac|ffmpeg)\b)")


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
                    m = _DECODER_VARIABLE.match(command, i)
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
        found = _recognise(stages)
        if found is not None:
            path, channel, decoder = found
            return Rx(PIPE, command, path=path, channel=channel, decoder=decoder, stages=stages)
    return Rx(COMMAND, command, stages=stages, problem=problem)


# --- recognising the decoders ---------------------------------------------------------------------

# A stage's effect on the channels it passes on: ("pick", k) keeps channel k (0-based), ("mix",) downmixes.
_Op = tuple[str, int]
_MIX: _Op = ("mix", 0)


class _NotRecognised(Exception):
    pass


def _program(argv0: str) -> str | None:
    m = _DECODER_VARIABLE.fullmatch(argv0)
    if m:
        return m.group(1) or m.group(2)
    name = os.path.basename(argv0)
    return name if name in _PARSERS else None


def _recognise(stages: list[list[str]]) -> tuple[str, int | None, str] | None:
    """(input file, channel, decoder) when every stage is a recognised decoder, the first reading a file
    and the others stdin; None otherwise."""
    path: str | None = None
    state: _Op | None = None  # None: all channels of the file
    first: str | None = None
    for index, argv in enumerate(stages):
        program = _program(argv[0])
        if program is None:
            return None
        try:
            source, ops = _PARSERS[program](argv[1:], index > 0)
        except _NotRecognised:
            return None
        if index == 0:
            path, first = source, program
        for op in ops:
            if op[0] == "pick":
                if state is None:
                    state = op
                elif op[1] != 0:
                    return None  # a channel of a stream that has only one
            elif state is None:
                state = _MIX
    assert path is not None and first is not None
    channel = state[1] if state is not None and state[0] == "pick" else None
    return path, channel, first


def _input(token: str, from_stdin: bool, stdin_names: tuple[str, ...] = ("-",)) -> str:
    """The stage's input: a file for the first stage, stdin for the others."""
    if from_stdin:
        if token not in stdin_names:
            raise _NotRecognised
        return token
    if token in stdin_names or token.startswith("-") or token.startswith("pipe:"):
        raise _NotRecognised
    return token


def _parse_flac(args: list[str], from_stdin: bool) -> tuple[str, list[_Op]]:
    flags: set[str] = set()
    files: list[str] = []
    long = {"--decode": "d", "--stdout": "c", "--silent": "s", "--totally-silent": "s", "--force": "f"}
    for arg in args:
        if arg in long:
            flags.add(long[arg])
        elif re.fullmatch(r"-[cdsf]+", arg):
            flags.update(arg[1:])
        elif arg == "-" or not arg.startswith("-"):
            files.append(arg)
        else:
            raise _NotRecognised
    if not {"c", "d"} <= flags or len(files) != 1:
        raise _NotRecognised
    return _input(files[0], from_stdin), []


_SPH2PIPE_FORMATS = frozenset({"wav", "rif", "riff", "sph", "raw", "au", "aif", "aiff"})


def _parse_sph2pipe(args: list[str], from_stdin: bool) -> tuple[str, list[_Op]]:
    if from_stdin:
        raise _NotRecognised  # sph2pipe reads a file (it seeks)
    files: list[str] = []
    ops: list[_Op] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-f" and i + 1 < len(args) and args[i + 1] in _SPH2PIPE_FORMATS:
            i += 1
        elif arg == "-p":
            pass
        elif arg == "-c" and i + 1 < len(args) and args[i + 1] in ("1", "2"):
            ops = [("pick", int(args[i + 1]) - 1)]
            i += 1
        elif not arg.startswith("-"):
            files.append(arg)
        else:
            raise _NotRecognised  # -t/-s (a range), -u/-a (to u-law/a-law), -h (a header file), ...
        i += 1
    if len(files) != 1:
        raise _NotRecognised  # none, or an output file instead of stdout
    return _input(files[0], False), ops


_SOX_GLOBAL = frozenset({"-q", "--no-show-progress", "-S", "--show-progress", "-D", "--no-dither", "-G",
                         "--guard", "-R", "--multi-threaded", "--single-threaded", "--no-glob"})
#: Container types whose header sox reads (an input `-t` of these changes nothing decode_audio does).
_SOX_HEADERED = frozenset({"wav", "wavpcm", "flac", "sph", "nist", "mp3", "ogg", "vorbis", "opus", "aiff",
                           "aif", "aifc", "au", "snd", "caf", "w64", "wv"})
_SOX_OUT_TYPES = frozenset({"wav", "wavpcm", "flac"})
_SOX_ENCODINGS = frozenset({"signed", "signed-integer", "unsigned", "unsigned-integer", "float",
                            "floating-point"})
_RATE = re.compile(r"^\d+(?:\.\d+)?k?$")
_SOX_RATE_OPTIONS = frozenset({"-v", "-h", "-m", "-l", "-q", "-s", "-I", "-M", "-L"})


def _option_value(args: list[str], i: int, short: str, long: str) -> tuple[str, int] | None:
    """(value, next index) when args[i] is `short V`, `long V` or `long=V`."""
    arg = args[i]
    if arg in (short, long) and i + 1 < len(args):
        return args[i + 1], i + 2
    if arg.startswith(long + "="):
        return arg[len(long) + 1:], i + 1
    return None


def _parse_sox(args: list[str], from_stdin: bool) -> tuple[str, list[_Op]]:
    i, n = 0, len(args)

    def global_option() -> bool:
        nonlocal i
        if args[i] in _SOX_GLOBAL or re.fullmatch(r"-V\d?", args[i]):
            i += 1
            return True
        return False

    # input: global options and an input type, then the file
    while i < n and args[i].startswith("-") and args[i] != "-":
        if global_option():
            continue
        typed = _option_value(args, i, "-t", "--type")
        if typed is None or typed[0] not in _SOX_HEADERED:
            raise _NotRecognised  # -r/-c/-e/-b/-v before the input reinterpret or rescale it
        i = typed[1]
    if i >= n:
        raise _NotRecognised
    source = _input(args[i], from_stdin)
    i += 1
    # output format options, then `-` (stdout)
    ops: list[_Op] = []
    mix = False
    while i < n and args[i] != "-":
        if global_option():
            continue
        for short, long, ok in (("-t", "--type", _SOX_OUT_TYPES.__contains__),
                                ("-r", "--rate", _RATE.match),
                                ("-b", "--bits", lambda v: v in ("8", "16", "24", "32")),
                                ("-e", "--encoding", _SOX_ENCODINGS.__contains__),
                                ("-c", "--channels", str.isdigit)):
            got = _option_value(args, i, short, long)
            if got is not None:
                if not ok(got[0]):
                    raise _NotRecognised
                if short == "-c":
                    if int(got[0]) < 1:
                        raise _NotRecognised
                    mix = got[0] == "1"
                i = got[1]
                break
        else:
            raise _NotRecognised  # an output file, or an option that changes the audio
    if i >= n:
        raise _NotRecognised
    i += 1
    # effects
    while i < n:
        effect = args[i]
        i += 1
        if effect == "remix" and i < n and re.fullmatch(r"[1-9]\d*", args[i]):
            ops.append(("pick", int(args[i]) - 1))
            i += 1
        elif effect == "remix" and i < n and args[i] == "-":
            ops.append(_MIX)
            i += 1
        elif effect == "channels" and i < n and re.fullmatch(r"[1-9]\d*", args[i]):
            if args[i] == "1":
                ops.append(_MIX)
            i += 1
        elif effect == "rate":
            while i < n and args[i] in _SOX_RATE_OPTIONS:
                i += 1
            if i >= n or not _RATE.match(args[i]):
                raise _NotRecognised
            i += 1
        else:
            raise _NotRecognised  # trim, speed, tempo, vol, gain, norm, dither, downsample, ...
    if mix:
        ops.append(_MIX)  # the output's -c 1: sox mixes after the effects
    return source, ops


_FFMPEG_FLAGS = frozenset({"-nostdin", "-hide_banner", "-y", "-nostats", "-vn", "-sn", "-dn"})
_FFMPEG_WITH_VALUE = {
    "-threads": re.compile(r"^\d+$").match,
    "-loglevel": re.compile(r"^[a-z0-9+]+$").match,
    "-v": re.compile(r"^[a-z0-9+]+$").match,
}
_FFMPEG_CODECS = frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "flac"})
_FFMPEG_FORMATS = frozenset({"wav", "flac"})


def _parse_ffmpeg(args: list[str], from_stdin: bool) -> tuple[str, list[_Op]]:
    source: str | None = None
    pick: _Op | None = None
    mix = False
    fmt = None
    if not args or args[-1] not in ("-", "pipe:1", "pipe:"):
        raise _NotRecognised  # the output must be stdout
    body = args[:-1]
    i = 0
    while i < len(body):
        arg = body[i]
        value = body[i + 1] if i + 1 < len(body) else None
        if arg in _FFMPEG_FLAGS:
            i += 1
            continue
        if value is None:
            raise _NotRecognised
        if arg in _FFMPEG_WITH_VALUE:
            if not _FFMPEG_WITH_VALUE[arg](value):
                raise _NotRecognised
        elif arg == "-i":
            if source is not None:
                raise _NotRecognised  # a second input
            name = value[len("file:"):] if value.startswith("file:") else value
            source = _input(name, from_stdin, ("-", "pipe:0", "pipe:"))
        elif source is None:
            if not (arg == "-f" and value in _SOX_HEADERED):
                raise _NotRecognised  # input options (-ss, -t, -ar, -ac of raw input, ...)
        elif arg == "-ar":
            if not re.fullmatch(r"\d+", value):
                raise _NotRecognised
        elif arg == "-ac":
            if not re.fullmatch(r"[1-9]\d*", value):
                raise _NotRecognised
            mix = value == "1"
        elif arg == "-map_channel":
            m = re.fullmatch(r"0\.0\.(\d+)", value)
            if m is None or pick is not None:
                raise _NotRecognised
            pick = ("pick", int(m.group(1)))
        elif arg in ("-acodec", "-c:a", "-codec:a"):
            if value not in _FFMPEG_CODECS:
                raise _NotRecognised
        elif arg == "-sample_fmt":
            if value not in ("s16", "s32", "flt", "dbl"):
                raise _NotRecognised
        elif arg == "-f":
            if value not in _FFMPEG_FORMATS:
                raise _NotRecognised
            fmt = value
        else:
            raise _NotRecognised  # -af, -filter:a, -ss, -t, -to, -map, -vol, ...
        i += 2
    if source is None or fmt is None:
        raise _NotRecognised
    ops: list[_Op] = []
    if pick is not None:
        ops.append(pick)
    if mix:
        ops.append(_MIX)
    return source, ops


_PARSERS = {"flac": _parse_flac, "sph2pipe": _parse_sph2pipe, "sox": _parse_sox, "ffmpeg": _parse_ffmpeg}


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
