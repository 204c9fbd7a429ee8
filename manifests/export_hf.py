"""Export a release as a Hugging Face dataset folder: Parquet with an `Audio` column, and its dataset card.

    OUT/README.md                                 dataset card: YAML front matter (configs, dataset_info, ...)
    OUT/data/<split>-00000-of-00002.parquet       id, audio {bytes, path}, text, raw_text, language, corpus,
    OUT/data/<split>-00001-of-00002.parquet       split, speaker, seconds, source, start, end, partner

`datasets.load_dataset("OUT")` opens it as the Hub would (the card's `configs:` name each split's files), and so
does `datasets.load_dataset("parquet", data_files=...)` on the files alone; `huggingface-cli upload` puts it on
the Hub as it is. The `datasets` package is not imported here: the files are written with pyarrow, the way
`datasets` itself writes them, and the tests read them back with `datasets`.

Decisions, each checked against `datasets` 5.2:

* `audio` is the Arrow type of `datasets.Audio` (struct of `bytes` binary and `path` string) holding the shard's
  FLAC file byte for byte (16 kHz mono 16-bit; no re-encoding, so no loss and no decoder of ours in between)
  and `<key>.flac` as its path (datasets guesses the format from the suffix). The schema metadata key
  `huggingface` holds `{"info": {"features": ...}}`, which `Features.from_arrow_schema` reads: without it the
  column would be a plain struct, with it `Audio(sampling_rate=16000)` that decodes. Every field is nullable,
  since datasets only takes a feature from the metadata when its Arrow field equals the feature's own.
* Files are named as the Hub names them (`train-00000-of-00002.parquet`), roll over at `max_file_bytes`, hold
  row groups of 100 rows (the Hub's dataset viewer and streaming readers read a row group at a time) and are
  uncompressed for the audio (FLAC is compressed already), zstd for the rest.
* The card's `dataset_info` gives each split's `num_examples` (which `load_dataset` checks) and `num_bytes` (the
  Arrow size of its rows as written; datasets records the same to within a few bytes of validity bitmaps).
  `language:` lists the ISO 639-3 part of our codes, since the Hub knows languages, not scripts; the full
  codes, `und` among them, are in the card's body. `license:` comes from the licences release.json records per
  source (`sources[].license`, lowercased: the Hub's ids are lowercase SPDX), `other` where a source has none;
  the body gives each corpus's licence and says which are unknown.
* Every utterance is exported, unlabelled ones too (`text` null): a Hugging Face dataset serves pre-training as
  well as fine-tuning, and filtering is one line for its user.

Shared with the NeMo exporter (manifests.export_nemo imports them from here): `staged_folder`, the temporary
folder beside OUT that replaces OUT only when the export is complete.

Same release, same bytes: rows in (shard, key) order within a split, fixed writer options, no timestamps.
Memory holds one row group of audio per split and one batch of utterance rows: utterances.parquet is read a
batch at a time in its (shard, key) order (`utterance_rows`), each shard tar streamed once, its SHA-256 checked
(`release_audio`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from omnicorpus.manifests.export import replace_dir
from omnicorpus.manifests.keys import safe_component
from omnicorpus.manifests.languages import UNDETERMINED, is_language, language_name, split_language
from omnicorpus.manifests.release import Release
from omnicorpus.manifests.schema import SAMPLE_RATE, SCHEMA_VERSION, SPLITS
from omnicorpus.manifests.shard_audio import ExportError, SampleAudio, release_audio, utterance_count, utterance_rows

__all__ = ["ExportError", "export_hf", "staged_folder"]

Progress = Callable[[int, int], None]

MAX_FILE_BYTES = 512 * 1024 * 1024
ROW_GROUP_ROWS = 100

# --- shared with manifests.export_nemo ------------------------------------------------------------------------


@contextmanager
def staged_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder `.tmp-<uuid>` beside `out` to write the export into; when the block ends well it
    replaces `out` (an earlier export is swapped out whole), otherwise it is removed and `out` left as it was."""
    final = Path(os.path.abspath(out))  # absolute: `.` and `x/` have a real parent to stage beside
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def split_order(split: str) -> tuple[int, str]:
    """train, dev, test first, in that order; any other split after them by name."""
    return (SPLITS.index(split), "") if split in SPLITS else (len(SPLITS), split)


def hours_by_split(samples: dict[tuple[str, str | None], int]) -> dict[str, dict[str, float]]:
    """{split: {language: hours}} of decoded samples per (split, language); an unknown language as `null`."""
    hours: dict[str, dict[str, float]] = {}
    for split, language in sorted(samples, key=lambda k: (split_order(k[0]), k[1] or "")):
        hours.setdefault(split, {})[language or "null"] = samples[(split, language)] / SAMPLE_RATE / 3600
    return hours


# --- the Parquet files ----------------------------------------------------------------------------------------

AUDIO_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])

#: (column, Arrow type, datasets dtype, what it holds); `audio` is datasets' Audio feature.
COLUMNS: tuple[tuple[str, pa.DataType, str, str], ...] = (
    ("id", pa.string(), "string", "Utterance key in the release (the sample key in its shard)"),
    ("audio", AUDIO_TYPE, "audio", "FLAC file, 16 kHz mono 16-bit, as the shard holds it; path `<id>.flac`"),
    ("text", pa.string(), "string", "Normalized transcript; null for unlabelled audio"),
    ("raw_text", pa.string(), "string", "Transcript as the source wrote it"),
    ("language", pa.string(), "string", "Language code {ISO 639-3}_{ISO 15924}, e.g. eng_Latn; `und`: unknown"),
    ("corpus", pa.string(), "string", "Corpus the utterance came from"),
    ("split", pa.string(), "string", "train, dev or test"),
    ("speaker", pa.string(), "string", "Speaker pseudonym (salted hash); null when the source names none"),
    ("speaker_source", pa.string(), "string", "The corpus's own speaker id where its licence allows; else null"),
    ("seconds", pa.float64(), "float64", "Duration in seconds (decoded samples / 16000)"),
    ("source", pa.string(), "string", "Source URI of the original audio"),
    ("start", pa.float64(), "float64", "Offset in seconds of the utterance in the source audio"),
    ("end", pa.float64(), "float64", "Offset in seconds just past the utterance in the source audio"),
    ("partner", pa.string(), "string", "Community partner that contributed the recording (null: not community)"),
)
_COPIED = ("text", "raw_text", "language", "corpus", "split", "speaker", "speaker_source", "source", "start", "end",
           "partner")


def _feature(dtype: str) -> dict[str, Any]:
    return {"sampling_rate": SAMPLE_RATE, "_type": "Audio"} if dtype == "audio" else {"dtype": dtype,
                                                                                     "_type": "Value"}


#: `Features.to_dict()` of the columns: what datasets stores under the `huggingface` schema metadata key.
FEATURES: dict[str, dict[str, Any]] = {name: _feature(dtype) for name, _, dtype, _ in COLUMNS}


def hf_schema(release: Release) -> pa.Schema:
    metadata = {
        b"huggingface": json.dumps({"info": {"features": FEATURES}}).encode(),
        b"omnicorpus_release": release.id.encode(),
        b"omnicorpus_schema_version": SCHEMA_VERSION.encode(),
    }
    return pa.schema([pa.field(name, typ) for name, typ, _, _ in COLUMNS], metadata=metadata)


def _writer_options(schema: pa.Schema) -> dict[str, Any]:
    """Fixed ParquetWriter options: FLAC stored as it is, the rest zstd; no statistics of audio bytes."""
    leaves = [name for name in schema.names if name != "audio"] + ["audio.bytes", "audio.path"]
    return {
        "compression": {leaf: ("none" if leaf == "audio.bytes" else "zstd") for leaf in leaves},
        "use_dictionary": ["language", "corpus", "split", "speaker", "partner"],
        "write_statistics": [leaf for leaf in leaves if leaf != "audio.bytes"],
        "store_schema": True,
    }


def _record(u: dict[str, Any], audio: SampleAudio) -> dict[str, Any]:
    """One row of the export: the utterance's columns and its audio."""
    return {"id": u["key"], "audio": {"bytes": audio.flac, "path": f"{u['key']}.flac"},
            "seconds": audio.seconds, **{c: u[c] for c in _COPIED}}


def _row_bytes(record: dict[str, Any]) -> int:
    """About what a row adds to its file: the FLAC and the strings (zstd makes the strings smaller still)."""
    return len(record["audio"]["bytes"]) + sum(len(v.encode()) for v in record.values() if isinstance(v, str)) + 64


class _SplitWriter:
    """The Parquet files of one split: row groups of `ROW_GROUP_ROWS`, a new file past `max_bytes`; named
    `<split>-NNNNN-of-MMMMM.parquet` on close, when MMMMM is known."""

    def __init__(self, folder: Path, split: str, schema: pa.Schema, max_bytes: int) -> None:
        self.folder, self.split, self.schema, self.max_bytes = folder, split, schema, max_bytes
        self.options = _writer_options(schema)
        self.parts: list[Path] = []
        self.pending: list[dict[str, Any]] = []
        self.pending_bytes = 0
        self.rows = 0
        self.num_bytes = 0  # the Arrow size of the rows, as datasets counts a split's num_bytes
        self._file: IO[bytes] | None = None
        self._writer: pq.ParquetWriter | None = None

    def add(self, record: dict[str, Any]) -> None:
        size = _row_bytes(record)
        written = self._file.tell() if self._file is not None else 0
        if self.pending and written + self.pending_bytes + size > self.max_bytes:
            self._flush()  # the file is full: its last row group is short
            self._close_file()
        elif self._writer is not None and written + size > self.max_bytes:
            self._close_file()
        self.pending.append(record)
        self.pending_bytes += size
        if len(self.pending) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        if self._writer is None:
            path = self.folder / f"{self.split}-{len(self.parts):05d}.partial"
            self._file = open(path, "wb")  # noqa: SIM115 (closed in _close_file)
            self._writer = pq.ParquetWriter(self._file, self.schema, **self.options)
            self.parts.append(path)
        batch = pa.Table.from_pylist(self.pending, schema=self.schema)
        self._writer.write_table(batch, row_group_size=len(self.pending))
        self.rows += batch.num_rows
        self.num_bytes += batch.nbytes
        self.pending, self.pending_bytes = [], 0

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._file.close()  # type: ignore[union-attr]
        self._writer, self._file = None, None

    def close(self) -> list[Path]:
        self._flush()
        self._close_file()
        final = [p.with_name(f"{self.split}-{i:05d}-of-{len(self.parts):05d}.parquet") for i, p in
                 enumerate(self.parts)]
        for part, name in zip(self.parts, final, strict=True):
            os.replace(part, name)
        return final


# --- the dataset card -----------------------------------------------------------------------------------------

#: The Hub's size categories (datasets/utils/resources/size_categories.json), by their upper bound.
SIZE_CATEGORIES = ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"),
                   (10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
                   (10**11, "10B<n<100B"), (10**12, "100B<n<1T"))


def size_category(rows: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if rows < bound), "n>1T")


def hub_languages(codes: Iterable[str | None]) -> list[str]:
    """The ISO 639-3 parts of our codes for the card's `language:` (`und` and unknown left out: no language)."""
    return sorted({split_language(c)[0] for c in codes if c and c != UNDETERMINED})


def corpus_licences(release: Release, corpora: Iterable[str]) -> dict[str, str | None]:
    """corpus -> its source's licence as release.json records it (`sources[].license`), None where it does not."""
    recorded = {s["name"]: s.get("license") for s in release.info.get("sources") or [] if isinstance(s, dict)}
    return {c: (str(recorded[c]) if recorded.get(c) else None) for c in sorted(set(corpora))}


def hub_licence(licences: dict[str, str | None]) -> str | list[str]:
    """The card's `license:`: the Hub's ids (lowercase SPDX) of the recorded licences, `other` for any unknown;
    one id as a string, several as a list."""
    ids = sorted({lic.lower() for lic in licences.values() if lic})
    if any(lic is None for lic in licences.values()) or not ids:
        ids.append("other")
    return ids[0] if len(ids) == 1 else ids


def _language_label(code: str | None) -> str:
    if code is None:
        return "unknown"
    if code == UNDETERMINED:
        return "undetermined (audio of unknown language)"
    return language_name(code) if is_language(code) else code


def _hours_table(hours: dict[str, dict[str, float]]) -> list[str]:
    splits = list(hours)
    languages = sorted({lang for by_lang in hours.values() for lang in by_lang})
    lines = ["| language | " + " | ".join(splits) + " | total |", "|---" * (len(splits) + 2) + "|"]
    for lang in [*languages, "total"]:
        cells = [sum(hours[s].values()) if lang == "total" else hours[s].get(lang) for s in splits]
        shown = ["-" if h is None else f"{h:,.3f}" for h in cells]  # "-": none in that split
        lines.append(f"| {lang} | " + " | ".join(shown) + f" | {sum(h or 0.0 for h in cells):,.3f} |")
    return lines


def dataset_card(release: Release, splits: dict[str, _SplitWriter], files: dict[str, list[str]],
                 languages: list[str | None], corpora: list[str], hours: dict[str, dict[str, float]],
                 download_size: int) -> str:
    """README.md: the Hub's YAML front matter (what `load_dataset` reads) and a body for people."""
    licences = corpus_licences(release, corpora)
    unknown = [c for c, lic in licences.items() if lic is None]
    rows = sum(w.rows for w in splits.values())
    meta = {
        "pretty_name": f"omnicorpus {release.id}",
        "language": hub_languages(languages),
        "license": hub_licence(licences),
        "size_categories": [size_category(rows)],
        "task_categories": ["automatic-speech-recognition"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
        "dataset_info": {
            "features": [{"name": name, "dtype": {"audio": {"sampling_rate": SAMPLE_RATE}} if dtype == "audio"
                          else dtype} for name, _, dtype, _ in COLUMNS],
            "splits": [{"name": s, "num_bytes": w.num_bytes, "num_examples": w.rows} for s, w in splits.items()],
            "download_size": download_size,
            "dataset_size": sum(w.num_bytes for w in splits.values()),
        },
    }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    total_hours = sum(h for by_lang in hours.values() for h in by_lang.values())
    body = [
        f"# omnicorpus {release.id}",
        "",
        f"Release `{release.id}` of omnicorpus (schema version {release.info.get('schema_version', SCHEMA_VERSION)},"
        f" content SHA-256 `{release.info.get('content_sha256', 'unknown')}`): {rows:,} utterances, "
        f"{total_hours:.3f} hours of 16 kHz mono speech in {len(set(languages))} language code(s), "
        f"split {', '.join(f'{s} ({w.rows:,})' for s, w in splits.items())}.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'ds = load_dataset("path/to/this/folder")  # or the Hub repository it was uploaded to',
        'ds["train"][0]["audio"]["array"]          # float samples at 16 kHz',
        "```",
        "",
        "Unlabelled audio is included with a null `text`: `ds.filter(lambda r: r[\"text\"] is not None)` keeps "
        "the transcribed utterances.",
        "",
        "## Languages",
        "",
        *[f"- `{code or 'null'}`: {_language_label(code)}" for code in sorted(set(languages), key=lambda c: c or "")],
        "",
        "## Hours per language and split",
        "",
        *_hours_table(hours),
        "",
        "## Columns",
        "",
        "| column | type | content |",
        "|---|---|---|",
        *[f"| `{name}` | {'Audio (16 kHz)' if dtype == 'audio' else dtype} | {doc} |"
          for name, _, dtype, doc in COLUMNS],
        "",
        "## Licence",
        "",
        "Each corpus under its source's licence, as the release records it:",
        "",
        *[f"- `{c}`: {f'`{lic}`' if lic else 'unknown'}" for c, lic in licences.items()],
    ]
    if unknown:
        body += ["", f"The licence of {', '.join(f'`{c}`' for c in unknown)} is unknown (`other` above): check "
                     f"the source's terms before use or redistribution."]
    body += ["", "## Files", "", *[f"- `{s}`: {', '.join(f'`{f}`' for f in names)}" for s, names in files.items()]]
    return f"---\n{front}---\n\n" + "\n".join(body) + "\n"


# --- the export -----------------------------------------------------------------------------------------------

_HF_SPLIT = re.compile(r"\w+(\.\w+)*")  # the split names datasets accepts


def _check_names(release: Release) -> None:
    """Every key and split a safe file name (they name files: `data/<split>-*`, `<key>.flac`), checked in a pass
    over the manifest before anything is written."""
    for u in utterance_rows(release, ["split"]):
        safe_component(u["key"], "key")
        split = safe_component(u["split"], "split")
        if not _HF_SPLIT.fullmatch(split):
            raise ValueError(f"split {split!r} is not a split name datasets accepts (letters, digits, '_', '.')")


def export_hf(release: Release, out: str | os.PathLike[str], *, max_file_bytes: int = MAX_FILE_BYTES,
              progress: Progress | None = None) -> dict[str, Any]:
    """Write `release` as a Hugging Face dataset folder at `out` (README.md card and data/*.parquet), replacing
    an earlier export there only once this one is complete.

    Returns `format` ("hf"), `release`, `path`, `utterances`, `files` (relative to `out`, sorted, the card
    among them), `bytes` (their total) and `hours` per split then language. Raises ExportError when a shard
    does not hold what the release says, ValueError for a key or split that cannot be a file name.
    """
    _check_names(release)
    total = utterance_count(release)
    schema = hf_schema(release)
    samples: dict[tuple[str, str | None], int] = defaultdict(int)
    languages: set[str | None] = set()
    corpora: set[str] = set()
    done = 0
    with staged_folder(out) as tmp:
        data = tmp / "data"
        data.mkdir()
        writers: dict[str, _SplitWriter] = {}  # one per split, open together: a split's rows stay in release order
        for u, audio in release_audio(release, utterance_rows(release, _COPIED)):
            split = u["split"]
            if split not in writers:
                writers[split] = _SplitWriter(data, split, schema, max_file_bytes)
            writers[split].add(_record(u, audio))
            samples[(split, u["language"])] += audio.samples
            languages.add(u["language"])
            corpora.add(u["corpus"])
            done += 1
            if progress is not None:
                progress(done, total)
        if done != total:  # release_audio checks every shard; this guards the count the card gives
            raise ExportError(f"{done} of {total} utterances were read from the shards")
        writers = {s: writers[s] for s in sorted(writers, key=split_order)}
        files = {split: [str(p.relative_to(tmp)) for p in writer.close()] for split, writer in writers.items()}
        hours = hours_by_split(samples)
        download_size = sum((tmp / f).stat().st_size for names in files.values() for f in names)
        card = dataset_card(release, writers, files, sorted(languages, key=lambda c: c or ""), sorted(corpora),
                            hours, download_size)
        (tmp / "README.md").write_bytes(card.encode("utf-8"))
        written = sorted(["README.md", *(f for names in files.values() for f in names)])
        size = sum((tmp / f).stat().st_size for f in written)
    return {
        "format": "hf",
        "release": release.id,
        "path": os.path.abspath(out),
        "utterances": total,
        "files": written,
        "bytes": size,
        "hours": hours,
    }
