"""Community submissions: `<root>/<partner>/<submission>/metadata.csv` (also `<root>/<submission>/` and the
root being one submission folder), header
`file,language,speaker,transcript,consent,consent_id,license,recording_date,partner`.

Every row is listed and validated; one listing_error per item, in this order of precedence:
  - `no_consent`: consent is `no`;
  - `path_outside_source`: file is an absolute path or climbs out of the submission folder (`..`), as
    written (the file is never opened);
  - `invalid_metadata`: a required field (file, language, speaker, consent, consent_id, license,
    partner) missing or empty, consent not yes/no, recording_date not an ISO `YYYY-MM-DD` date or in
    the future, partner not a safe identifier (it becomes a folder name: manifests.keys.check_identifier),
    file with a `..` that stays inside or resolving (through symlinks) outside the submission folder, a
    field other than the transcript not valid UTF-8 or holding a control character or line break, an
    unknown split value;
  - `missing_file`: the file does not exist in the submission folder;
  - `transcript_not_utf8`.
The transcript is optional: labelled only when it is present and not empty. A row whose file cannot
be used as a path has the metadata line as its source_uri. The item's license is the row's license
(else source.license). Zip / tar submissions are not read here. Every file under the root that is
neither audio nor a metadata.csv that was read (hidden files excepted) is counted as ignored
(listing.ignored_files).
"""

from __future__ import annotations

import datetime
import os
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pyarrow as pa

from omnicorpus.corpus.files import FileIndex, require_dir
from omnicorpus.corpus.listing import Listing, error, is_iso_date, line_uri, normalize_split
from omnicorpus.corpus.text import is_clean, printable, read_csv_rows
from omnicorpus.corpus.tree import walk_tree
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import UnsafeIdentifier, check_identifier
from omnicorpus.manifests.schema import ListingProblem, Reason

LAYOUT = "community"
METADATA = "metadata.csv"
COLUMNS = ("file", "language", "speaker", "transcript", "consent", "consent_id", "license", "recording_date",
           "partner")
REQUIRED = ("file", "language", "speaker", "consent", "consent_id", "license", "partner")
_MAX_DEPTH = 2


def submission_dirs(root: Path) -> list[Path]:
    """Folders holding a metadata.csv: the root, or folders up to two levels below it."""
    if (root / METADATA).is_file():
        return [root]
    found = []
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).parts) - base_depth
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if depth < _MAX_DEPTH else []
        if depth and METADATA in filenames:
            found.append(Path(dirpath))
            dirnames.clear()
    if not found:
        raise ValueError(f"{LAYOUT}: no {METADATA} in {root} or in <partner>/<submission>/ folders below it")
    return sorted(found)


def _outside(listing: Listing, sub: Path, value: str, where: str) -> ListingProblem | None:
    """A `path_outside_source` listing_error when a row's file, as written, is absolute or leads out of the
    submission folder (out of the source: Listing.outside; or into another submission of it)."""
    problem = listing.outside(sub, value, where)
    if problem:
        return problem
    base = os.path.normpath(os.path.abspath(sub))
    joined = os.path.normpath(os.path.join(base, value.replace("\\", "/")))
    if joined != base and not joined.startswith(base.rstrip("/") + "/"):
        return error(Reason.PATH_OUTSIDE_SOURCE, f"{where}: audio path {value!r} leads out of the submission {base}")
    return None


def _climbs(value: str) -> bool:
    return ".." in PurePosixPath(value).parts or ".." in PureWindowsPath(value).parts


def _control(value: str) -> bool:
    """True when `value` holds a control character (C0, DEL, C1) or a line / paragraph separator."""
    return not value.isprintable() and any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


def _list_submission(listing: Listing, sub: Path, files: FileIndex, today: datetime.date) -> None:
    metadata = sub / METADATA
    real_sub = os.path.realpath(sub)
    _header, rows = read_csv_rows(metadata)
    for lineno, raw_row in rows:
        where = f"{metadata} line {lineno}"
        invalid: list[str] = []
        row: dict[str, str | None] = {}
        for key, value in raw_row.items():
            value = value.strip() if key != "transcript" else value
            if not is_clean(value):
                if key != "transcript":
                    invalid.append(f"{key} is not valid UTF-8")
                value = printable(value) if key != "transcript" else value
            if key != "transcript" and _control(value):
                invalid.append(f"{key} {value!r} holds a control character or line break")
            row[key] = value or None
        missing = [c for c in REQUIRED if not row.get(c)]
        if missing:
            invalid.append(f"missing {', '.join(missing)}")
        if row.get("partner"):
            try:
                check_identifier(row["partner"], "partner")
            except UnsafeIdentifier as exc:
                invalid.append(str(exc))
        consent = (row.get("consent") or "").lower()
        if row.get("consent") and consent not in ("yes", "no"):
            invalid.append(f"consent {row['consent']!r} is not yes/no")
        date = row.get("recording_date")
        if date and not is_iso_date(date):
            invalid.append(f"recording_date {date!r} is not YYYY-MM-DD")
        elif date and datetime.date.fromisoformat(date) > today:
            invalid.append(f"recording_date {date} is in the future")
        split = "train"
        if row.get("split"):
            split = normalize_split(row["split"])  # type: ignore[assignment]
            if split is None:
                invalid.append(f"unknown split {row['split']!r}")
        file_value = row.get("file")
        uri = line_uri(metadata.absolute(), lineno)
        exists = False
        outside = _outside(listing, sub, file_value, where) if file_value else None
        if file_value and not outside:
            if _climbs(file_value):
                invalid.append(f"file {file_value!r} has a '..' component")
            else:
                uri, exists = files.resolve(os.path.join(str(sub.absolute()), file_value))
                if os.path.commonpath([real_sub, uri]) != real_sub:
                    invalid.append(f"file {file_value!r} resolves outside the submission folder")
                    uri, exists = line_uri(metadata.absolute(), lineno), False
        transcript = row.get("transcript")
        text_problem: ListingProblem | None = None
        if transcript is not None and not is_clean(transcript):
            transcript = None
            text_problem = error(Reason.TRANSCRIPT_NOT_UTF8, f"{where}: transcript is not valid UTF-8")
        problem: ListingProblem | None
        if consent == "no":
            problem = error(Reason.NO_CONSENT, f"{where}: consent is {row['consent']!r}")
        elif outside:
            problem = outside
        elif invalid:
            problem = error(Reason.INVALID_METADATA, f"{where}: {'; '.join(invalid)}")
        elif not exists:
            problem = error(Reason.MISSING_FILE, f"{uri} (listed in {where})")
        else:
            problem = text_problem
        meta: dict[str, Any] = {"submission": sub.name, "line": lineno}
        for key in ("partner", "consent_id", "consent", "recording_date", "license"):
            if row.get(key):
                meta[key] = row[key]
        listing.add(uri, raw_text=transcript, speaker_raw=row.get("speaker"), split=split,
                    language_raw=row.get("language"), license=row.get("license"), listing_error=problem,
                    meta=meta)


def list_items(source: SourceConfig) -> pa.Table:
    root = require_dir(source.path, LAYOUT).absolute()
    listing = Listing(source, LAYOUT)
    files = FileIndex()
    today = datetime.date.today()
    subs = submission_dirs(root)
    for sub in subs:
        _list_submission(listing, sub, files, today)
    walk_tree(listing, root, files, {str(sub.absolute() / METADATA) for sub in subs}, sidecars=False)
    return listing.table()
