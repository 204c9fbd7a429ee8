"""Audio decoding, normalization and metrics for ingest: pure functions, no Spark.

Every source item goes through `decode_audio` (any container -> float32 mono 16 kHz), then corpus.pcm's
`audio_metrics` (the RECORDINGS columns, including `pcm_sha256`) and `encode_flac` (the bytes stored at
`audio_store_path(pcm_sha256)`).

Decoders: libsndfile (through `soundfile`) reads WAV and the other PCM containers, FLAC, Ogg
Vorbis, and spans of Ogg Opus; it seeks, so a span of a long file is read without decoding the
rest. PyAV (FFmpeg) reads everything else: MP3 (libsndfile 1.2 stops reading an MP3 at its
estimated length, which for a VBR file without a Xing header silently drops the tail), whole Opus
files (FFmpeg's decoder is ~2.7x faster), M4A/AAC, FLAC streams whose header has no length, and
whatever libsndfile does not recognise. PyAV does not seek: a span is decoded from the start of
the file (decoding stops at the span's end).

Audio is decoded in blocks: each block is downmixed (mean of channels; or, with `channel=`, that one
channel alone) at the source rate and fed to a streaming soxr resampler (quality 'HQ', the same output
as a one-shot resample), so memory holds the 16 kHz mono result and one block, not the whole
multichannel source.

NIST SPHERE (`.sph`, TIMIT, Switchboard, LDC corpora) is read by libsndfile: 16-bit PCM either byte
order, 8-bit mu-law / a-law, one or two channels. SPHERE files whose samples are compressed inside
the file (`sample_coding -s.. pcm,embedded-shorten-v2.00`, LDC's Switchboard and others) only LDC's
`sph2pipe` decodes: they are a `decode_error` saying "shorten-compressed NIST SPHERE (needs sph2pipe)".

Bounds: the work of decoding is bounded by the input. A source sample rate outside
MIN_SAMPLE_RATE-MAX_SAMPLE_RATE Hz is a `decode_error`, read from the header before anything is
decoded (a 20 kB WAV claiming 1 Hz would otherwise resample to 2.8 hours). A file cannot decode to
more audio than its size can hold (`max_frames`): uncompressed codecs (PCM, u-law/a-law, ADPCM, GSM)
spend at least one bit per frame, so at most 8 frames per byte; compressed codecs (FLAC, ALAC,
WavPack, MP3, Opus, Vorbis, AAC, ...) at least MIN_BITS_PER_SECOND bits per second of audio on
average. The bound is checked against the header's frame count before decoding where the header
gives one, and while decoding otherwise, so the decoded audio of a file of n bytes never exceeds
about n x 8 kB (float32 at 16 kHz, from a 4 kHz source at the floor bitrate).

Integrity: a WAV whose data chunk, or a NIST SPHERE whose `sample_count`, announces more frames than
the file holds, and a FLAC that decodes to fewer frames than its STREAMINFO announces, are
`decode_error`: a truncated file must not pass as a shorter recording. Lossy streams are not held to
a frame count (encoder delay and padding make counts inexact); damage the decoder reports is a
`decode_error`.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

import av
import av.error
import numpy as np
import soundfile as sf
import soxr

from omnicorpus.corpus.containers import (
    MP3_SLACK_SAMPLES,
    mp3_xing_samples,
    nist_problem,
    nist_truncation,
    ogg_truncation,
    wav_truncation,
)
from omnicorpus.manifests.schema import SAMPLE_RATE, Reason

__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "SAMPLE_RATE",
    "AudioDecodeError",
    "DecodedAudio",
    "decode_audio",
    "max_frames",
]

#: An `end` offset may overshoot the audio by this much (rounding in source manifests); it is clamped.
END_TOLERANCE_SECONDS = 0.05
#: Frames per block when decoding with libsndfile (8 channels x 4 bytes x 2^17 = 4 MiB); files of more
#: channels read fewer frames per block, so that a block stays at 4 MiB (255 channels of an Ogg header).
_BLOCK_FRAMES = 1 << 17
_BLOCK_SAMPLES = 8 * _BLOCK_FRAMES
#: Source sample rates decoded; anything else is a decode_error read from the header. 4 kHz is below any
#: telephone or speech codec rate (8 kHz); 384 kHz is the highest rate of studio converters.
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
#: Uncompressed codecs spend at least this many bits per frame (G.723 at 24 kb/s: 3 bits, GSM 6.10:
#: 1.65, 2-bit ADPCM: 2): an uncompressed file decodes to at most 8 / this frames per byte.
MIN_BITS_PER_FRAME = 1
#: Compressed codecs spend at least this many bits per second of audio on average: a compressed file of
#: n bytes decodes to at most n x 8 / this seconds. The quietest real files measured (600 s and one hour
#: of digital silence, each codec's lowest usual setting): MP3 (lame -b 8) 8000 b/s, Opus 6 kb/s with
#: DTX 2070, Speex with VAD/DTX 1110, Vorbis q-1 470, AAC 8 kb/s 465, ALAC 370, FLAC -8 at 4 kHz
#: without padding 105; only WavPack of pure digital silence (30-110 b/s) and non-subset FLAC
#: (`--lax -b 65535`) of pure silence go lower, and silence is never speech. Speech itself is far
#: above: Opus's lowest bitrate is 6000 b/s, codec2's 450. 64 b/s is 4000x below 16 kHz 16-bit mono PCM.
MIN_BITS_PER_SECOND = 64
#: Codec names (as DecodedAudio.orig_codec gives them, from libsndfile or FFmpeg) of uncompressed audio.
_UNCOMPRESSED = ("pcm_", "float", "double", "ulaw", "alaw", "adpcm", "ima_adpcm", "ms_adpcm", "vox_adpcm",
                 "nms_adpcm", "g721", "g723", "g726", "gsm", "dwvw", "dpcm")
#: libsndfile's frame count for a stream of unknown length (SF_COUNT_MAX).
SF_UNKNOWN_FRAMES = 0x7FFFFFFFFFFFFFFF
_RESAMPLE_QUALITY = "HQ"
#: Errors the decoders raise for bad input (LibsndfileError is a RuntimeError; FFmpegError a ValueError).
DECODER_ERRORS = (RuntimeError, ValueError, EOFError, OSError, av.error.FFmpegError)


class AudioDecodeError(Exception):
    """A source item's audio cannot be used; `reason` is a `Reason` value, the message one line."""

    def __init__(self, reason: Reason | str, message: str):
        self.reason = Reason(reason)
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    def __reduce__(self):  # picklable across Spark / multiprocessing workers
        return (type(self), (self.reason.value, self.message))


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, 16 kHz, range [-1, 1]
    orig_sample_rate: int
    orig_channels: int
    orig_codec: str  # 'flac', 'pcm_16', 'pcm_24', 'float', 'mp3', 'opus', 'vorbis', 'aac', ...

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def seconds(self) -> float:
        return self.samples.shape[0] / SAMPLE_RATE


# --- decoding -----------------------------------------------------------------------------------


def decode_audio(
    data: bytes,
    *,
    start: float | None = None,
    end: float | None = None,
    max_seconds: float | None = None,
    name: str = "",
    channel: int | None = None,
) -> DecodedAudio:
    """Decode compressed/PCM bytes, take [start, end) seconds if given, downmix, resample to 16 kHz.

    `channel` (0-based) keeps that channel alone instead of the mean of the channels (one side of a
    Switchboard conversation); a channel the file does not have is a decode_error.

    `start`/`end` are seconds in the source (applied at the source rate, before resampling); `end`
    may overshoot the audio by END_TOLERANCE_SECONDS and is then clamped. `max_seconds` bounds the
    result's duration (the span when one is given), checked from the header before decoding where
    the header is exact, and while decoding otherwise, so an over-long file is never fully decoded.

    Raises AudioDecodeError with reason empty_file, decode_error, bad_offsets, empty_audio or
    too_long_recording.
    """
    label = f"{name}: " if name else ""
    if data is None or len(data) == 0:
        raise AudioDecodeError(Reason.EMPTY_FILE, f"{label}file is empty (0 bytes)")
    data = bytes(data) if not isinstance(data, bytes) else data
    _check_offsets(start, end, label)
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 0):
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}channel {channel!r} is not a channel number")
    nist = nist_problem(data)
    if nist:
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}{nist}")
    truncated = wav_truncation(data) or ogg_truncation(data) or nist_truncation(data)
    if truncated:
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}truncated {truncated}")

    try:
        sfile = sf.SoundFile(io.BytesIO(data))
    except DECODER_ERRORS:
        sfile = None  # not something libsndfile reads: let FFmpeg try
    if sfile is not None:
        with sfile:
            out = _decode_soundfile(sfile, start, end, max_seconds, label, channel, len(data))
        if out is not None:
            return out
    return _decode_pyav(data, start, end, max_seconds, label, channel)


def max_frames(codec: str, rate: int, nbytes: int) -> int:
    """The most frames (at the source rate) a file of `nbytes` bytes of `codec` may decode to: 8 per byte
    uncompressed (MIN_BITS_PER_FRAME), else MIN_BITS_PER_SECOND's worth of seconds."""
    if codec.startswith(_UNCOMPRESSED):
        return nbytes * 8 // MIN_BITS_PER_FRAME
    return nbytes * 8 * rate // MIN_BITS_PER_SECOND


def _check_rate(rate: int, label: str, codec: str) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(
            Reason.DECODE_ERROR,
            f"{label}{codec}: sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
        )


def _too_much(frames: int, bound: int, rate: int, nbytes: int, label: str, codec: str,
              where: str) -> AudioDecodeError:
    return AudioDecodeError(
        Reason.DECODE_ERROR,
        f"{label}{codec}: {where} {frames} frames ({frames / rate:.1f} s) from {nbytes} bytes, more than a "
        f"file of its size holds (at most {bound} frames, see audio.max_frames)",
    )


def _check_channel(channel: int | None, channels: int, label: str) -> None:
    if channel is not None and channel >= channels:
        raise AudioDecodeError(
            Reason.DECODE_ERROR,
            f"{label}channel {channel} asked, the file has {channels} channel{'s' if channels != 1 else ''}",
        )


def _check_offsets(start: float | None, end: float | None, label: str) -> None:
    for what, value in (("start", start), ("end", end)):
        if value is not None and not math.isfinite(value):
            raise AudioDecodeError(Reason.BAD_OFFSETS, f"{label}{what}={value} is not a finite number")
    if start is not None and start < 0:
        raise AudioDecodeError(Reason.BAD_OFFSETS, f"{label}start={start} is negative")
    if end is not None and end <= (start or 0.0):
        raise AudioDecodeError(Reason.BAD_OFFSETS, f"{label}end={end} is not after start={start or 0.0}")


def _span_frames(
    start: float | None, end: float | None, rate: int, total: int | None, label: str
) -> tuple[int, int | None]:
    """[first, stop) frame numbers at the source rate; stop is None for 'to the end' when total is unknown."""
    first = round(start * rate) if start else 0
    stop = round(end * rate) if end is not None else None
    if total is not None:
        seconds = total / rate
        if first >= total:
            raise AudioDecodeError(
                Reason.BAD_OFFSETS,
                f"{label}start={start} is at or past the end of the audio ({seconds:.3f} s)",
            )
        if stop is not None and stop > total + round(END_TOLERANCE_SECONDS * rate):
            raise AudioDecodeError(
                Reason.BAD_OFFSETS, f"{label}end={end} is past the end of the audio ({seconds:.3f} s)"
            )
        stop = total if stop is None else min(stop, total)
    return first, stop


def _check_length(frames: int, rate: int, max_seconds: float | None, label: str, where: str) -> None:
    if max_seconds is not None and frames > max_seconds * rate:
        raise AudioDecodeError(
            Reason.TOO_LONG_RECORDING,
            f"{label}{where} {frames / rate:.1f} s is longer than max_seconds={max_seconds:g}",
        )


class _MonoSink:
    """Takes mono blocks at the source rate; returns the 16 kHz result. Enforces max_seconds as it goes."""

    def __init__(self, rate: int, max_seconds: float | None, label: str):
        self.rate = rate
        self.frames = 0
        self._max_seconds = max_seconds
        self._label = label
        self._out: list[np.ndarray] = []
        self._rs = (
            None
            if rate == SAMPLE_RATE
            else soxr.ResampleStream(
                float(rate), float(SAMPLE_RATE), 1, dtype="float32", quality=_RESAMPLE_QUALITY
            )
        )

    def push(self, mono: np.ndarray) -> None:
        if mono.shape[0] == 0:
            return
        self.frames += mono.shape[0]
        _check_length(self.frames, self.rate, self._max_seconds, self._label, "audio is at least")
        if self._rs is None:
            self._out.append(
                np.array(mono, dtype=np.float32)
            )  # a copy: blocks may be views of a reused buffer
        else:
            self._out.append(
                self._rs.resample_chunk(np.ascontiguousarray(mono, dtype=np.float32), last=False)
            )

    def finish(self) -> np.ndarray:
        if self._rs is not None:
            self._out.append(self._rs.resample_chunk(np.zeros(0, np.float32), last=True))
        out = np.concatenate(self._out) if self._out else np.zeros(0, np.float32)
        if not np.isfinite(out).all():
            raise AudioDecodeError(
                Reason.DECODE_ERROR, f"{self._label}audio contains NaN or infinite samples"
            )
        np.clip(out, -1.0, 1.0, out=out)
        return out


def _downmix(block: np.ndarray) -> np.ndarray:
    """(frames, channels) float32 -> (frames,) float32, the mean of the channels."""
    channels = block.shape[1]
    if channels == 1:
        return block[:, 0]
    if channels == 2:
        out = block[:, 0] + block[:, 1]
        out *= 0.5
        return out
    return block.mean(axis=1, dtype=np.float32)


def _soundfile_codec(sfile: sf.SoundFile) -> str:
    if sfile.format == "FLAC":
        return "flac"
    return sfile.subtype.lower()  # PCM_16 -> pcm_16, VORBIS -> vorbis, OPUS -> opus, FLOAT -> float, ...


def _decode_soundfile(
    sfile: sf.SoundFile, start: float | None, end: float | None, max_seconds: float | None, label: str,
    channel: int | None = None, nbytes: int | None = None,
) -> DecodedAudio | None:
    """Decode with libsndfile; None when the stream should go to FFmpeg instead."""
    rate, channels, total = int(sfile.samplerate), int(sfile.channels), int(sfile.frames)
    if sfile.format == "MP3" or total == SF_UNKNOWN_FRAMES or (total == 0 and sfile.format == "OGG"):
        # MP3: libsndfile truncates at an estimated length; unknown length: its reads fail; an Ogg it
        # reports as empty may be one whose last page is missing, which FFmpeg still decodes.
        return None
    if sfile.subtype == "OPUS" and start is None and end is None:
        return None  # FFmpeg decodes Opus ~2.7x faster; libsndfile is kept for spans (it seeks)
    if rate <= 0 or channels <= 0:
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}bad header: {rate} Hz, {channels} channels")
    codec = _soundfile_codec(sfile)
    _check_rate(rate, label, codec)
    _check_channel(channel, channels, label)
    if total == 0:
        raise AudioDecodeError(Reason.EMPTY_AUDIO, f"{label}the file holds no audio frames ({codec})")
    if nbytes is not None and total > (bound := max_frames(codec, rate, nbytes)):
        raise _too_much(total, bound, rate, nbytes, label, codec, "header announces")
    first, stop = _span_frames(start, end, rate, total, label)
    assert stop is not None
    _check_length(
        stop - first, rate, max_seconds, label, "audio" if start is None and end is None else "span"
    )

    sink = _MonoSink(rate, max_seconds, label)
    buf = np.empty((min(_BLOCK_FRAMES, max(_BLOCK_SAMPLES // channels, 1), stop - first), channels), np.float32)
    try:
        if first:
            sfile.seek(first)
        pos = first
        while pos < stop:
            got = sfile.read(min(buf.shape[0], stop - pos), dtype="float32", always_2d=True, out=buf)
            if got.shape[0] == 0:
                break
            pos += got.shape[0]
            sink.push(_downmix(got) if channel is None else got[:, channel])
        if pos < stop:
            raise AudioDecodeError(
                Reason.DECODE_ERROR,
                f"{label}truncated or damaged {codec}: header announces {total} frames, "
                f"decoding stopped at {pos}",
            )
        if stop < total and sfile.format == "FLAC":
            # Only a span was read: check that the announced last frame exists (cheap seek).
            sfile.seek(total - 1)
            if sfile.read(1, dtype="float32", always_2d=True).shape[0] != 1:
                raise AudioDecodeError(
                    Reason.DECODE_ERROR, f"{label}truncated flac: frame {total - 1} announced but missing"
                )
    except AudioDecodeError:
        raise
    except DECODER_ERRORS as exc:
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}{codec} decode failed: {exc}") from None
    samples = sink.finish()
    if samples.shape[0] == 0:
        raise AudioDecodeError(Reason.EMPTY_AUDIO, f"{label}no audio left after decoding")
    return DecodedAudio(samples, rate, channels, codec)


_AV_PCM_RE = re.compile(r"^pcm_([su])(8|16|24|32|64)(le|be|_planar)?$")
_AV_CODEC_NAMES = {
    "pcm_f32le": "float",
    "pcm_f32be": "float",
    "pcm_f64le": "double",
    "pcm_f64be": "double",
    "pcm_mulaw": "ulaw",
    "pcm_alaw": "alaw",
    "mp3float": "mp3",
    "mp2float": "mp2",
    "libopus": "opus",
    "libvorbis": "vorbis",
}


def _av_codec_name(stream: av.audio.stream.AudioStream) -> str:
    ctx = stream.codec_context
    name = ctx.codec.canonical_name or ctx.name
    name = _AV_CODEC_NAMES.get(name, name)
    m = _AV_PCM_RE.match(name)
    if m:
        return f"pcm_{m.group(2)}" if m.group(1) == "s" else f"pcm_u{m.group(2)}"
    return name


#: FFmpeg sample format (without the planar 'p') -> (numpy dtype to average in, scale to [-1, 1], offset).
_AV_SAMPLE_FORMATS = {
    "flt": (np.float32, 1.0, 0.0),
    "dbl": (np.float64, 1.0, 0.0),
    "s16": (np.float32, 1.0 / 32768, 0.0),
    "s32": (np.float64, 1.0 / 2**31, 0.0),
    "s64": (np.float64, 1.0 / 2**63, 0.0),
    "u8": (np.float32, 1.0 / 128, -128.0),
}


def _av_frame_mono(frame: av.AudioFrame, channel: int | None = None) -> np.ndarray:
    fmt = frame.format.name
    planar = frame.format.is_planar
    kind = fmt[:-1] if planar else fmt
    if kind not in _AV_SAMPLE_FORMATS:
        raise ValueError(f"unsupported FFmpeg sample format {fmt}")
    dtype, scale, offset = _AV_SAMPLE_FORMATS[kind]
    arr = frame.to_ndarray()
    channels = frame.layout.nb_channels
    if planar:  # (channels, samples)
        if channel is not None or channels == 1:
            mono = arr[channel or 0].astype(dtype)
        else:
            mono = arr.mean(axis=0, dtype=dtype)
    else:  # (1, samples * channels), interleaved
        inter = arr.reshape(-1, channels)
        if channel is not None or channels == 1:
            mono = inter[:, channel or 0].astype(dtype)
        else:
            mono = inter.mean(axis=1, dtype=dtype)
    if offset:
        mono += offset
    if scale != 1.0:
        mono *= scale
    return mono.astype(np.float32, copy=False)


def _decode_pyav(
    data: bytes, start: float | None, end: float | None, max_seconds: float | None, label: str,
    channel: int | None = None,
) -> DecodedAudio:
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except DECODER_ERRORS as exc:
        raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}not a readable audio file: {exc}") from None
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(
                Reason.DECODE_ERROR, f"{label}no audio stream in {container.format.name} container"
            )
        stream = container.streams.audio[0]
        if stream.codec_context is None:
            raise AudioDecodeError(
                Reason.DECODE_ERROR, f"{label}no decoder for the audio of this {container.format.name} file"
            )
        codec = _av_codec_name(stream)
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(stream.codec_context.channels or 0)
        if rate <= 0:
            raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}{codec}: unknown sample rate")
        _check_rate(rate, label, codec)
        if channels:
            _check_channel(channel, channels, label)
        first, stop = _span_frames(start, end, rate, None, label)
        if stop is not None:
            _check_length(stop - first, rate, max_seconds, label, "span")
        bound = max_frames(codec, rate, len(data))  # no exact length in the header: checked as it decodes
        sink = _MonoSink(rate, max_seconds, label)
        pos = 0  # frames decoded so far
        try:
            for frame in container.decode(stream):
                if frame.sample_rate != rate:
                    raise AudioDecodeError(
                        Reason.DECODE_ERROR,
                        f"{label}{codec}: sample rate changes mid-stream ({rate} -> {frame.sample_rate} Hz)",
                    )
                n = frame.samples
                if n == 0:
                    continue
                if pos + n > bound:
                    raise _too_much(pos + n, bound, rate, len(data), label, codec, "decodes to at least")
                channels = channels or frame.layout.nb_channels
                _check_channel(channel, frame.layout.nb_channels, label)
                lo, hi = max(first - pos, 0), n if stop is None else min(stop - pos, n)
                if lo < hi:
                    sink.push(_av_frame_mono(frame, channel)[lo:hi])
                pos += n
                if stop is not None and pos >= stop:
                    break
        except AudioDecodeError:
            raise
        except DECODER_ERRORS as exc:
            raise AudioDecodeError(Reason.DECODE_ERROR, f"{label}{codec} decode failed: {exc}") from None
    if pos == 0:
        raise AudioDecodeError(Reason.EMPTY_AUDIO, f"{label}the file holds no audio frames ({codec})")
    if codec == "mp3" and (stop is None or pos < stop):
        announced = mp3_xing_samples(data)
        if announced is not None and pos < announced - MP3_SLACK_SAMPLES:
            raise AudioDecodeError(
                Reason.DECODE_ERROR,
                f"{label}truncated MP3: Xing header announces {announced} samples, decoded {pos}",
            )
    if start is not None or end is not None:
        _span_frames(start, end, rate, pos if stop is None or pos < stop else None, label)
    samples = sink.finish()
    if samples.shape[0] == 0:
        raise AudioDecodeError(Reason.EMPTY_AUDIO, f"{label}no audio left after decoding")
    return DecodedAudio(samples, rate, channels, codec)
