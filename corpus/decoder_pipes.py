"""The decoder pipes of Kaldi rxfilenames, recognised so that they are not run.

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
command" (corpus.commands).
"""

from __future__ import annotations

import os
import re

#: A decoder named through a shell variable, as recipes write it (`$sph2pipe`, `${sox}`).
DECODER_VARIABLE = re.compile(r"\$(?:\{(sph2pipe|sox|flac|ffmpeg)\}|(sph2pipe|sox|flac|ffmpeg)\b)")


# A stage's effect on the channels it passes on: ("pick", k) keeps channel k (0-based), ("mix",) downmixes.
_Op = tuple[str, int]
_MIX: _Op = ("mix", 0)


class _NotRecognised(Exception):
    pass


def _program(argv0: str) -> str | None:
    m = DECODER_VARIABLE.fullmatch(argv0)
    if m:
        return m.group(1) or m.group(2)
    name = os.path.basename(argv0)
    return name if name in _PARSERS else None


def recognise(stages: list[list[str]]) -> tuple[str, int | None, str] | None:
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
