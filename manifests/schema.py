"""The data contracts: every table's Arrow schema, its columns documented, and the reason codes.

Every stage imports its column names and schemas from here; none spells a column of its own.
A change to any schema bumps SCHEMA_VERSION, which is written into every Parquet file's metadata
and into release.json, so a reader can refuse a table it does not understand.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, TypedDict

import pyarrow as pa

SCHEMA_VERSION = "1.9"  # 1.1: utterances carry lid_language, lid_prob; 1.2: and partner; 1.3: segment FLAC;
# 1.4: source items and recordings carry the channel read, recordings their item_version; `und` replaces null;
# 1.5: segments carry the SHA-256 of their FLAC; 1.6: source items, recordings, segments and utterances carry
# speaker_source; 1.7: utterances carry their item's license (the licence ledger); 1.8: segments and utterances
# carry the quality signals (QUALITY_SIGNALS), snr_db now per segment; 1.9: segments carry their acoustic
# fingerprint and the group dedup decided them in (near-duplicates). (Source items live in
# memory only, never in a stored table:
# their listing_error becoming a struct changed no file.)

#: Audio inside the platform is always mono at this rate (the Omnilingual storage convention).
SAMPLE_RATE = 16_000

#: The language type is a string `{ISO 639-3}_{ISO 15924}`; see manifests.languages.
LANGUAGE_TYPE = pa.string()

SPLITS = ("train", "dev", "test")


class Stage(StrEnum):
    """The stage that produced a reject row."""

    INGEST = "ingest"
    SEGMENT = "segment"
    LANGID = "langid"
    FILTER = "filter"
    NORMALIZE = "normalize"
    DEDUP = "dedup"
    SHARD = "shard"
    COMMUNITY = "community"
    CONTAMINATION = "contamination"  # a release's train segments that an evaluation set holds


class Reason(StrEnum):
    """Why an item left the flow. Each reject row carries exactly one."""

    # ingest
    MISSING_FILE = "missing_file"
    EMPTY_FILE = "empty_file"
    DECODE_ERROR = "decode_error"
    EMPTY_AUDIO = "empty_audio"
    TOO_LONG_RECORDING = "too_long_recording"
    UNKNOWN_LANGUAGE = "unknown_language"
    TRANSCRIPT_NOT_UTF8 = "transcript_not_utf8"
    BAD_OFFSETS = "bad_offsets"
    LISTING_ERROR = "listing_error"
    COMMAND_NOT_ALLOWED = "command_not_allowed"  # a Kaldi wav.scp command of a source without allow_commands
    COMMAND_FAILED = "command_failed"  # an allowed command exited non-zero, timed out or wrote too much
    PATH_OUTSIDE_SOURCE = "path_outside_source"  # a manifest row whose audio path is absolute or climbs out
    # segment
    NO_SPEECH = "no_speech"
    # langid
    LID_MISMATCH = "lid_mismatch"
    SCRIPT_MISMATCH = "script_mismatch"
    # filter
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    EMPTY_TRANSCRIPT = "empty_transcript"
    SPEAKING_RATE = "speaking_rate"
    CLIPPING = "clipping"
    LOW_SNR = "low_snr"
    LOW_BANDWIDTH = "low_bandwidth"
    DC_OFFSET = "dc_offset"
    LONG_SILENCE = "long_silence"
    LOW_SPEECH_RATIO = "low_speech_ratio"
    # normalize
    EMPTY_AFTER_NORMALIZATION = "empty_after_normalization"
    # dedup
    DUPLICATE = "duplicate"
    NEAR_DUPLICATE = "near_duplicate"  # another recording's audio re-encoded, resampled, trimmed, ...
    SPLIT_LEAK = "split_leak"
    TRANSCRIPT_CONFLICT = "transcript_conflict"
    # community
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"
    INVALID_METADATA = "invalid_metadata"
    # contamination
    CONTAMINATION = "contamination"


def _f(name: str, typ: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, typ, nullable=nullable, metadata={"doc": doc})


def _schema(name: str, *fields: pa.Field) -> pa.Schema:
    return pa.schema(list(fields), metadata={"table": name, "schema_version": SCHEMA_VERSION})


# --- columns shared by several tables (one definition each) -------------------------------------
ITEM_ID = _f("item_id", pa.string(), "Stable id of a source item: hash of corpus, source URI and offsets", False)
CORPUS = _f("corpus", pa.string(), "Corpus name as configured (the NAME of --source NAME=LAYOUT:PATH)", False)
SOURCE_URI = _f("source_uri", pa.string(), "Where the audio came from: path or URI of the original file", False)
SPLIT = _f("split", pa.string(), "train, dev or test")
LANGUAGE = _f("language", LANGUAGE_TYPE,
              "Language code {ISO 639-3}_{ISO 15924}, e.g. eng_Latn; `und` for unlabelled audio of unknown language")
LANGUAGE_RAW = _f("language_raw", pa.string(), "Language code exactly as the source wrote it")
LICENSE = _f("license", pa.string(), "License of the source (SPDX id where one exists)")
LABELLED = _f("labelled", pa.bool_(), "True when the item has a transcript to train on", False)
START = _f("start", pa.float64(), "Offset in seconds of the item's first sample in its audio")
END = _f("end", pa.float64(), "Offset in seconds just past the item's last sample in its audio")
CHANNEL = _f("channel", pa.int32(),
             "The one channel (0-based) of a multi-channel file that is the item; null: the mean of all channels")
SECONDS = _f("seconds", pa.float64(), "Duration in seconds at 16 kHz")
RAW_TEXT = _f("raw_text", pa.string(), "Transcript as the source wrote it (decoded as UTF-8)")
TEXT = _f("text", pa.string(), "Normalized transcript (see pipelines.normalize)")
SPEAKER = _f("speaker", pa.string(), "Speaker pseudonym: salted hash of corpus and source speaker id")
SPEAKER_SOURCE = _f("speaker_source", pa.string(),
                    "The corpus's own speaker id, kept where its licence allows (manifests.licences): an open "
                    "licence or `speaker_ids: keep`; null for community recordings and pseudonymised sources")
AUDIO_PATH = _f("audio_path", pa.string(), "Normalized 16 kHz mono FLAC, relative to the output root")
PCM_SHA256 = _f("pcm_sha256", pa.string(), "SHA-256 of the decoded 16 kHz mono int16 PCM")
META = _f("meta", pa.string(), "JSON object of source-specific provenance (consent id, partner, ...)")
ITEM_VERSION = _f("item_version", pa.string(),
                  "Digest of the item's listing row and the ingest parameters: a change re-ingests the item")

class ListingProblem(TypedDict):
    """Why a listed item cannot be ingested as it stands: a Reason value and the words that explain it."""

    reason: str
    detail: str


def problem_text(problem: ListingProblem | None) -> str | None:
    """A listing problem as a person reads it, `<reason>: <detail>` (None for none)."""
    return None if problem is None else f"{problem['reason']}: {problem['detail']}"


#: The Arrow type of a ListingProblem (a source item's `listing_error`; null when the item is fine).
LISTING_PROBLEM = pa.struct([pa.field("reason", pa.string(), False), pa.field("detail", pa.string(), False)])


def item_meta(value: str | None) -> dict[str, Any]:
    """The `meta` column's JSON object as a dict (empty for null): every reader of `meta` goes through here."""
    return json.loads(value) if value else {}


#: What a corpus adapter lists: one row per item (a file, or a span of a file for segment layouts).
SOURCE_ITEMS = _schema(
    "source_items",
    ITEM_ID,
    ITEM_VERSION,  # filled in by ingest from the rest of the row (adapters leave it null)
    CORPUS,
    _f("layout", pa.string(), "Adapter that listed the item (common_voice, fleurs, kaldi, ...)", False),
    SOURCE_URI,
    START,
    END,
    CHANNEL,
    RAW_TEXT,
    _f("speaker_raw", pa.string(), "Speaker id as the source wrote it"),
    SPEAKER_SOURCE,
    SPLIT,
    LANGUAGE_RAW,
    LICENSE,
    LABELLED,
    _f("listing_error", LISTING_PROBLEM, "A problem found while listing (undecodable transcript, ...): its reason "
                                         "(a rejects reason code) and detail; null when the item is fine"),
    META,
)

#: One decoded, normalized recording in the audio store (output of ingest).
RECORDINGS = _schema(
    "recordings",
    _f("recording_id", pa.string(), "Equal to the item_id of the source item", False),
    ITEM_VERSION,
    CORPUS,
    SPLIT,
    LANGUAGE,
    LANGUAGE_RAW,
    SOURCE_URI,
    START,
    END,
    CHANNEL,
    LICENSE,
    LABELLED,
    SPEAKER,
    SPEAKER_SOURCE,
    RAW_TEXT,
    AUDIO_PATH,
    _f("num_samples", pa.int64(), "Decoded samples at 16 kHz"),
    SECONDS,
    _f("orig_sample_rate", pa.int32(), "Sample rate of the source audio"),
    _f("orig_channels", pa.int32(), "Channel count of the source audio"),
    _f("orig_codec", pa.string(), "Codec / container of the source audio (flac, mp3, opus, pcm_s16le, ...)"),
    _f("peak", pa.float32(), "Largest absolute sample value, full scale = 1.0"),
    _f("rms_dbfs", pa.float32(), "RMS level in dBFS"),
    _f("clip_fraction", pa.float32(), "Fraction of samples at or above 0.999 full scale"),
    _f("dc_offset", pa.float32(), "Mean sample value, full scale = 1.0"),
    PCM_SHA256,
    META,
)

#: Every listed item an ingest run took (whatever its outcome), with the version it took: an item listed
#: later with another version (new settings, a fixed transcript) has its earlier outcome removed and is
#: ingested again; an item no longer listed has it removed.
INGESTED = _schema(
    "ingested",
    ITEM_ID,
    CORPUS,
    ITEM_VERSION,
)

#: Size of a segment's acoustic fingerprint (pipelines.fingerprint: 128 uint32).
FINGERPRINT_BYTES = 512

#: What an SNR estimate reports, clamped (dB).
SNR_RANGE_DB = (-20.0, 100.0)

#: A segment's audio quality, measured by the segment stage (pipelines.audio_quality), carried to the release's
#: utterances and filtered on with configurable floors (FilterParams).
QUALITY_SIGNALS = (
    _f("clip_fraction", pa.float32(), "Clipping fraction of the recording"),
    _f("snr_db", pa.float32(),
       "Estimated SNR of the segment in dB: its speech power over the recording's non-speech floor (WADA's "
       "estimate where the recording has under 0.5 s of non-speech), clamped to -20..100"),
    _f("bandwidth_hz", pa.float32(),
       "Effective bandwidth: the highest frequency within 50 dB of the strongest band of the segment's spectrum "
       "(about 4000 for 8 kHz audio upsampled, a low-bitrate MP3's low-pass, 7000+ for wide-band speech)"),
    _f("dc_offset", pa.float32(), "Mean sample value of the segment, full scale = 1.0"),
    _f("max_silence_seconds", pa.float32(), "Longest stretch inside the segment that the VAD did not mark as speech"),
    _f("speech_ratio", pa.float32(), "Share of the segment's duration that the VAD marked as speech"),
)
#: Their names, in that order.
QUALITY_COLUMNS = tuple(f.name for f in QUALITY_SIGNALS)

#: One stretch of speech of a recording; the unit every later stage works on.
SEGMENTS = _schema(
    "segments",
    _f("segment_id", pa.string(), "Key: recording id and segment index; no '.' or '/'", False),
    _f("recording_id", pa.string(), "Recording the segment was cut from", False),
    CORPUS,
    SPLIT,
    LANGUAGE,
    SOURCE_URI,
    LICENSE,
    LABELLED,
    SPEAKER,
    SPEAKER_SOURCE,
    AUDIO_PATH,
    _f("flac_pack", pa.string(),
       "Pack of segment FLACs (concatenated files) holding this segment's audio, relative to the output root"),
    _f("flac_offset", pa.int64(), "Byte offset of this segment's FLAC file in flac_pack"),
    _f("flac_bytes", pa.int64(), "Size in bytes of this segment's FLAC file in flac_pack"),
    _f("flac_sha256", pa.string(), "SHA-256 of this segment's FLAC file: checked whenever it is copied"),
    _f("start", pa.float64(), "Start in seconds within the normalized recording"),
    _f("end", pa.float64(), "End in seconds within the normalized recording"),
    SECONDS,
    _f("speech_seconds", pa.float64(), "Seconds the VAD marked as speech inside the segment"),
    RAW_TEXT,
    TEXT,
    _f("lid_language", LANGUAGE_TYPE, "Language predicted from the transcript by fastText"),
    _f("lid_prob", pa.float32(), "Probability of lid_language"),
    _f("text_script", pa.string(), "Dominant ISO 15924 script of the transcript"),
    *QUALITY_SIGNALS,
    PCM_SHA256,
    _f("audio_fingerprint", pa.binary(),
       "Acoustic fingerprint: the MinHash signature of the segment's spectral landmarks (pipelines.fingerprint), "
       "128 little-endian uint32; null: not computed (dedup.near_duplicates off) or no landmarks (silence)"),
    _f("dup_group", pa.string(),
       "The hash dedup grouped the segment by: its pcm_sha256, or the smallest pcm_sha256 of its group of "
       "near-duplicates (pipelines.near_duplicates); null before dedup"),
    META,
)

#: Pairs of segments of different recordings whose audio is nearly the same (pipelines.near_duplicates): their
#: fingerprints' similarity is at least dedup.min_similarity. Recomputed whole from the segments' fingerprints.
NEAR_DUPLICATES = _schema(
    "near_duplicates",
    _f("segment_id", pa.string(), "One segment of the pair (the smaller id)", False),
    _f("other_segment_id", pa.string(), "The other segment", False),
    _f("similarity", pa.float32(),
       "Share of the two fingerprints' signature values that agree: about the Jaccard similarity of their "
       "spectral landmarks (1.0 for the same audio)", False),
    _f("pcm_sha256", pa.string(), "PCM hash of the segment", False),
    _f("other_pcm_sha256", pa.string(), "PCM hash of the other segment", False),
    _f("source_uri", pa.string(), "Source of the segment"),
    _f("other_source_uri", pa.string(), "Source of the other segment"),
    _f("corpus", pa.string(), "Corpus of the segment"),
    _f("other_corpus", pa.string(), "Corpus of the other segment"),
    _f("dup_group", pa.string(), "The group both are deduplicated in: the smallest PCM hash of its pairs", False),
)

#: What dedup has decided on: one row per segment whose verdict (an `accepted` row or a dedup reject) stands,
#: with the hash it was grouped by and a fingerprint of the segment row it saw. A segment whose row is not
#: here as it is now, and one here that is no longer among the segments, change their hash group's verdicts:
#: only those groups are decided again (pipelines.curate.run_dedup).
DEDUPED = _schema(
    "deduped",
    _f("segment_id", pa.string(), "Segment decided on", False),
    PCM_SHA256,
    _f("fingerprint", pa.int64(), "xxhash64 of the segment row dedup saw (Spark's, over every column)", False),
)

#: Every item that left the flow, with the stage and the reason. Nothing is dropped silently.
REJECTS = _schema(
    "rejects",
    _f("key", pa.string(), "item_id, recording_id or segment_id of what was rejected", False),
    CORPUS,
    SOURCE_URI,
    SPLIT,
    _f("language", pa.string(), "Language if known (our code), else as the source wrote it"),
    _f("stage", pa.string(), "Stage that rejected it (see Stage)", False),
    _f("reason", pa.string(), "Reason code (see Reason)", False),
    _f("detail", pa.string(), "Human-readable detail: the error or the failing value and its bound"),
    _f("value", pa.float64(), "The numeric value that failed a bound, when there is one"),
    SECONDS,
    META,
)

#: One WebDataset tar of a release.
SHARDS = _schema(
    "shards",
    _f("path", pa.string(), "Shard path relative to the release folder", False),
    LANGUAGE,
    CORPUS,
    SPLIT,
    _f("num_samples", pa.int64(), "Samples in the shard"),
    SECONDS,
    _f("bytes", pa.int64(), "File size in bytes"),
    _f("sha256", pa.string(), "SHA-256 of the tar file"),
)

#: One sample of a release (a row per <key>.flac/<key>.json pair in a shard).
UTTERANCES = _schema(
    "utterances",
    _f("key", pa.string(), "Sample key inside its shard (the segment_id)", False),
    _f("shard", pa.string(), "Shard path relative to the release folder", False),
    LANGUAGE,
    CORPUS,
    SPLIT,
    SECONDS,
    TEXT,
    RAW_TEXT,
    SPEAKER,
    SPEAKER_SOURCE,
    _f("source", pa.string(), "Source URI of the original audio"),
    START,
    END,
    _f("lid_language", LANGUAGE_TYPE, "Language fastText predicted from the transcript (null: not run)"),
    _f("lid_prob", pa.float32(), "Probability of lid_language"),
    _f("partner", pa.string(), "Community partner that contributed the recording (null: not community)"),
    _f("license", pa.string(), "License of the utterance's item (its own, else its source's; null: none given)"),
    *QUALITY_SIGNALS,
)

#: Hours per (language, corpus, split) of a release.
SUMMARY = _schema(
    "summary",
    LANGUAGE,
    CORPUS,
    SPLIT,
    _f("hours", pa.float64(), "Sum of utterance seconds / 3600"),
    _f("utterances", pa.int64(), "Number of utterances"),
    _f("shards", pa.int64(), "Number of shards"),
    _f("speakers", pa.int64(), "Distinct speakers"),
)

TABLES: dict[str, pa.Schema] = {
    s.metadata[b"table"].decode(): s
    for s in (SOURCE_ITEMS, RECORDINGS, INGESTED, SEGMENTS, REJECTS, SHARDS, UTTERANCES, SUMMARY)
}
