"""Great Expectations (GX 1.x) suites for every table of a release and of the stage tables.

Each suite is built from the contract in `manifests.schema`: the columns and their types come from the
table's Arrow schema (no column list is spelled here), the required columns from its non-nullable fields.
What GX cannot see in one table is computed in Python first (`prepare`) and added as *check columns*
(`CHECK_COLUMNS`, each documented), which the suites then constrain with ordinary expectations:

every table   the columns are exactly the contract's (plus its check columns); each contract column has
              its type; required columns have no nulls; the key is unique; `split` is train/dev/test;
              `language` (null: unlabelled audio of unknown language) is in the ISO 639-3 / 15924 tables
              (`language_valid`, computed with `manifests.languages.is_language`)
recordings    seconds > 0 and <= params.ingest.max_recording_seconds; seconds * 16 kHz == num_samples;
              the FLAC is in the audio store; pcm_sha256 is a SHA-256; clip fraction in [0, 1]
segments      seconds > 0 and within params.filter.[min_seconds, max_seconds]; seconds == end - start;
              labelled segments have a non-empty normalized text; lid_language valid; lid_prob in [0, 1];
              recording_id names a recording; segment_id has no '.' or '/'
utterances    as segments (text non-empty wherever raw_text is not null); the shard is listed in
              shards.parquet; split leak: a span of source audio (source, start, end) appears once, so in
              one split only (`span_splits`; the dedup stage's guarantee of one copy per PCM hash cannot be
              checked here: utterances carry no PCM hash); row count == release.json counts
shards        bytes and sha256 equal the file's on disk; every `.flac` member is 16 kHz mono (header read
              with soundfile); FLAC members == num_samples == utterances in the shard; seconds == the sum
              of its utterances' seconds; row count == release.json counts; every `.flac` member of a
              deterministic sample of shards (`decode_sample`; all of them with `full`) decodes whole
              (libFLAC checks each frame's CRC) to the frames its header announces
summary       hours == utterance seconds / 3600, utterances, shards and speakers == the counts from
              utterances and shards, per (language, corpus, split); one row per group of utterances
rejects       stage in `Stage`, reason in `Reason`; no rejected key is also an utterance; row count ==
              release.json counts

Sums agree within `TOLERANCE` (absolute: seconds, or hours for the summary).

Two narrower modes, for releases of the paper's size (`quality.scale`): with `SuiteParams.files` False the
shards' files are not read (the manifest checks alone: `omnicorpus validate --manifests-only`); with
`SuiteParams.sampled` the utterances are those of a sample of shards, so the per-shard checks hold for the
sampled shards, the summary is checked against the shards manifest (hours, utterances as the sum of
num_samples, shards) and its speakers are not checked.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import tarfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before great_expectations is imported: no usage statistics

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import soundfile as sf  # noqa: E402

from omnicorpus.manifests import storage  # noqa: E402
from omnicorpus.manifests.config import FilterParams, IngestParams  # noqa: E402
from omnicorpus.manifests.languages import UNDETERMINED, is_language  # noqa: E402
from omnicorpus.manifests.schema import (  # noqa: E402
    FINGERPRINT_BYTES,
    SAMPLE_RATE,
    SNR_RANGE_DB,
    SPLITS,
    TABLES,
    Reason,
    Stage,
)
from omnicorpus.quality.scale import utterance_sample  # noqa: E402

log = logging.getLogger(__name__)

#: The tables the gate validates: those of a release, and the stage tables under an output root.
RELEASE_TABLES = ("utterances", "shards", "summary", "rejects")
STAGE_TABLES = ("recordings", "segments")

#: Key columns of each table (unique; also how GX names the rows it reports).
KEYS: dict[str, list[str]] = {
    "recordings": ["recording_id"],
    "segments": ["segment_id"],
    "utterances": ["key"],
    "shards": ["path"],
    "summary": ["language", "corpus", "split"],
    "rejects": ["key"],
}

#: Largest absolute difference between a total and the sum it must equal (seconds; hours in summary).
TOLERANCE = 1e-6

#: Check columns `prepare` adds to each table, with what they hold.
CHECK_COLUMNS: dict[str, dict[str, str]] = {
    "recordings": {
        "language_valid": "language is und or a valid {ISO 639-3}_{ISO 15924} code",
        "samples_error": "|seconds * 16000 - num_samples|: seconds are counted at 16 kHz",
        "audio_exists": "audio_path is a file under the output root",
    },
    "segments": {
        "language_valid": "language is und or a valid {ISO 639-3}_{ISO 15924} code",
        "lid_language_valid": "lid_language is null or a valid code",
        "text_nonempty": "not labelled, or the normalized text is not null nor blank",
        "duration_error": "|end - start - seconds|",
        "recording_known": "recording_id is a recording of the recordings table",
        "flac_in_pack": "flac_pack is a file under the output root holding flac_offset + flac_bytes bytes, or null "
                        "(a segment made before schema 1.3: cut from its recording when sharded)",
    },
    "utterances": {
        "language_valid": "language is und or a valid {ISO 639-3}_{ISO 15924} code",
        "lid_language_valid": "lid_language is null or a valid code",
        "text_nonempty": "raw_text is null (unlabelled), or the normalized text is not null nor blank",
        "duration_error": "|end - start - seconds|",
        "span_splits": "distinct splits among the utterances cut from the same (source, start, end)",
        "shard_listed": "the utterance's shard is a path of shards.parquet",
    },
    "shards": {
        "language_valid": "language is und or a valid {ISO 639-3}_{ISO 15924} code",
        "bytes_on_disk": "size of the tar file (null: missing)",
        "sha256_on_disk": "SHA-256 of the tar file (null: missing)",
        "all_16k_mono": "the tar reads and every .flac member's header says 16000 Hz, 1 channel",
        "flac_members": "number of .flac members in the tar (null: unreadable)",
        "flacs_decode": "every .flac member decodes whole to the frames its header announces (null: the shard is "
                        "not in the decoded sample)",
        "utterance_count": "utterances whose shard is this one (null: not in the sample of shards read)",
        "seconds_error": "|seconds - sum of the seconds of the shard's utterances|",
    },
    "summary": {
        "language_valid": "language is und or a valid {ISO 639-3}_{ISO 15924} code",
        "hours_error": "|hours - sum of utterance seconds / 3600| of the group",
        "utterances_expected": "utterances of the group",
        "shards_expected": "shards of the group",
        "speakers_expected": "distinct speakers of the group's utterances",
    },
    "rejects": {
        "key_in_utterances": "the rejected key is also an utterance key",
    },
}

#: Arrow type of a contract column -> the type GX's expect_column_values_to_be_of_type checks (pandas).
GX_TYPES: dict[pa.DataType, str] = {
    pa.string(): "str", pa.int64(): "int64", pa.int32(): "int32", pa.float64(): "float64",
    pa.float32(): "float32", pa.bool_(): "bool",
    pa.binary(): "int64",  # a binary column (a segment's fingerprint) reaches GX as its sizes (to_frame)
}

#: Arrow type -> the pandas (nullable) dtype a column becomes: nulls never change a column's dtype.
PANDAS_TYPES: dict[pa.DataType, Any] = {
    pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.string_view(): pd.StringDtype(),
    pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int32Dtype(), pa.uint32(): pd.UInt32Dtype(),
    pa.float64(): pd.Float64Dtype(), pa.float32(): pd.Float32Dtype(), pa.bool_(): pd.BooleanDtype(),
}


@dataclass(frozen=True)
class SuiteParams:
    """What the suites check against: the stage parameters release.json records, and expected row counts."""

    # defaults: the config's (a release.json without params is checked against the paper's bounds)
    min_seconds: float = FilterParams.min_seconds
    max_seconds: float = FilterParams.max_seconds
    max_recording_seconds: float = IngestParams.max_recording_seconds
    rows: Mapping[str, int] = field(default_factory=dict)  # table -> expected rows (absent: not checked)
    files: bool = True  # read the shards' files (False: the manifests alone)
    sampled: bool = False  # the utterances are those of a sample of shards (quality.scale)

    @classmethod
    def from_release(cls, info: Mapping[str, Any], rows: Mapping[str, int] | None = None, *, files: bool = True,
                     sampled: bool = False) -> SuiteParams:
        """From release.json (`params.filter.min_seconds`, ... and `counts`); `rows` adds or overrides counts."""
        params = info.get("params") or {}
        filt, ingest = params.get("filter") or {}, params.get("ingest") or {}
        counts = info.get("counts") or {}
        expected = {t: int(counts[t]) for t in ("utterances", "shards", "rejects") if t in counts
                    and not (sampled and t == "utterances")}
        expected.update(rows or {})
        default = cls()
        return cls(
            min_seconds=float(filt.get("min_seconds", default.min_seconds)),
            max_seconds=float(filt.get("max_seconds", default.max_seconds)),
            max_recording_seconds=float(ingest.get("max_recording_seconds", default.max_recording_seconds)),
            rows=expected,
            files=files,
            sampled=sampled,
        )


#: Check columns of shards that read the shard files.
SHARD_FILE_COLUMNS = ("bytes_on_disk", "sha256_on_disk", "all_16k_mono", "flac_members", "flacs_decode")


def check_columns(table: str, params: SuiteParams) -> dict[str, str]:
    """The check columns of a table's suite under these params (the file checks left out without files)."""
    columns = CHECK_COLUMNS[table]
    if table == "shards" and not params.files:
        return {k: v for k, v in columns.items() if k not in SHARD_FILE_COLUMNS}
    return columns


# --- suites ---------------------------------------------------------------------------------------------


def _contract(table: str, params: SuiteParams) -> list[gxe.Expectation]:
    """Columns, types, required columns, key, split, language, row count: what every table shares."""
    schema = TABLES[table]
    checks = check_columns(table, params)
    out: list[gxe.Expectation] = [gxe.ExpectTableColumnsToMatchSet(
        column_set=[*schema.names, *checks], exact_match=True,
        description=f"the columns of the {table} contract (schema {schema.metadata[b'schema_version'].decode()}) "
                    f"and the check columns {', '.join(checks)}")]
    out += [gxe.ExpectColumnValuesToBeOfType(column=f.name, type_=GX_TYPES[f.type]) for f in schema]
    out += [gxe.ExpectColumnValuesToNotBeNull(column=f.name) for f in schema if not f.nullable]
    key = KEYS[table]
    out.append(gxe.ExpectColumnValuesToBeUnique(column=key[0]) if len(key) == 1
               else gxe.ExpectCompoundColumnsToBeUnique(column_list=key))
    if "split" in schema.names:
        out.append(gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)))
    for col in ("language_valid", "lid_language_valid", "text_nonempty"):
        if col in checks:
            out.append(_true(col, checks[col]))
    if table in params.rows:
        out.append(gxe.ExpectTableRowCountToEqual(
            value=params.rows[table], description=f"as many rows as release.json counts ({params.rows[table]})"))
    return out


def _true(column: str, doc: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True], description=f"{column}: {doc}")


def _small(column: str, doc: str, limit: float = TOLERANCE) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0.0, max_value=limit,
                                             description=f"{column} <= {limit:g}: {doc}")


def _positive(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0.0, strict_min=True,
                                             description=f"{column} > 0")


def _seconds_bounds(params: SuiteParams) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column="seconds", min_value=params.min_seconds, max_value=params.max_seconds,
        description=f"seconds within the filter bounds of release.json params "
                    f"[{params.min_seconds:g}, {params.max_seconds:g}]")


def _no_key_separators(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotMatchRegex(column=column, regex=r"[./]",
                                                 description=f"{column} has no '.' or '/' (a WebDataset key)")


_SHA256 = r"^[0-9a-f]{64}$"


def _span_checks(c: dict[str, str], params: SuiteParams) -> list[gxe.Expectation]:
    """What segments and utterances, spans of audio with a transcript, both satisfy."""
    return [
        _positive("seconds"), _seconds_bounds(params),
        _small("duration_error", c["duration_error"]),
        gxe.ExpectColumnValuesToBeBetween(column="lid_prob", min_value=0.0, max_value=1.0),
        *_quality_signal_ranges(),
    ]


def _quality_signal_ranges() -> list[gxe.Expectation]:
    """The ranges pipelines.audio_quality can give (null: not measured, as in releases before schema 1.8)."""
    ranges = {"snr_db": SNR_RANGE_DB, "bandwidth_hz": (0.0, 8000.0), "dc_offset": (-1.0, 1.0),
              "max_silence_seconds": (0.0, None), "speech_ratio": (0.0, 1.0)}
    return [gxe.ExpectColumnValuesToBeBetween(column=name, min_value=lo, max_value=hi)
            for name, (lo, hi) in ranges.items()]


def _specific(table: str, params: SuiteParams) -> list[gxe.Expectation]:
    c = CHECK_COLUMNS[table]
    if table == "recordings":
        return [
            _positive("seconds"),
            gxe.ExpectColumnValuesToBeBetween(
                column="seconds", max_value=params.max_recording_seconds,
                description=f"seconds <= params.ingest.max_recording_seconds ({params.max_recording_seconds:g})"),
            _small("samples_error", c["samples_error"], 1.0),
            _true("audio_exists", c["audio_exists"]),
            gxe.ExpectColumnValuesToMatchRegex(column="pcm_sha256", regex=_SHA256),
            gxe.ExpectColumnValuesToBeBetween(column="clip_fraction", min_value=0.0, max_value=1.0),
            _positive("orig_sample_rate"),
            _positive("orig_channels"),
        ]
    if table == "segments":
        return [
            *_span_checks(c, params),
            _true("recording_known", c["recording_known"]),
            _true("flac_in_pack", c["flac_in_pack"]),
            gxe.ExpectColumnValuesToMatchRegex(column="pcm_sha256", regex=_SHA256),
            _no_key_separators("segment_id"),
            gxe.ExpectColumnValuesToBeBetween(
                column="audio_fingerprint", min_value=FINGERPRINT_BYTES, max_value=FINGERPRINT_BYTES,
                description=f"audio_fingerprint is null or a signature of {FINGERPRINT_BYTES} bytes"),
        ]
    if table == "utterances":
        return [
            *_span_checks(c, params),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["source", "start", "end"],
                description="each span of source audio (source, start, end) is one utterance"),
            gxe.ExpectColumnValuesToBeBetween(
                column="span_splits", min_value=1, max_value=1,
                description=f"no split leak: {c['span_splits']} is 1"),
            _true("shard_listed", c["shard_listed"]),
            _no_key_separators("key"),
        ]
    if table == "shards":
        manifest = [
            gxe.ExpectColumnValuesToMatchRegex(column="path", regex=r"\.tar$"),
            _positive("seconds"), _positive("bytes"), _positive("num_samples"),
            gxe.ExpectColumnValuesToMatchRegex(column="sha256", regex=_SHA256),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="num_samples", column_B="utterance_count",
                ignore_row_if="either_value_is_missing" if params.sampled else "both_values_are_missing",
                description="num_samples equals the utterances in the shard"
                            + (" (the shards of the sample)" if params.sampled else "")),
            _small("seconds_error", c["seconds_error"]),
        ]
        if not params.files:
            return manifest
        return [
            *manifest,
            gxe.ExpectColumnPairValuesToBeEqual(column_A="bytes", column_B="bytes_on_disk",
                                                description="bytes equal the size of the tar on disk"),
            gxe.ExpectColumnPairValuesToBeEqual(column_A="sha256", column_B="sha256_on_disk",
                                                description="sha256 equals the SHA-256 of the tar on disk"),
            _true("all_16k_mono", c["all_16k_mono"]),
            _true("flacs_decode", c["flacs_decode"]),
            gxe.ExpectColumnPairValuesToBeEqual(column_A="num_samples", column_B="flac_members",
                                                description="num_samples equals the .flac members of the tar"),
        ]
    if table == "summary":
        return [
            _positive("hours"), _positive("utterances"), _positive("shards"),
            _small("hours_error", c["hours_error"]),
            *(gxe.ExpectColumnPairValuesToBeEqual(column_A=col, column_B=f"{col}_expected",
                                                  description=f"{col} equals the {c[f'{col}_expected']}")
              for col in ("utterances", "shards")),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="speakers", column_B="speakers_expected",
                ignore_row_if="either_value_is_missing" if params.sampled else "both_values_are_missing",
                description=f"speakers equals the {c['speakers_expected']}"
                            + (" (not checked: the utterances are a sample)" if params.sampled else "")),
        ]
    if table == "rejects":
        return [
            gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=[s.value for s in Stage]),
            gxe.ExpectColumnValuesToBeInSet(column="reason", value_set=[r.value for r in Reason]),
            gxe.ExpectColumnValuesToBeInSet(column="key_in_utterances", value_set=[False],
                                            description="an item is in utterances or in rejects, never both"),
        ]
    raise KeyError(table)


def build_suite(table: str, params: SuiteParams, *, name: str | None = None) -> gx.ExpectationSuite:
    """The expectation suite of one table (one of RELEASE_TABLES or STAGE_TABLES)."""
    if table not in CHECK_COLUMNS:
        raise KeyError(f"no suite for table {table!r}; known: {', '.join(CHECK_COLUMNS)}")
    version = TABLES[table].metadata[b"schema_version"].decode()
    return gx.ExpectationSuite(name=name or table, expectations=[*_contract(table, params), *_specific(table, params)],
                               meta={"table": table, "schema_version": version})


# --- check columns ------------------------------------------------------------------------------------


def _valid_codes(column: pl.Series) -> pl.Series:
    """True where the code is null, `und` (unlabelled audio of unknown language) or valid (is_language asked
    once per distinct code)."""
    valid = [c for c in column.drop_nulls().unique().to_list() if c == UNDETERMINED or is_language(c)]
    return column.is_null() | column.is_in(pl.Series(valid, dtype=pl.String))


def _text_nonempty(text: pl.Series, labelled: pl.Series) -> pl.Series:
    present = text.is_not_null() & (text.str.strip_chars().str.len_chars() > 0)
    return (~labelled.fill_null(True)) | present.fill_null(False)


def _duration_error(df: pl.DataFrame) -> pl.Series:
    return df.select((pl.col("end") - pl.col("start") - pl.col("seconds")).abs()).to_series()


def _lookup(df: pl.DataFrame, by: list[str], other: pl.DataFrame, on: list[str], column: str,
            fill: Any = None) -> pl.Series:
    """`other[column]` for each row of `df` (matched on df[by] == other[on], nulls equal), in df's order."""
    left = df.select(by).with_row_index("__row")
    right = other.rename(dict(zip(on, by, strict=True))).select([*by, column])
    joined = left.join(right, on=by, how="left", nulls_equal=True).sort("__row")
    series = joined.get_column(column)
    return series.fill_null(fill) if fill is not None else series


class _HashingReader(io.RawIOBase):
    """Reads a file once: what tarfile reads also goes into the SHA-256 and the byte count."""

    def __init__(self, f: Any) -> None:
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n if n >= 0 else None)  # pyarrow's streams take None for "to the end"
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


#: Shards whose every FLAC member the gate decodes: this many at least, and this fraction of all of them.
DECODE_SAMPLE_MIN = 8
DECODE_SAMPLE_FRACTION = 0.02


def decode_sample(shards: pl.DataFrame, full: bool = False) -> set[str]:
    """The paths of the shards whose members the gate decodes: all with `full`, else the first
    max(DECODE_SAMPLE_MIN, DECODE_SAMPLE_FRACTION of them) by SHA-256 (deterministic for a release, and a
    different sample for different content)."""
    paths = shards.get_column("path").to_list()
    if full:
        return {p for p in paths if p is not None}
    n = max(DECODE_SAMPLE_MIN, math.ceil(DECODE_SAMPLE_FRACTION * len(paths)))
    digests = shards.get_column("sha256").to_list() if "sha256" in shards.columns else [None] * len(paths)
    return set(utterance_sample(paths, digests, n))


def _decodes(data: bytes, frames: int) -> bool:
    try:
        decoded, _ = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except (RuntimeError, ValueError):  # LibsndfileError: a frame whose CRC fails, a truncated stream
        return False
    return bool(decoded.shape[0] == frames)


def inspect_shard(path: str | None, decode: bool = False) -> dict[str, Any]:
    """Size, SHA-256, .flac members and whether every one is 16 kHz mono, reading the tar (a local path or a
    storage URI) once; with `decode`, whether every member decodes whole."""
    out: dict[str, Any] = {"bytes_on_disk": None, "sha256_on_disk": None, "all_16k_mono": False,
                           "flac_members": None, "flacs_decode": False if decode else None}
    if path is None:
        return out
    try:
        f = storage.open_input(path)
    except OSError:
        return out
    with f:
        reader = _HashingReader(f)
        flac, ok, decodes = 0, True, True
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    if not (member.isfile() and member.name.endswith(".flac")):
                        continue
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    info = sf.info(io.BytesIO(data))
                    flac += 1
                    ok = ok and info.samplerate == SAMPLE_RATE and info.channels == 1
                    if decode and decodes and not _decodes(data, info.frames):
                        log.warning("shard %s: member %s does not decode", path, member.name)
                        decodes = False
            out["flac_members"], out["all_16k_mono"] = flac, ok and flac > 0
            if decode:
                out["flacs_decode"] = decodes and flac > 0
        except (tarfile.TarError, OSError, RuntimeError, EOFError) as exc:  # sf raises LibsndfileError (a RuntimeError)
            log.warning("shard %s: %s", path, exc)
        reader.drain()
        out["bytes_on_disk"], out["sha256_on_disk"] = reader.size, reader.sha.hexdigest()
    return out


def _shard_columns(shards: pl.DataFrame, release_dir: str, full: bool = False) -> pl.DataFrame:
    paths = shards.get_column("path").to_list()
    sample = decode_sample(shards, full)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        rows = list(pool.map(lambda p: inspect_shard(storage.join_relative(release_dir, p) if p is not None
                                                     else None, p in sample), paths))
    return pl.DataFrame(rows, schema={"bytes_on_disk": pl.Int64, "sha256_on_disk": pl.String,
                                      "all_16k_mono": pl.Boolean, "flac_members": pl.Int64,
                                      "flacs_decode": pl.Boolean})


def _flac_in_pack(df: pl.DataFrame, root: str) -> pl.Series:
    sizes: dict[str, int] = {}
    for pack in df["flac_pack"].drop_nulls().unique().to_list():
        size = storage.file_size(storage.join(root, pack))
        sizes[pack] = -1 if size is None else size
    ends = df.select(pl.col("flac_offset") + pl.col("flac_bytes")).to_series().to_list()
    return pl.Series([p is None or (e is not None and 0 < e <= sizes[p])
                      for p, e in zip(df["flac_pack"].to_list(), ends, strict=True)], dtype=pl.Boolean)


def _derive(table: str, df: pl.DataFrame, ctx: _Context) -> dict[str, pl.Series]:
    """The check columns of one table; a column whose inputs are missing is left out (its checks fail)."""
    makers: dict[str, Callable[[], pl.Series]] = {}
    if "language_valid" in CHECK_COLUMNS[table]:
        makers["language_valid"] = lambda: _valid_codes(df["language"])
    if "lid_language_valid" in CHECK_COLUMNS[table]:
        makers["lid_language_valid"] = lambda: _valid_codes(df["lid_language"])
    if "duration_error" in CHECK_COLUMNS[table]:
        makers["duration_error"] = lambda: _duration_error(df)
    empty = pl.DataFrame()
    utts = ctx.frames.get("utterances", empty)
    if table == "recordings":
        root = ctx.output_root or "."
        makers["samples_error"] = lambda: df.select(
            (pl.col("seconds") * SAMPLE_RATE - pl.col("num_samples")).abs()).to_series()
        makers["audio_exists"] = lambda: pl.Series(
            [p is not None and storage.file_size(storage.join(root, p)) is not None
             for p in df["audio_path"].to_list()], dtype=pl.Boolean)
    elif table == "segments":
        makers["text_nonempty"] = lambda: _text_nonempty(df["text"], df["labelled"])
        recordings = ctx.frames.get("recordings", empty)
        makers["recording_known"] = lambda: df["recording_id"].is_in(recordings["recording_id"])
        makers["flac_in_pack"] = lambda: _flac_in_pack(df, ctx.output_root or ".")
    elif table == "utterances":
        makers["text_nonempty"] = lambda: _text_nonempty(df["text"], df["raw_text"].is_not_null())
        makers["span_splits"] = lambda: df.select(
            pl.col("split").n_unique().over(["source", "start", "end"]).cast(pl.Int64)).to_series()
        makers["shard_listed"] = lambda: df["shard"].is_in(ctx.frames.get("shards", empty)["path"])
    elif table == "shards":
        disk = _shard_columns(df, ctx.release_dir, ctx.full) if ctx.files and "path" in df.columns else pl.DataFrame()
        for col in disk.columns:
            makers[col] = partial(disk.get_column, col)

        def per_shard(column: str) -> pl.Series:
            sums = utts.group_by("shard").agg(pl.len().cast(pl.Int64).alias("n"), pl.col("seconds").sum().alias("s"))
            counted = _lookup(df, ["path"], sums, ["shard"], column, 0)
            if ctx.sample is None:
                return counted
            # the shards outside the sample have no utterances to count: null, not 0
            return pl.select(pl.when(df["path"].is_in(sorted(ctx.sample))).then(counted)).to_series()

        makers["utterance_count"] = lambda: per_shard("n")
        makers["seconds_error"] = lambda: (df["seconds"] - per_shard("s")).abs()
    elif table == "summary":
        keys = KEYS["summary"]

        def per_group(column: str) -> pl.Series:
            if column == "shards_expected":
                groups = ctx.frames.get("shards", empty).group_by(keys).agg(pl.len().cast(pl.Int64).alias(column))
            elif ctx.sample is not None:  # the utterances are a sample: the totals come from the shards
                if column == "speakers_expected":
                    return pl.Series(column, [None] * df.height, dtype=pl.Int64)
                groups = ctx.frames.get("shards", empty).group_by(keys).agg(
                    (pl.col("seconds").sum() / 3600).alias("hours_expected"),
                    pl.col("num_samples").sum().cast(pl.Int64).alias("utterances_expected"))
            else:
                groups = utts.group_by(keys).agg(
                    (pl.col("seconds").sum() / 3600).alias("hours_expected"),
                    pl.len().cast(pl.Int64).alias("utterances_expected"),
                    pl.col("speaker").drop_nulls().n_unique().cast(pl.Int64).alias("speakers_expected"))
            return _lookup(df, keys, groups, keys, column, 0)

        makers["hours_error"] = lambda: (df["hours"] - per_group("hours_expected")).abs()
        for col in ("utterances_expected", "shards_expected", "speakers_expected"):
            makers[col] = partial(per_group, col)
    elif table == "rejects":
        makers["key_in_utterances"] = lambda: df["key"].is_in(utts["key"])
    out = {}
    for name, make in makers.items():
        try:
            out[name] = make().alias(name)
        except (pl.exceptions.PolarsError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s.%s not computed: %s", table, name, exc)
    return out


@dataclass
class _Context:
    release_dir: str  # a local path or a storage URI, as the output root
    output_root: str | None
    frames: dict[str, pl.DataFrame]
    full: bool = False  # decode every shard's members, not a sample
    files: bool = True  # read the shards' files
    sample: frozenset[str] | None = None  # the shards whose utterances were read (None: all)


def prepare(tables: Mapping[str, pa.Table], *, release_dir: str | os.PathLike[str],
            output_root: str | os.PathLike[str] | None = None,
            full: bool = False, files: bool = True, sample: frozenset[str] | None = None) -> dict[str, pa.Table]:
    """Each table as read (contract columns untouched) with its check columns appended; `full`: decode the
    members of every shard, not of a sample; `files` False: do not read the shards' files; `sample`: the
    utterances are those of these shards only (quality.scale)."""
    frames = {name: pl.DataFrame(_plain(t)) for name, t in tables.items()}
    ctx = _Context(os.fspath(release_dir), os.fspath(output_root) if output_root is not None else None, frames, full,
                   files, sample)
    out = {}
    for name, table in tables.items():
        derived = _derive(name, frames[name], ctx)
        table = _plain(table)
        for col, series in derived.items():
            table = table.append_column(col, series.to_arrow())
        out[name] = table
    return out


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns (hive partitions) as their value type."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    return table


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas frame for GX whose column dtypes mirror the Arrow types (nullable dtypes, so an int column
    with nulls stays an int column)."""
    table = _plain(table)
    for i, f in enumerate(table.schema):  # no expectation reads bytes (a fingerprint): their sizes stand for them
        if pa.types.is_binary(f.type):
            table = table.set_column(i, f.name, pc.binary_length(table.column(i)).cast(pa.int64()))
    return table.to_pandas(types_mapper=PANDAS_TYPES.get)
