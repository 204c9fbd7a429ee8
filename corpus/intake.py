"""Community intake: a partner's submission (a folder, or a zip/tar archive) checked and added to its corpus.

An archive is inspected whole before anything is extracted, and refused when any member is unsafe: an
absolute path or one that climbs out (`..`), a link or device, a member or a total over the limits, or
a compression ratio that betrays a decompression bomb. The member count is bounded before the members
are read: a zip's from its end-of-central-directory record, a tar's while its headers stream (a small
tar.gz of a million empty members stops at the limit, not after reading them all). Extraction counts
the bytes it really writes (declared sizes can lie) and happens inside a work folder next to the
destination, which is renamed into place only when the submission is complete.

The partner (from metadata.csv) and the submission id (the folder or archive name) become the
destination folder `<corpus>/<partner>/<submission>/`: both must be safe identifiers
(manifests.keys.check_identifier), else the submission is refused whole with a one-line error.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import shutil
import stat
import struct
import tarfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

import pyarrow.compute as pc

from omnicorpus.corpus.audio import AudioDecodeError, decode_audio
from omnicorpus.corpus.community import METADATA
from omnicorpus.corpus.community import list_items as list_community
from omnicorpus.corpus.pcm import audio_metrics
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import UnsafeIdentifier, check_identifier
from omnicorpus.manifests.layout import table_uri
from omnicorpus.manifests.schema import RECORDINGS, item_meta, problem_text
from omnicorpus.manifests.tables import read_table


class UnsafeSubmission(ValueError):
    """A submission refused whole; the message names the member and the rule it breaks."""


@dataclass(frozen=True)
class Limits:
    member_bytes: int = 2 << 30
    total_bytes: int = 50 << 30
    members: int = 100_000
    ratio: float = 200.0  # uncompressed / compressed, for the archive and for any member over 1 MiB


@dataclass
class IntakeReport:
    submission: str
    partner: str
    destination: Path
    rows: int
    added: int
    errors: list[str] = field(default_factory=list)  # one line per row that will not reach a shard
    duplicates: list[str] = field(default_factory=list)  # rows left out: the audio is already in the corpus


def _check_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise UnsafeSubmission(f"member {name!r} has an absolute path")
    if ".." in path.parts:
        raise UnsafeSubmission(f"member {name!r} climbs out of the submission (..)")


def _check_sizes(name: str, size: int, compressed: int | None, total: int, count: int, limits: Limits) -> None:
    if size > limits.member_bytes:
        raise UnsafeSubmission(f"member {name!r} is {size} bytes, over the limit of {limits.member_bytes}")
    if total > limits.total_bytes:
        raise UnsafeSubmission(f"the archive holds over {limits.total_bytes} bytes")
    if count > limits.members:
        raise UnsafeSubmission(f"the archive holds over {limits.members} members")
    if compressed is not None and size > 1 << 20 and size > limits.ratio * max(compressed, 1):
        raise UnsafeSubmission(f"member {name!r} expands {size / max(compressed, 1):.0f}x: a decompression bomb")


def _copy_counted(src: IO[bytes], dest: Path, name: str, declared: int, limits: Limits) -> int:
    written = 0
    with open(dest, "wb") as out:
        while block := src.read(1 << 20):
            written += len(block)
            if written > declared or written > limits.member_bytes:
                raise UnsafeSubmission(f"member {name!r} is larger than its header says ({declared} bytes)")
            out.write(block)
    return written


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int  # as the archive declares it
    compressed: int | None
    open: Callable[[], IO[bytes]]


#: End of central directory record: signature, then (at offset 10) the total number of entries (2 bytes);
#: a zip64 archive writes 0xFFFF there and the count (8 bytes, at offset 32) in its own record.
_EOCD, _EOCD64 = b"PK\x05\x06", b"PK\x06\x06"


def _zip_entry_count(archive: Path) -> int:
    """The number of entries a zip declares, read from its last 64 kB before zipfile parses the whole central
    directory (which costs memory per entry)."""
    with open(archive, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(size - (1 << 16) - 22, 0))
        tail = f.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) < at + 12:
        raise UnsafeSubmission(f"{archive.name}: no end of central directory record")
    count = int(struct.unpack_from("<H", tail, at + 10)[0])
    if count == 0xFFFF and (at64 := tail.rfind(_EOCD64, 0, at)) >= 0 and len(tail) >= at64 + 40:
        count = int(struct.unpack_from("<Q", tail, at64 + 32)[0])
    return count


def _zip_members(zf: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in zf.infolist():
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeSubmission(f"member {info.filename!r} is a link")
        members.append(_Member(info.filename, info.is_dir(), info.file_size, info.compress_size,
                               partial(zf.open, info)))
    return members


def _extract(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    f = tf.extractfile(member)
    if f is None:  # _tar_members admits only files and folders, and folders are never opened
        raise UnsafeSubmission(f"member {member.name!r} is not a file")
    return f


def _tar_members(tf: tarfile.TarFile, limits: Limits) -> list[_Member]:
    members: list[_Member] = []
    for member in tf:  # headers stream: the count is checked before the next one is read
        if len(members) >= limits.members:
            raise UnsafeSubmission(f"the archive holds over {limits.members} members")
        if member.issym() or member.islnk():
            raise UnsafeSubmission(f"member {member.name!r} is a link")
        if not (member.isfile() or member.isdir()):
            raise UnsafeSubmission(f"member {member.name!r} is a device or special file")
        members.append(_Member(member.name, member.isdir(), member.size, None,
                               partial(_extract, tf, member)))
    return members


@contextmanager
def _archive_members(archive: Path, limits: Limits) -> Iterator[list[_Member]]:
    if zipfile.is_zipfile(archive):
        if _zip_entry_count(archive) > limits.members:
            raise UnsafeSubmission(f"the archive holds over {limits.members} members")
        with zipfile.ZipFile(archive) as zf:
            yield _zip_members(zf)
        return
    try:
        tf = tarfile.open(archive, mode="r:*")  # noqa: SIM115 (closed by the with below)
    except tarfile.TarError as exc:
        raise UnsafeSubmission(f"{archive.name} is neither a folder nor a zip or tar archive: {exc}") from exc
    with tf:
        try:
            members = _tar_members(tf, limits)
        except tarfile.TarError as exc:
            raise UnsafeSubmission(f"{archive.name} is a damaged tar archive: {exc}") from exc
        yield members


def extract_archive(archive: Path, work: Path, limits: Limits = Limits()) -> None:
    """Check every member of a zip or tar archive, then extract it into `work` (which must be empty)."""
    with _archive_members(archive, limits) as members:
        total = 0
        for n, member in enumerate(members, 1):
            _check_name(member.name)
            total += member.size
            _check_sizes(member.name, member.size, member.compressed, total, n, limits)
        archive_bytes = archive.stat().st_size
        if total > 1 << 20 and total > limits.ratio * archive_bytes:
            raise UnsafeSubmission(f"the archive expands {total / archive_bytes:.0f}x: a decompression bomb")
        for member in members:
            target = work / member.name
            if member.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with member.open() as src:
                _copy_counted(src, target, member.name, member.size, limits)


def _submission_root(work: Path) -> Path:
    """The folder holding metadata.csv: the work folder itself or its single top-level folder."""
    if (work / METADATA).exists():
        return work
    tops = [p for p in work.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(tops) == 1 and (tops[0] / METADATA).exists():
        return tops[0]
    raise UnsafeSubmission(f"no {METADATA} at the top of the submission (or in its single top folder)")


def _known_hashes(output_root: Path | None) -> set[str]:
    if output_root is None:
        return set()
    recordings = read_table(table_uri(str(output_root), "recordings"), RECORDINGS)
    return set(pc.drop_null(recordings.column("pcm_sha256")).to_pylist())


def add_submission(submission: Path, community: SourceConfig, *, output_root: Path | None = None,
                   limits: Limits = Limits()) -> IntakeReport:
    """Check a submission and add it to `community` (a source of layout `community`) as
    `<path>/<partner>/<submission id>/`. Rows whose audio the corpus already holds are left out."""
    submission = Path(submission)
    if not submission.exists():
        raise FileNotFoundError(f"{submission} does not exist")
    corpus_root = Path(community.path)
    corpus_root.mkdir(parents=True, exist_ok=True)
    work = corpus_root / f".intake-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        if submission.is_dir():
            shutil.copytree(submission, work, dirs_exist_ok=True, symlinks=True)
            links = [p for p in work.rglob("*") if p.is_symlink()]
            if links:
                raise UnsafeSubmission(f"member {links[0].relative_to(work).as_posix()!r} is a link")
        else:
            extract_archive(submission, work, limits)
        root = _submission_root(work)
        sub_id = root.name if root != work else submission.name.split(".")[0]
        partners = sorted({row["partner"] for row in _metadata_rows(root) if row.get("partner")})
        if len(partners) != 1:
            raise UnsafeSubmission(f"a submission comes from one partner; {METADATA} names {partners or 'none'}")
        try:
            check_identifier(partners[0], "partner")
            check_identifier(sub_id, "submission id (the folder or archive name)")
        except UnsafeIdentifier as exc:
            raise UnsafeSubmission(str(exc)) from None
        items = list_community(dataclasses.replace(community, path=str(root))).to_pylist()
        known = _known_hashes(output_root)
        errors, duplicates, drop_lines = [], [], set()
        for item in items:
            line = _line_of(item)
            if item["listing_error"]:
                errors.append(f"line {line}: {problem_text(item['listing_error'])}")
                continue
            try:
                audio = decode_audio(Path(item["source_uri"]).read_bytes())
            except AudioDecodeError as exc:
                errors.append(f"line {line}: {exc.reason}: {exc}")
                continue
            digest = audio_metrics(audio.samples).pcm_sha256
            if digest in known:
                duplicates.append(f"line {line}: {Path(item['source_uri']).name} is already in the corpus")
                drop_lines.add(line)
            known.add(digest)
        if drop_lines:
            _rewrite_metadata(root, drop_lines)
        destination = corpus_root / partners[0] / sub_id
        # check_identifier keeps both to one path component each; this says so where it matters
        assert destination.parent.parent == corpus_root, destination
        if destination.exists():
            raise UnsafeSubmission(f"submission {sub_id!r} of {partners[0]} was added before ({destination})")
        destination.parent.mkdir(parents=True, exist_ok=True)
        root.rename(destination)
        return IntakeReport(sub_id, partners[0], destination, len(items), len(items) - len(errors) - len(duplicates),
                            errors, duplicates)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _metadata_rows(root: Path) -> list[dict[str, str]]:
    text = (root / METADATA).read_bytes().decode("utf-8", errors="replace")
    return list(csv.DictReader(io.StringIO(text)))


def _line_of(item: dict) -> int:
    return int(item_meta(item["meta"]).get("line", 0))


def _rewrite_metadata(root: Path, drop_lines: set[int]) -> None:
    """metadata.csv without the records starting on `drop_lines` (a quoted field may span lines), every
    other byte as the partner wrote it; the original is kept beside it."""
    original = (root / METADATA).read_bytes()
    (root / f"{METADATA}.original").write_bytes(original)
    text = original.decode("utf-8", errors="surrogateescape")
    physical = text.split("\n")
    reader = csv.reader(io.StringIO(text, newline=""))
    drop: set[int] = set()
    start = 1
    for _ in reader:
        end = reader.line_num
        if start in drop_lines:
            drop.update(range(start, end + 1))
        start = end + 1
    kept = [line for n, line in enumerate(physical, 1) if n not in drop]
    (root / METADATA).write_bytes("\n".join(kept).encode("utf-8", errors="surrogateescape"))
