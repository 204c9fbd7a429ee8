"""Hugging Face style Parquet, including the Omnilingual ASR corpus layout
`data/<lang_Script>/<split>-NNNNN-of-NNNNN.parquet`.

Each file has an `audio` column: a struct of `bytes` / `path` (the `datasets` Audio feature), or a plain
string path. Listing reads only the non-audio columns it needs and `audio.path`; whether a row's
bytes are inline is told from the row group's null count of `audio.bytes` (only a row group that mixes
inline and absent bytes has that column read). source_uri is `row_uri(file, row)` when the bytes are
inline, else the audio path resolved against the Parquet file's folder.

A row without inline bytes whose `audio.path` is absolute or climbs out of the source folder
(`../../etc/passwd`) is a `path_outside_source` listing_error whose source_uri is the row (`row_uri`): the
path is never looked up nor opened. (With inline bytes, audio.path is only the original file name, as
`datasets` keeps it, often absolute: not checked.) A file that is not Parquet is a one-line ValueError
naming it; a column of the wrong type (a list where a string belongs) gives its rows a listing_error naming
the file, the column, the type found and the type expected.

Columns: transcript = first of raw_text, text, transcription, sentence; language = language / lang /
iso_639_3 (+ `_` + iso_15924 when present), else the folder name when it reads as a language code,
else source.language; speaker = speaker_id / speaker / client_id; split = a `split` column, else the
file name prefix (`train-00000-of-00004`, `validation-...`), else a folder name, else train.

The tree is walked once (one scandir per folder; `.git`, `.cache` and `.huggingface` folders, which hold
git and Hugging Face download state, not data, are skipped); its files that are neither Parquet, audio,
nor what a Hugging Face dataset repository ships (README, license, `.gitattributes`, dataset_info JSON)
are counted as ignored (`Listing.ignore`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from omnicorpus.corpus.files import FileIndex, walk
from omnicorpus.corpus.listing import Listing, error, is_audio_name, language_dir, normalize_split, split_from_name
from omnicorpus.corpus.text import printable
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import row_uri
from omnicorpus.manifests.schema import ListingProblem, Reason

LAYOUT = "hf_parquet"
AUDIO = "audio"
TEXT_COLUMNS = ("raw_text", "text", "transcription", "sentence")
LANGUAGE_COLUMNS = ("language", "lang", "iso_639_3")
SCRIPT_COLUMN = "iso_15924"
SPEAKER_COLUMNS = ("speaker_id", "speaker", "client_id")
ID_COLUMNS = ("id", "utt_id", "segment_id")
SPLIT_COLUMN = "split"
BATCH_ROWS = 65_536
#: Folders of a dataset repository that hold no data: git's, and Hugging Face download state.
SKIPPED_DIRS = frozenset({".git", ".cache", ".huggingface"})
#: Files a Hugging Face dataset repository ships beside its data (lowercase names).
KNOWN_FILES = frozenset({"readme.md", "readme", "readme.txt", "license", "license.txt", "license.md",
                         ".gitattributes", ".gitignore", "dataset_infos.json", "dataset_info.json"})


def parquet_files(root: Path, listing: Listing | None = None) -> list[Path]:
    """The root itself when it is a Parquet file, else every *.parquet under it (sorted). With a listing,
    the other files of the tree that are neither audio nor known repository files are counted as ignored."""
    if root.is_file():
        return [root]
    found = []
    for dirpath, dirnames, filenames in walk(str(root)):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name.endswith(".parquet"):
                if os.path.isfile(path):
                    found.append(Path(path))
            elif listing is not None and not is_audio_name(name) and name.lower() not in KNOWN_FILES:
                listing.ignore(path)
    if not found:
        raise ValueError(f"{LAYOUT}: no *.parquet file under {root}")
    return sorted(found)


def audio_kind(schema: pa.Schema) -> str | None:
    """'struct' (bytes/path), 'path' (a string column) or None when there is no usable audio column."""
    if AUDIO not in schema.names:
        return None
    typ = schema.field(AUDIO).type
    if pa.types.is_struct(typ):
        names = {typ.field(i).name for i in range(typ.num_fields)}
        return "struct" if names & {"bytes", "path"} else None
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "path"
    return None


def _is_text_type(typ: pa.DataType, integers: bool = False) -> bool:
    """A column type whose values list as strings: string / binary (any width or view), a dictionary of
    those, all-null; integers too when `integers` (ids, speaker ids)."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    return (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ)
            or pa.types.is_large_binary(typ) or pa.types.is_string_view(typ) or pa.types.is_binary_view(typ)
            or pa.types.is_null(typ) or (integers and pa.types.is_integer(typ)))


def _type_problem(path: Path, column: str, typ: pa.DataType, integers: bool = False) -> str | None:
    """`<file>: column 'text' has type list<string>, expected a string` for a column of the wrong type."""
    if _is_text_type(typ, integers):
        return None
    expected = "a string (or binary" + (", or integer" if integers else "") + ")"
    return f"{path}: column {column!r} has type {typ}, expected {expected}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def has_audio_column(path: str | os.PathLike[str]) -> bool:
    try:
        return audio_kind(pq.read_schema(path)) is not None
    except (OSError, pa.ArrowException):
        return False


def _first(names: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in names), None)


def _strings(column: pa.ChunkedArray | pa.Array, name: str, where: str) -> tuple[list[Any], dict[int, str]]:
    """Values of a text column (a type `_is_text_type` takes) as Python strings, and row -> problem for
    values that are not UTF-8."""
    problems: dict[int, str] = {}
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string_view(column.type):
        column = column.cast(pa.large_string())
    elif pa.types.is_binary_view(column.type):
        column = column.cast(pa.large_binary())
    typ = column.type
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or not _valid_utf8(column):
        raw = column.cast(pa.large_binary()) if not (pa.types.is_binary(typ) or
                                                     pa.types.is_large_binary(typ)) else column
        values: list[Any] = []
        for i, b in enumerate(raw.to_pylist()):
            if b is None:
                values.append(None)
                continue
            try:
                values.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(None)
                problems[i] = f"{where} row {i}: {name} is not valid UTF-8"
        return values, problems
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        column = column.cast(pa.string())
    return column.to_pylist(), problems


def _valid_utf8(column: pa.ChunkedArray | pa.Array) -> bool:
    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _inline_rows(pf: pq.ParquetFile, bytes_index: int | None) -> list[bool | None]:
    """Per row: True when audio.bytes is set, False when null, None when unknown (no bytes column)."""
    if bytes_index is None:
        return [False] * pf.metadata.num_rows
    out: list[bool | None] = []
    for rg in range(pf.metadata.num_row_groups):
        meta = pf.metadata.row_group(rg)
        stats = meta.column(bytes_index).statistics
        n = meta.num_rows
        if stats is not None and stats.has_null_count and stats.null_count in (0, n):
            out.extend([stats.null_count == 0] * n)
            continue
        col = pf.read_row_group(rg, columns=[f"{AUDIO}.bytes"]).column(AUDIO)
        out.extend(v is not None for v in col.combine_chunks().field("bytes").to_pylist())
    return out


def _split_for(path: Path, root: Path) -> str:
    split = split_from_name(path.stem.split("-")[0]) or split_from_name(path.stem)
    if split:
        return split
    for parent in path.parents:
        split = split_from_name(parent.name)
        if split or parent == root:
            break
    return split or "train"


def _folder_language(path: Path, root: Path) -> str | None:
    for parent in path.parents:
        lang = language_dir(parent.name)
        if lang or parent == root:
            return lang
    return None


def _batches(pf: pq.ParquetFile, columns: list[str]) -> Iterator[pa.Table]:
    """The file in batches of `columns` only; with no column wanted, empty tables of the right lengths."""
    if not columns:
        for rg in range(pf.metadata.num_row_groups):
            yield pa.table({"_": pa.nulls(pf.metadata.row_group(rg).num_rows)}).drop_columns(["_"])
        return
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False):
        yield pa.Table.from_batches([batch])


def _list_file(listing: Listing, path: Path, root: Path, files: FileIndex) -> None:
    """List one Parquet file; a one-line ValueError naming the file when it cannot be read as Parquet."""
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{LAYOUT}: {path} cannot be read as Parquet: {_one_line(exc)}") from None
    kind = audio_kind(schema)
    if kind is None:
        found = f"; its audio column has type {schema.field(AUDIO).type}" if AUDIO in schema.names else ""
        raise ValueError(f"{LAYOUT}: {path} has no audio column (expected a struct of bytes/path, or a path "
                         f"string){found}")
    try:
        _list_rows(listing, pf, path, root, files, kind)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{LAYOUT}: {path} cannot be read: {_one_line(exc)}") from None


def _list_rows(listing: Listing, pf: pq.ParquetFile, path: Path, root: Path, files: FileIndex, kind: str) -> None:
    schema = pf.schema_arrow
    names = schema.names
    text_col = _first(names, TEXT_COLUMNS)
    lang_col = _first(names, LANGUAGE_COLUMNS)
    script_col = SCRIPT_COLUMN if lang_col == "iso_639_3" and SCRIPT_COLUMN in names else None
    spk_col = _first(names, SPEAKER_COLUMNS)
    id_col = _first(names, ID_COLUMNS)
    split_col = SPLIT_COLUMN if SPLIT_COLUMN in names else None
    # a column of the wrong type (a list where a string belongs) is not read: its rows get a listing_error
    # naming the file, the column, the type found and the type expected
    bad_columns: dict[str, str] = {}
    for col, integers in ((text_col, False), (lang_col, False), (script_col, False), (spk_col, True),
                          (id_col, True), (split_col, False)):
        if col:
            type_problem = _type_problem(path, col, schema.field(col).type, integers)
            if type_problem:
                bad_columns[col] = type_problem
    wanted = [c for c in (text_col, lang_col, script_col, spk_col, id_col, split_col) if c and c not in bad_columns]
    audio_type = schema.field(AUDIO).type
    has_path = kind == "path" or audio_type.get_field_index("path") >= 0
    path_problem = None
    if has_path and kind == "struct":
        path_problem = _type_problem(path, f"{AUDIO}.path", audio_type.field("path").type)
        has_path = path_problem is None
    columns = wanted + ([f"{AUDIO}.path" if kind == "struct" else AUDIO] if has_path else [])
    column_problem = error(Reason.LISTING_ERROR, next(iter(bad_columns.values()))) if bad_columns else None
    bytes_index = None
    if kind == "struct" and audio_type.get_field_index("bytes") >= 0:
        leaves = [pf.metadata.schema.column(i).path for i in range(pf.metadata.num_columns)]
        bytes_index = leaves.index(f"{AUDIO}.bytes")
    inline = _inline_rows(pf, bytes_index)
    file_str = str(path.resolve())
    base = os.path.dirname(file_str)
    folder = os.path.dirname(os.path.abspath(path))  # as given, as the source folder is: for `Listing.outside`
    split_default = _split_for(path, root)
    lang_default = _folder_language(path, root)
    row0 = 0
    for table in _batches(pf, columns):
        n = table.num_rows
        where = f"{path} rows {row0}-{row0 + n - 1}"
        texts, text_problems = (_strings(table.column(text_col), text_col, where)
                                if text_col and text_col not in bad_columns else ([None] * n, {}))
        other: dict[str, list[Any]] = {}
        for col in (lang_col, script_col, spk_col, id_col, split_col):
            if col and col in bad_columns:
                other[col] = [None] * n
            elif col:
                values, _ = _strings(table.column(col), col, where)
                other[col] = [printable(v) if isinstance(v, str) else v for v in values]
        if has_path:
            audio = table.column(AUDIO)
            if kind == "struct":
                audio = audio.combine_chunks().field("path")
            paths, _ = _strings(audio, "audio.path", where)
        else:
            paths = [None] * n
        for i in range(n):
            row = row0 + i
            problem: ListingProblem | None = None
            audio_path = paths[i]
            meta: dict[str, Any] = {"parquet": file_str, "row": row}
            if audio_path:
                meta["audio_path"] = printable(audio_path)
            if id_col and other[id_col][i] is not None:
                meta["id"] = other[id_col][i]
            if inline[row]:
                uri = row_uri(file_str, row)
            elif audio_path:
                # the path must stay inside the dataset folder: else it is never looked up nor opened, and
                # the item stands for its row
                problem = listing.outside(folder, audio_path, f"{path} row {row} audio.path")
                if problem is not None:
                    uri = row_uri(file_str, row)
                else:
                    uri, exists = files.resolve(os.path.join(base, audio_path))
                    if not exists:
                        problem = error(Reason.MISSING_FILE, f"{uri} (audio.path of {path} row {row})")
            elif path_problem:
                uri = row_uri(file_str, row)
                problem = error(Reason.LISTING_ERROR, path_problem)
            else:
                uri = row_uri(file_str, row)
                problem = error(Reason.LISTING_ERROR, f"{path} row {row}: no audio bytes and no audio path")
            if problem is None:
                problem = column_problem
            if problem is None and i in text_problems:
                problem = error(Reason.TRANSCRIPT_NOT_UTF8,
                                f"{path} row {row}: {text_col} is not valid UTF-8")
            language = other[lang_col][i] if lang_col else None
            if language and script_col and other[script_col][i]:
                language = f"{language}_{other[script_col][i]}"
            split: str | None = split_default
            if split_col and other[split_col][i] is not None:
                split = normalize_split(other[split_col][i])
                if split is None and problem is None:
                    problem = error(Reason.LISTING_ERROR,
                                    f"{path} row {row}: unknown split {other[split_col][i]!r}")
            listing.add(uri, raw_text=texts[i], speaker_raw=other[spk_col][i] if spk_col else None,
                        split=split, language_raw=language or lang_default, listing_error=problem, meta=meta)
        row0 += n


def list_items(source: SourceConfig) -> pa.Table:
    root = Path(source.path)
    if not root.exists():
        raise ValueError(f"{LAYOUT}: source path {root} does not exist")
    root = root.absolute()
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    for path in parquet_files(root, listing):
        _list_file(listing, path, root if root.is_dir() else root.parent, files)
    return listing.table()
