"""Text as manifests hold it: lines and their endings, strict UTF-8 with the undecodable bytes kept
(`lenient`, `is_clean`) and shown (`printable`), CSV/TSV and JSON-lines rows as the toolkits write them,
and cell values as strings.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal


def strip_eol(line: bytes) -> bytes:
    """The line without its line ending (`\\n`, `\\r\\n` or `\\r`), nothing else stripped."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def read_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without line ending) of each line of a text file; a UTF-8 BOM at
    the start of the file is dropped; empty lines are yielded too."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data:
        return
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for i, line in enumerate(lines, 1):
        yield i, line[:-1] if line.endswith(b"\r") else line


def decode(data: bytes) -> str | None:
    """Strict UTF-8, or None when the bytes are not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def split_fields(raw: bytes, sep: str = "\t") -> tuple[list[str], list[int]]:
    """Fields of a delimited line as strings, and the indices of the fields that are not valid UTF-8
    (those are decoded leniently: see `lenient`). One strict decode of the whole line when it is clean."""
    try:
        return raw.decode("utf-8").split(sep), []
    except UnicodeDecodeError:
        parts = raw.split(sep.encode())
        return [lenient(p) for p in parts], [i for i, p in enumerate(parts) if decode(p) is None]


def lenient(data: bytes) -> str:
    """UTF-8 with undecodable bytes kept as lone surrogates (see `is_clean`)."""
    return data.decode("utf-8", "surrogateescape")


def is_clean(text: str) -> bool:
    """False when `text` came from `lenient` with bytes that were not valid UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_clean_fast(text: str) -> bool:
    return text.isascii() or is_clean(text)


def printable(text: str) -> str:
    """A string safe for Arrow (valid UTF-8): undecodable bytes as `\\xNN`."""
    if text.isascii() or is_clean(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte (a JSON "\ud800" escape)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def read_csv_rows(
    path: str | os.PathLike[str], delimiter: str = ",", quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,
    skipinitialspace: bool = False,
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """(header, rows) of a delimited file with a header line, decoded leniently: a field holding bytes
    that are not UTF-8 keeps them as surrogates (test with `is_clean`). Rows are (line number, {column:
    value}); short rows have the missing columns absent; blank lines are skipped."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = lenient(data)
    # Records end at \n or \r\n only: the csv module would also end one at a bare \r (and StringIO's lines
    # would count it as a line), which splits a transcript holding one and invents a row. A bare \r is
    # swapped for a character the file does not hold while parsing, and put back in the fields.
    cr = _bare_cr_stand_in(text)
    if cr is not None:
        text = _BARE_CR.sub(cr, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting,
                        skipinitialspace=skipinitialspace)

    def restore(fields: list[str]) -> list[str]:
        return fields if cr is None else [f.replace(cr, "\r") for f in fields]

    try:
        header = [h.strip() for h in restore(next(reader))]
    except StopIteration:
        return [], iter(())

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        start = reader.line_num + 1
        for fields in reader:
            lineno, start = start, reader.line_num + 1
            if not fields or fields == [""]:
                continue
            yield lineno, dict(zip(header, restore(fields), strict=False))

    return header, rows()


_BARE_CR = re.compile(r"\r(?!\n)")


def _bare_cr_stand_in(text: str) -> str | None:
    """None when `text` has no bare CR; else a character (private use) that `text` does not contain."""
    if "\r" not in text or not _BARE_CR.search(text):
        return None
    for code in range(0xE000, 0xF900):
        if chr(code) not in text:
            return chr(code)
    raise ValueError("no stand-in character for a bare carriage return")  # 6400 distinct private-use chars


def read_jsonl_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, parse problem) of each non-blank line of a JSON-lines file, decoded
    leniently (strings may hold surrogates for bytes that are not UTF-8; test with `is_clean`)."""
    return json_objects(read_lines(path))


def json_objects(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, parse problem) of each non-blank (line number, bytes) line."""
    for lineno, raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(lenient(raw))
        except json.JSONDecodeError as exc:
            yield lineno, None, f"line {lineno} is not JSON: {exc.msg}"
            continue
        if not isinstance(obj, dict):
            yield lineno, None, f"line {lineno} is not a JSON object"
            continue
        yield lineno, obj, None


def first_key(row: Mapping[str, Any], names: Iterable[str]) -> str | None:
    """The first of `names` that is a key of `row`."""
    for name in names:
        if name in row:
            return name
    return None


def text_value(value: Any) -> str | None:
    """A manifest value as a string; None for null / empty."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text != "" else None
