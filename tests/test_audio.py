"""corpus.audio on real files: made here with soundfile, sox, lame, opusenc, flac, espeak-ng and PyAV."""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
from omnicorpus.corpus.pcm import audio_metrics, encode_flac, pcm_int16, read_flac
from omnicorpus.manifests.layout import audio_store_path
from omnicorpus.manifests.schema import SAMPLE_RATE, Reason


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def _tone(rate: int, seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _reason(data: bytes, **kw) -> Reason:
    with pytest.raises(AudioDecodeError) as info:
        decode_audio(data, **kw)
    assert "\n" not in str(info.value)
    return info.value.reason


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Three seconds of audio in every format under test (some need external encoders)."""
    d = tmp_path_factory.mktemp("audio")
    out: dict[str, Path] = {}
    left = _tone(44100, 3.0, 440)
    right = _tone(44100, 3.0, 660, 0.3)
    out["wav"] = d / "stereo44.wav"
    sf.write(out["wav"], np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    out["flac"] = d / "mono22.flac"
    sf.write(out["flac"], _tone(22050, 3.0), 22050, format="FLAC", subtype="PCM_16")
    if shutil.which("lame"):
        out["mp3"] = d / "stereo44.mp3"
        _run("lame", "--quiet", "-V", "4", str(out["wav"]), str(out["mp3"]))
    if shutil.which("opusenc"):
        out["opus"] = d / "stereo.opus"
        _run("opusenc", "--quiet", str(out["wav"]), str(out["opus"]))
    if shutil.which("sox"):
        out["vorbis"] = d / "stereo.ogg"
        _run("sox", str(out["wav"]), "-C", "3", str(out["vorbis"]))
    out["m4a"] = d / "stereo.m4a"
    _write_aac(out["m4a"], np.stack([left, right]), 44100)
    return out


def _write_aac(path: Path, planar: np.ndarray, rate: int) -> None:
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout="stereo")
        for i in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planar[:, i : i + 1024]), format="fltp", layout="stereo"
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


# --- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "codec", "rate"),
    [
        ("wav", "pcm_16", 44100),
        ("flac", "flac", 22050),
        ("mp3", "mp3", 44100),
        ("opus", "opus", 48000),
        ("vorbis", "vorbis", 44100),
        ("m4a", "aac", 44100),
    ],
)
def test_decode_formats(files, kind, codec, rate):
    if kind not in files:
        pytest.skip(f"no encoder for {kind}")
    channels = 1 if kind == "flac" else 2
    dec = decode_audio(files[kind].read_bytes(), name=files[kind].name)
    assert (dec.orig_codec, dec.orig_sample_rate, dec.orig_channels) == (codec, rate, channels)
    assert dec.samples.dtype == np.float32 and dec.samples.ndim == 1
    # Lossy codecs may add encoder delay / padding (AAC priming is not trimmed): up to ~0.1 s.
    lossless = kind in ("wav", "flac")
    assert abs(dec.samples.shape[0] - 3 * SAMPLE_RATE) <= (1 if lossless else 0.1 * SAMPLE_RATE)
    assert float(np.abs(dec.samples).max()) <= 1.0
    # Level: mono mean of a 0.5 and a 0.3 sine (stereo) or a 0.5 sine (mono).
    mid = dec.samples[SAMPLE_RATE // 2 : 5 * SAMPLE_RATE // 2].astype(np.float64)
    want = math.sqrt(0.25**2 / 2 + 0.15**2 / 2) if channels == 2 else 0.5 / math.sqrt(2)
    assert math.sqrt(np.mean(mid**2)) == pytest.approx(want, rel=0.05)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_8_channel_96k(tmp_path, fmt):
    rate, n = 96000, 96000 * 2
    block = np.zeros((n, 8), np.float32)
    block[:, 0] = 0.8  # the mean of the channels is 0.1 plus a tone from channel 7
    block[:, 7] = _tone(rate, 2.0, 1000, 0.8)
    path = tmp_path / f"eight.{fmt.lower()}"
    sf.write(path, block, rate, format=fmt, subtype="PCM_24")
    dec = decode_audio(path.read_bytes())
    assert (dec.orig_sample_rate, dec.orig_channels) == (96000, 8)
    assert dec.orig_codec == ("pcm_24" if fmt == "WAV" else "flac")
    assert abs(dec.samples.shape[0] - 2 * SAMPLE_RATE) <= 1
    mid = dec.samples[4000:-4000].astype(np.float64)
    assert mid.mean() == pytest.approx(0.1, abs=1e-3)
    assert np.sqrt(np.mean((mid - mid.mean()) ** 2)) == pytest.approx(0.1 / math.sqrt(2), rel=0.01)


def test_pcm_16k_passthrough_is_exact(tmp_path):
    x = _tone(SAMPLE_RATE, 1.0, 440, 0.7)
    q = pcm_int16(x)
    path = tmp_path / "a.wav"
    sf.write(path, q, SAMPLE_RATE, subtype="PCM_16")
    dec = decode_audio(path.read_bytes())
    np.testing.assert_array_equal(pcm_int16(dec.samples), q)


def test_unknown_length_flac_goes_to_pyav(tmp_path):
    """FLAC encoded to a pipe has no total in STREAMINFO; libsndfile cannot read it block by block."""
    flac = _need("flac")
    raw = pcm_int16(_tone(SAMPLE_RATE, 2.0)).tobytes()
    proc = subprocess.run(
        [flac, "-s", "--force-raw-format", "--endian=little", "--sign=signed", "--channels=1", "--bps=16",
         f"--sample-rate={SAMPLE_RATE}", "-", "-c"],
        input=raw, capture_output=True, check=True,
    )  # fmt: skip
    dec = decode_audio(proc.stdout)
    assert dec.orig_codec == "flac"
    assert dec.samples.shape[0] == 2 * SAMPLE_RATE


def test_vbr_mp3_without_xing_decodes_in_full(tmp_path):
    """libsndfile stops a VBR MP3 without a Xing header at its estimated length; PyAV must decode it all."""
    espeak, lame = _need("espeak-ng"), _need("lame")
    wav, mp3 = tmp_path / "speech.wav", tmp_path / "speech.mp3"
    _run(espeak, "-w", str(wav), "Speech data curation needs every second of every file, " * 3)
    _run(lame, "--quiet", "-V", "0", "-t", str(wav), str(mp3))  # -t: no Xing/LAME header
    want = sf.info(str(wav)).duration
    dec = decode_audio(mp3.read_bytes())
    assert dec.orig_codec == "mp3"
    assert dec.samples.shape[0] / SAMPLE_RATE == pytest.approx(want, abs=0.1)


# --- failures -----------------------------------------------------------------------------------


def test_empty_file():
    assert _reason(b"") == Reason.EMPTY_FILE


def test_text_named_wav(tmp_path):
    path = tmp_path / "not_audio.wav"
    path.write_text("this is a transcript, not audio\n" * 50)
    assert _reason(path.read_bytes(), name=path.name) == Reason.DECODE_ERROR


def test_wav_without_frames_is_empty_audio(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 16000, subtype="PCM_16")
    assert _reason(path.read_bytes()) == Reason.EMPTY_AUDIO


@pytest.mark.parametrize("kind", ["flac", "wav", "mp3", "opus", "vorbis"])
def test_truncated_file_is_decode_error(files, kind):
    if kind not in files:
        pytest.skip(f"no encoder for {kind}")
    data = files[kind].read_bytes()
    cut = data[: int(len(data) * 0.6)]
    assert _reason(cut) == Reason.DECODE_ERROR


def test_truncated_flac_span_is_decode_error(files):
    """Reading only a span still notices that the file ends early."""
    data = files["flac"].read_bytes()
    cut = data[: int(len(data) * 0.6)]
    assert _reason(cut, start=0.1, end=0.3) == Reason.DECODE_ERROR


def test_damaged_flac_is_decode_error(files):
    data = bytearray(files["flac"].read_bytes())
    mid = len(data) // 2
    data[mid : mid + 2000] = bytes(2000)
    assert _reason(bytes(data)) == Reason.DECODE_ERROR


# --- offsets, length limit ------------------------------------------------------------------------


def _step_signal(rate: int) -> np.ndarray:
    """1 s of silence then 2 s of a 440 Hz tone: where a span starts is audible in its level."""
    x = _tone(rate, 3.0, 440, 0.5)
    x[:rate] = 0.0
    return x


@pytest.mark.parametrize("kind", ["wav", "flac", "mp3", "opus", "ogg"])
def test_span(tmp_path, kind):
    """Spans: libsndfile seeks (WAV, FLAC, Ogg Opus/Vorbis); PyAV decodes from the start (MP3)."""
    rate = 44100
    path = tmp_path / f"step.{kind}"
    wav = tmp_path / "step.wav"
    sf.write(wav, _step_signal(rate), rate, subtype="PCM_16")
    if kind == "mp3":
        _run(_need("lame"), "--quiet", "-b", "128", str(wav), str(path))
    elif kind == "opus":
        _run(_need("opusenc"), "--quiet", str(wav), str(path))
    elif kind == "ogg":
        _run(_need("sox"), str(wav), str(path))
    else:
        sf.write(path, _step_signal(rate), rate, format=kind.upper(), subtype="PCM_16")
    dec = decode_audio(path.read_bytes(), start=0.5, end=1.5)
    assert abs(dec.samples.shape[0] - SAMPLE_RATE) <= 3
    first, second = dec.samples[: 7 * SAMPLE_RATE // 16], dec.samples[9 * SAMPLE_RATE // 16 :]
    assert np.abs(first).max() < 0.02  # the silent half
    assert math.sqrt(np.mean(second.astype(np.float64) ** 2)) == pytest.approx(0.5 / math.sqrt(2), rel=0.05)
    # start only: to the end; end only: from the start
    assert abs(decode_audio(path.read_bytes(), start=2.0).samples.shape[0] - SAMPLE_RATE) <= 3
    assert abs(decode_audio(path.read_bytes(), end=0.25).samples.shape[0] - SAMPLE_RATE // 4) <= 3


def test_end_slightly_past_the_audio_is_clamped(files):
    dec = decode_audio(files["wav"].read_bytes(), start=2.0, end=3.02)
    assert abs(dec.samples.shape[0] - SAMPLE_RATE) <= 1


@pytest.mark.parametrize("kind", ["wav", "mp3"])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (3.5, None),
        (1.0, 1.0),
        (2.0, 1.0),
        (-0.5, 1.0),
        (0.0, 4.0),
        (float("nan"), None),
        (None, float("inf")),
    ],
)
def test_bad_offsets(files, kind, start, end):
    if kind not in files:
        pytest.skip(f"no encoder for {kind}")
    assert _reason(files[kind].read_bytes(), start=start, end=end) == Reason.BAD_OFFSETS


@pytest.mark.parametrize("kind", ["wav", "flac", "mp3", "opus", "m4a"])
def test_too_long(files, kind):
    if kind not in files:
        pytest.skip(f"no encoder for {kind}")
    data = files[kind].read_bytes()
    assert _reason(data, max_seconds=2.0) == Reason.TOO_LONG_RECORDING
    assert decode_audio(data, max_seconds=4.0).samples.shape[0] > 0
    # The limit applies to what is taken: a short span of a long file passes.
    assert decode_audio(data, start=0.5, end=1.5, max_seconds=2.0).samples.shape[0] == pytest.approx(
        SAMPLE_RATE, abs=3
    )
    assert _reason(data, start=0.0, end=2.5, max_seconds=2.0) == Reason.TOO_LONG_RECORDING


def test_too_long_from_header_before_decoding(tmp_path):
    """A FLAC announcing 10 s but cut after ~2 s: rejected as too long from STREAMINFO, never decoded."""
    path = tmp_path / "long.flac"
    sf.write(path, _tone(SAMPLE_RATE, 10.0), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    cut = path.read_bytes()[: path.stat().st_size // 5]
    assert _reason(cut, max_seconds=5.0) == Reason.TOO_LONG_RECORDING
    assert _reason(cut, max_seconds=20.0) == Reason.DECODE_ERROR


def test_out_of_range_and_non_finite_float_wav(tmp_path):
    loud = tmp_path / "loud.wav"
    sf.write(loud, np.full(SAMPLE_RATE, 1.5, np.float32), SAMPLE_RATE, subtype="FLOAT")
    dec = decode_audio(loud.read_bytes())
    assert dec.orig_codec == "float"
    assert float(dec.samples.max()) == 1.0 and audio_metrics(dec.samples).clip_fraction == 1.0
    bad = tmp_path / "nan.wav"
    x = np.zeros(SAMPLE_RATE, np.float32)
    x[100] = np.nan
    sf.write(bad, x, SAMPLE_RATE, subtype="FLOAT")
    assert _reason(bad.read_bytes()) == Reason.DECODE_ERROR


# --- resampling -----------------------------------------------------------------------------------


def _spectrum_peak(x: np.ndarray) -> tuple[float, np.ndarray]:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(freqs[int(np.argmax(spec))]), spec


def test_sine_survives_resampling_without_aliasing(tmp_path):
    rate = 44100
    path = tmp_path / "tones.wav"
    # 1 kHz at 0.5 (in band) plus 10 kHz at 0.4 (above 8 kHz: must be filtered, not folded to 6 kHz).
    sf.write(path, _tone(rate, 2.0, 1000, 0.5) + _tone(rate, 2.0, 10000, 0.4), rate, subtype="FLOAT")
    dec = decode_audio(path.read_bytes())
    mid = dec.samples[SAMPLE_RATE // 4 : -SAMPLE_RATE // 4]
    peak, spec = _spectrum_peak(mid)
    assert peak == pytest.approx(1000, abs=2)
    assert math.sqrt(np.mean(mid.astype(np.float64) ** 2)) == pytest.approx(0.5 / math.sqrt(2), rel=0.01)
    freqs = np.fft.rfftfreq(len(mid), 1 / SAMPLE_RATE)
    alias = spec[np.abs(freqs - 6000) < 50].max()
    assert alias < 1e-3 * spec.max()


# --- metrics, FLAC store --------------------------------------------------------------------------


def test_metrics_known_signals():
    n = SAMPLE_RATE
    square = np.where(np.arange(n) % 40 < 20, 1.0, -1.0).astype(np.float32)
    m = audio_metrics(square)
    assert m.num_samples == n and m.seconds == 1.0
    assert m.peak == 1.0 and m.clip_fraction == 1.0
    assert m.rms_dbfs == pytest.approx(0.0, abs=1e-6)
    assert m.dc_offset == pytest.approx(0.0, abs=1e-9)

    silence = audio_metrics(np.zeros(n, np.float32))
    assert (silence.peak, silence.clip_fraction, silence.dc_offset) == (0.0, 0.0, 0.0)
    assert silence.rms_dbfs == -120.0

    dc = audio_metrics(np.full(n, 0.25, np.float32))
    assert dc.dc_offset == pytest.approx(0.25) and dc.rms_dbfs == pytest.approx(20 * math.log10(0.25))

    sine = audio_metrics(_tone(SAMPLE_RATE, 1.0, 1000, 0.5))
    assert sine.rms_dbfs == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert sine.peak == pytest.approx(0.5, abs=1e-3) and sine.clip_fraction == 0.0

    tiny = audio_metrics(np.full(n, 1e-9, np.float32))
    assert tiny.rms_dbfs == -120.0  # floored

    empty = audio_metrics(np.zeros(0, np.float32))
    assert empty.num_samples == 0 and empty.rms_dbfs == -120.0
    assert empty.pcm_sha256 == hashlib.sha256(b"").hexdigest()


def test_pcm_hash_is_the_int16_bytes():
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.0, 1 / 65536, 3 / 65536], np.float32)
    q = pcm_int16(x)
    assert q.tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 0, 2]  # round half to even
    assert audio_metrics(x).pcm_sha256 == hashlib.sha256(q.astype("<i2").tobytes()).hexdigest()


def test_pcm_int16_of_float32_equals_the_float64_rounding():
    """float32 samples are quantized in float32 (faster); the integers are those of the float64 definition,
    NaN and infinities included."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-1.5, 1.5, 100_000), (rng.integers(-40000, 40000, 10_000) + 0.5) / 32768,
                        [np.nan, np.inf, -np.inf, 3e38, -3e38, 0.99998474, -0.99998474]]).astype(np.float32)
    wide = x.astype(np.float64) * 32768.0
    wide = np.clip(np.rint(np.nan_to_num(wide, nan=0.0)), -32768, 32767).astype("<i2")
    np.testing.assert_array_equal(pcm_int16(x), wide)
    np.testing.assert_array_equal(pcm_int16(x.astype(np.float64)), wide)
    assert pcm_int16(x[-7:]).tolist() == [0, 32767, -32768, 32767, -32768, 32767, -32768]


def test_encode_flac_deterministic_and_hash_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            _tone(SAMPLE_RATE, 1.0, 300, 0.6),
            rng.uniform(-1.2, 1.2, SAMPLE_RATE).astype(np.float32),  # includes out-of-range values
            (rng.integers(-32768, 32768, 1000) + 0.5).astype(np.float32) / 32768,  # exact .5 steps
        ]
    )
    flac = encode_flac(x)
    assert flac[:4] == b"fLaC"
    assert encode_flac(x) == flac
    assert encode_flac(x.copy().astype(np.float64)) == flac
    info = sf.info(io.BytesIO(flac))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (SAMPLE_RATE, 1, "PCM_16", len(x))

    want = audio_metrics(x).pcm_sha256
    back = read_flac(flac)
    assert back.dtype == np.float32 and back.shape == x.shape
    assert audio_metrics(back).pcm_sha256 == want
    np.testing.assert_array_equal(pcm_int16(back), pcm_int16(x))
    # The stored file decodes through the ingest path to the same PCM, and re-encodes to the same bytes.
    dec = decode_audio(flac)
    assert (dec.orig_codec, dec.orig_sample_rate, dec.orig_channels) == ("flac", SAMPLE_RATE, 1)
    np.testing.assert_array_equal(dec.samples, back)
    assert audio_metrics(dec.samples).pcm_sha256 == want
    assert encode_flac(back) == flac
    # read_flac takes a path too.
    path = tmp_path / audio_store_path(want)
    path.parent.mkdir(parents=True)
    path.write_bytes(flac)
    np.testing.assert_array_equal(read_flac(path), back)
    np.testing.assert_array_equal(read_flac(str(path)), back)


def test_decoded_then_stored_hash_is_stable(files):
    """Ingest: decode -> hash -> store; hashing the stored file's PCM gives the name it is stored under."""
    dec = decode_audio(files["wav"].read_bytes())
    sha = audio_metrics(dec.samples).pcm_sha256
    assert audio_metrics(read_flac(encode_flac(dec.samples))).pcm_sha256 == sha


def test_read_flac_rejects_other_rates_and_truncation(files):
    with pytest.raises(AudioDecodeError) as info:
        read_flac(files["flac"].read_bytes())  # 22.05 kHz
    assert info.value.reason == Reason.DECODE_ERROR
    flac = encode_flac(_tone(SAMPLE_RATE, 3.0))
    with pytest.raises(AudioDecodeError):
        read_flac(flac[: len(flac) * 6 // 10])


def test_audio_store_path():
    sha = hashlib.sha256(b"x").hexdigest()
    assert audio_store_path(sha) == f"audio/{sha[:2]}/{sha[2:4]}/{sha}.flac"
    for bad in ("", "abc", sha.upper(), sha[:-1] + "g", "../" + sha[3:]):
        with pytest.raises(ValueError):
            audio_store_path(bad)


def test_error_pickles():
    err = AudioDecodeError(Reason.BAD_OFFSETS, "x.wav: end=4\n past the end")
    again = pickle.loads(pickle.dumps(err))
    assert again.reason == Reason.BAD_OFFSETS and str(again) == "x.wav: end=4 past the end"
    assert AudioDecodeError("decode_error", "m").reason is Reason.DECODE_ERROR


# --- one channel ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wav", "mp3", "opus", "vorbis", "m4a"])
def test_channel_is_that_channel_alone(files, kind):
    """`channel=` keeps one channel (left 440 Hz at 0.5, right 660 Hz at 0.3) in the libsndfile path
    (wav, vorbis) and the PyAV path (mp3, whole opus, m4a) alike."""
    if kind not in files:
        pytest.skip(f"no {kind} encoder")
    data = files[kind].read_bytes()
    left, right = decode_audio(data, channel=0), decode_audio(data, channel=1)
    mixed = decode_audio(data)
    assert left.orig_channels == right.orig_channels == 2
    assert left.num_samples == right.num_samples == mixed.num_samples
    for audio, freq, amp in ((left, 440, 0.5), (right, 660, 0.3)):
        mid = audio.samples[SAMPLE_RATE // 2 : -SAMPLE_RATE // 2]
        peak, spec = _spectrum_peak(mid)
        assert peak == pytest.approx(freq, abs=3)
        other = 660 if freq == 440 else 440
        freqs = np.fft.rfftfreq(len(mid), 1 / SAMPLE_RATE)
        assert spec[np.abs(freqs - other) < 10].max() < 0.01 * spec.max()  # the other channel is not mixed in
        assert math.sqrt(np.mean(mid.astype(np.float64) ** 2)) == pytest.approx(amp / math.sqrt(2), rel=0.05)
    np.testing.assert_allclose((left.samples + right.samples) / 2, mixed.samples, atol=0.02)


def test_channel_span_of_a_pcm_file_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    pcm = rng.integers(-20000, 20000, size=(SAMPLE_RATE, 2), dtype=np.int16)
    path = tmp_path / "st.wav"
    sf.write(path, pcm, SAMPLE_RATE, subtype="PCM_16")
    got = decode_audio(path.read_bytes(), start=0.25, end=0.5, channel=1).samples
    np.testing.assert_array_equal(got, pcm[4000:8000, 1].astype(np.float32) / 32768)


@pytest.mark.parametrize("kind", ["wav", "flac", "mp3", "m4a"])
def test_channel_the_file_lacks(files, kind):
    if kind not in files:
        pytest.skip(f"no {kind} encoder")
    data = files[kind].read_bytes()
    channels = 1 if kind == "flac" else 2
    with pytest.raises(AudioDecodeError) as info:
        decode_audio(data, channel=channels, name="x")
    assert info.value.reason == Reason.DECODE_ERROR
    plural = "s" if channels != 1 else ""
    assert str(info.value) == f"x: channel {channels} asked, the file has {channels} channel{plural}"
    assert _reason(data, channel=-1) == Reason.DECODE_ERROR


# --- NIST SPHERE ----------------------------------------------------------------------------------


def _nist(fields: list[str], body: bytes) -> bytes:
    header = b"NIST_1A\n   1024\n" + b"".join(f.encode() + b"\n" for f in fields) + b"end_head\n"
    return header + b" " * (1024 - len(header)) + body


@pytest.mark.parametrize(("opts", "codec"), [((), "pcm_16"), (("-e", "u-law"), "ulaw"), (("-b", "8"), "pcm_s8")])
def test_sphere_made_by_sox(tmp_path, opts, codec):
    """`sox in.wav -t sph out.sph`: 16-bit PCM, 8-bit mu-law, 8-bit PCM, 2 channels at 8 kHz (Switchboard's
    shape once sph2pipe has uncompressed it). (sox cannot write a-law SPHERE: it writes 8-bit PCM.)"""
    _need("sox")
    rate = 8000
    left, right = _tone(rate, 1.0, 300, 0.5), np.zeros(rate, np.float32)
    src = tmp_path / "in.wav"
    sf.write(src, np.stack([left, right], axis=1), rate, subtype="PCM_16")
    sph = tmp_path / "out.sph"
    _run("sox", str(src), "-t", "sph", *opts, str(sph))
    data = sph.read_bytes()
    assert data.startswith(b"NIST_1A\n")
    audio = decode_audio(data)
    assert (audio.orig_codec, audio.orig_sample_rate, audio.orig_channels) == (codec, rate, 2)
    assert audio.num_samples == SAMPLE_RATE
    a, b = decode_audio(data, channel=0).samples, decode_audio(data, channel=1).samples
    mid = slice(SAMPLE_RATE // 4, -SAMPLE_RATE // 4)
    assert math.sqrt(np.mean(a[mid].astype(np.float64) ** 2)) == pytest.approx(0.5 / math.sqrt(2), rel=0.03)
    assert np.abs(b).max() < 0.02  # silence (sox dithers it when it writes 8-bit PCM)
    np.testing.assert_allclose(audio.samples, (a + b) / 2, atol=1e-6)
    with pytest.raises(AudioDecodeError, match="truncated NIST SPHERE"):
        decode_audio(data[: 1024 + (len(data) - 1024) // 2])


def test_timit_style_sphere_header():
    """TIMIT's header (no sample_coding: 16-bit PCM), either byte order."""
    pcm = (_tone(SAMPLE_RATE, 0.5, 500, 0.4) * 32767).astype(np.int16)
    fields = ["database_id -s5 TIMIT", "database_version -s3 1.0", "utterance_id -s8 aks0_sa1",
              "channel_count -i 1", f"sample_count -i {len(pcm)}", "sample_rate -i 16000",
              "sample_min -i -13106", "sample_max -i 13106", "sample_n_bytes -i 2", "sample_sig_bits -i 16"]
    little = decode_audio(_nist([*fields, "sample_byte_format -s2 01"], pcm.astype("<i2").tobytes()))
    big = decode_audio(_nist([*fields, "sample_byte_format -s2 10"], pcm.astype(">i2").tobytes()))
    np.testing.assert_array_equal(little.samples, pcm.astype(np.float32) / 32768)
    np.testing.assert_array_equal(big.samples, little.samples)


@pytest.mark.parametrize("coding", ["pcm,embedded-shorten-v2.00", "ulaw,embedded-shorten-v2.00"])
def test_shorten_sphere_is_a_clear_decode_error(coding):
    data = _nist(["channel_count -i 2", "sample_count -i 8000", "sample_rate -i 8000",
                  f"sample_n_bytes -i {2 if coding.startswith('pcm') else 1}", "sample_byte_format -s2 01",
                  f"sample_coding -s{len(coding)} {coding}", "sample_checksum -i 12345"],
                 b"ajkg\x02" + bytes(4000))
    with pytest.raises(AudioDecodeError) as info:
        decode_audio(data, name="sw02001.sph")
    assert info.value.reason == Reason.DECODE_ERROR
    assert str(info.value).startswith("sw02001.sph: shorten-compressed NIST SPHERE (needs sph2pipe)")


def test_wav_written_to_a_pipe_is_read_to_its_end(tmp_path):
    """Stream-mode WAV headers, as Kaldi's wave reader accepts them: SoX writing to a pipe puts 0x7FFFF000
    as the data size, FFmpeg 0xFFFFFFFF as both sizes."""
    pcm = (_tone(SAMPLE_RATE, 0.3) * 32767).astype("<i2")
    path = tmp_path / "x.wav"
    sf.write(path, pcm, SAMPLE_RATE, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    pos = data.find(b"data")
    for riff, size in ((None, 0x7FFFF000), (0xFFFFFFFF, 0xFFFFFFFF)):
        patched = bytearray(data)
        patched[pos + 4 : pos + 8] = size.to_bytes(4, "little")
        if riff is not None:
            patched[4:8] = riff.to_bytes(4, "little")
        assert decode_audio(bytes(patched)).num_samples == len(pcm)
    if shutil.which("sox"):
        out = subprocess.run(["sox", str(path), "-t", "wav", "-", "trim", "0", "0.1"], check=True,
                             capture_output=True).stdout
        assert int.from_bytes(out[out.find(b"data") + 4 :][:4], "little") == 0x7FFFF000
        assert decode_audio(out).num_samples == SAMPLE_RATE // 10
