"""What a file's container header promises, checked against the bytes it holds, before any decoder runs:
a WAVE data chunk or an Ogg stream cut short, a NIST SPHERE header (its compression, its sample count), the
frame count of an MP3's Xing/Info header. Decoders pad or stop silently at such faults; corpus.audio turns
what these find into `decode_error` rejects that name the fault.
"""

from __future__ import annotations

import re
import struct


def wav_truncation(data: bytes) -> str | None:
    """For a RIFF/RIFX/RF64 WAVE: a message when its data chunk announces more frames than the bytes hold.

    libsndfile silently shortens such a file to the bytes present, so the header is checked here.
    As in Kaldi's wave reader, a file written to a pipe is in "stream mode" (its sizes are never patched:
    read to the end): a RIFF size of 0 or 0xFFFFFFFF, or a data size of 0, 0xFFFFFFFF or 0x7FFFF000
    (what SoX writes to a pipe when it does not know the length).
    """
    if len(data) < 12 or data[8:12] != b"WAVE" or data[:4] not in (b"RIFF", b"RIFX", b"RF64"):
        return None
    endian = ">" if data[:4] == b"RIFX" else "<"
    if data[:4] != b"RF64" and struct.unpack(endian + "I", data[4:8])[0] in (0, 0xFFFFFFFF):
        return None  # stream mode
    pos, block_align, ds64_data = 12, 0, None
    for _ in range(1000):  # a WAV has a handful of chunks; bound the walk on garbage
        if pos + 8 > len(data):
            return None
        cid = data[pos : pos + 4]
        (size,) = struct.unpack(endian + "I", data[pos + 4 : pos + 8])
        body = pos + 8
        if cid == b"ds64" and len(data) >= body + 16:
            (ds64_data,) = struct.unpack("<Q", data[body + 8 : body + 16])
        elif cid == b"fmt " and len(data) >= body + 14:
            (block_align,) = struct.unpack(endian + "H", data[body + 12 : body + 14])
        elif cid == b"data":
            if size == 0xFFFFFFFF and ds64_data is not None:
                size = ds64_data
            if size in (0, 0xFFFFFFFF, 0x7FFFF000) or block_align == 0:
                return None
            announced, present = size // block_align, (len(data) - body) // block_align
            if present < announced:
                return f"WAV: data chunk announces {announced} frames, the file holds {present}"
            return None
        pos = body + size + (size & 1)
    return None


def ogg_truncation(data: bytes) -> str | None:
    """For an Ogg stream: a message unless its tail holds a complete page flagged end-of-stream.

    libsndfile and FFmpeg both decode a cut Ogg file as a shorter one (libsndfile takes the length
    from the last granule position it finds). Every Ogg muxer flags the last page of a stream EOS.
    """
    if data[:4] != b"OggS":
        return None
    lo = max(0, len(data) - _OGG_MAX_PAGE - 4096)
    i = data.rfind(b"OggS", lo)
    while i >= 0:
        header_end = i + 27 + (data[i + 26] if i + 27 <= len(data) else 0)
        if i + 27 <= len(data) and data[i + 4] == 0 and header_end <= len(data):
            page_end = header_end + sum(data[i + 27 : header_end])
            if page_end <= len(data) and data[i + 5] & 0x04:
                return None
        i = data.rfind(b"OggS", lo, i)
    return "Ogg: no complete end-of-stream page at the end of the file"


#: NIST SPHERE sample codings of samples compressed inside the file, which only NIST/LDC tools decode.
_NIST_COMPRESSIONS = {"shorten": "sph2pipe", "wavpack": "NIST's w_decode", "shortpack": "NIST's w_decode"}
_NIST_FIELD = re.compile(rb"^(\S+)\s+-(i|r|s\d+)\s?(.*)$")


def nist_header(data: bytes) -> dict[str, str] | None:
    """The fields of a NIST SPHERE header (`NIST_1A`, its size, `name -type value` lines up to
    `end_head`), None for anything else."""
    if not data.startswith(b"NIST_1A\n") or len(data) < 16:
        return None
    try:
        size = int(data[8:16].strip())
    except ValueError:
        return None
    fields: dict[str, str] = {}
    for line in data[16 : min(size, len(data), 1 << 20)].split(b"\n"):
        line = line.rstrip(b"\r")
        if line.strip() == b"end_head":
            break
        m = _NIST_FIELD.match(line)
        if m:
            # the rest of the line, not the announced -sN length: writers get it wrong
            fields[m.group(1).decode("ascii", "replace")] = m.group(3).decode("ascii", "replace").strip()
    fields["_header_bytes"] = str(size)
    return fields


def nist_problem(data: bytes) -> str | None:
    """For a NIST SPHERE whose samples are compressed in the file: what it is and what decodes it."""
    header = nist_header(data)
    if header is None:
        return None
    coding = header.get("sample_coding", "").lower()
    for kind, tool in _NIST_COMPRESSIONS.items():
        if f"embedded-{kind}" in coding:
            return f"{kind}-compressed NIST SPHERE (needs {tool}): sample_coding {coding}"
    return None


def nist_truncation(data: bytes) -> str | None:
    """For an uncompressed NIST SPHERE: a message when `sample_count` announces more frames than the
    bytes after the header hold (libsndfile silently reads what is there)."""
    header = nist_header(data)
    if header is None:
        return None
    try:
        size = int(header["_header_bytes"])
        count = int(header["sample_count"])
        width = int(header.get("sample_n_bytes", "2")) * int(header.get("channel_count", "1"))
    except (KeyError, ValueError):
        return None
    if count <= 0 or width <= 0 or size <= 0:
        return None
    present = max(len(data) - size, 0) // width
    if present < count:
        return f"NIST SPHERE: sample_count announces {count} frames, the file holds {present}"
    return None


#: The largest Ogg page: 27-byte header, 255 lacing values, 255 x 255 bytes of data.
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
#: Decoded MP3 samples may fall short of the Xing count by encoder delay and padding (12 bits each).
MP3_SLACK_SAMPLES = 2 * 4096 + 2 * 1152
_MP3_BITRATE_INDEX_OK = range(1, 15)


def mp3_xing_samples(data: bytes) -> int | None:
    """Samples per channel announced by an MP3's Xing/Info header (frame count x samples per frame).

    None when there is no such header or it carries no frame count: then there is nothing to check
    against (a file's length is otherwise only an estimate).
    """
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    limit = min(len(data) - 4, pos + 65536)
    while pos < limit:
        pos = data.find(b"\xff", pos, limit)
        if pos < 0:
            return None
        b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
        version = (b1 >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
        layer = (b1 >> 1) & 3  # 1: Layer III
        if (
            (b1 & 0xE0) == 0xE0
            and version != 1
            and layer == 1
            and (b2 >> 4) in _MP3_BITRATE_INDEX_OK
            and ((b2 >> 2) & 3) != 3
        ):
            mono = (b3 >> 6) == 3
            if version == 3:
                side_info, per_frame = (17 if mono else 32), 1152
            else:
                side_info, per_frame = (9 if mono else 17), 576
            tag = pos + 4 + side_info
            if data[tag : tag + 4] in (b"Xing", b"Info") and len(data) >= tag + 12:
                (flags, frames) = struct.unpack(">II", data[tag + 4 : tag + 12])
                if flags & 1 and frames > 0:
                    return frames * per_frame
            return None  # the first frame has no Xing header
        pos += 1
    return None
