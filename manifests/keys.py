"""Stable keys. An item keeps its id across runs as long as its corpus, its location within the source
(the path below the source's root) and its offsets do: moving a corpus to another folder changes nothing."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: An identifier that becomes a folder or file name (partner, submission): letters, digits, `.`, `_`, `-`,
#: starting with a letter or digit, at most 128 characters. So no `/`, no `..`, nothing hidden, no spaces.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class UnsafeIdentifier(ValueError):
    """An identifier that cannot become a path; the message names it and the rule, on one line."""


def check_identifier(value: object, what: str) -> str:
    """`value` when it is a safe path component (see _IDENTIFIER), else UnsafeIdentifier."""
    if not isinstance(value, str) or not _IDENTIFIER.match(value) or ".." in value:
        raise UnsafeIdentifier(f"{what} {value!r} is not a safe identifier: use letters, digits, '.', '_' and '-' "
                               "(starting with a letter or digit, at most 128 characters, no '..')")
    return value


def safe_component(value: object, what: str) -> str:
    """`value` when it can be one file or folder name as it is on any system, else ValueError naming it: a
    non-empty string without '/', '\\' or NUL, not starting with '.', without '..', at most 240 bytes. Looser than
    check_identifier: for values a release already holds (keys, language codes, corpus names) that an export
    turns into paths, which must never climb out of the export folder nor hide in it."""
    if (not isinstance(value, str) or not value or value.startswith(".") or ".." in value
            or any(c in value for c in "/\\\0") or len(value.encode()) > 240):
        raise UnsafeIdentifier(f"{what} {value!r} cannot be a path component: it must be a non-empty name without "
                               "'/', '\\', NUL or '..', not starting with '.' (at most 240 bytes)")
    return value


def item_id(corpus: str, location: str, start: float | None = None, end: float | None = None,
            channel: int | None = None) -> str:
    """Id of a source item: `<corpus>-<24 hex>`, a hash of where it is within its source (and of the channel,
    for one channel of a multi-channel file). No '.' or '/' (it becomes a WebDataset key)."""
    span = "" if start is None and end is None else f"#{start!r}-{end!r}"
    if channel is not None:
        span += f"#channel={channel}"
    digest = hashlib.sha256(f"{corpus}\0{location}{span}".encode()).hexdigest()[:24]
    return f"{_UNSAFE.sub('_', corpus)}-{digest}"


def segment_id(recording_id: str, index: int) -> str:
    """Key of the index-th segment of a recording."""
    return f"{recording_id}-{index:04d}"


def speaker_pseudonym(corpus: str, speaker: str | None, salt: str) -> str | None:
    """Salted hash of a source speaker id: stable within a deployment, unlinkable without the salt."""
    if speaker is None or speaker == "":
        return None
    return "spk-" + hashlib.sha256(f"{salt}\0{corpus}\0{speaker}".encode()).hexdigest()[:16]


def row_uri(path: str, row: int) -> str:
    """Source URI of audio stored inside row `row` of a Parquet file (Hugging Face style layouts)."""
    return f"{path}#row={row}"


def split_row_uri(uri: str) -> tuple[str, int | None]:
    """Inverse of row_uri: (path, row) or (uri, None) for a plain file."""
    path, sep, frag = uri.rpartition("#row=")
    if sep and frag.isdigit():
        return path, int(frag)
    return uri, None
