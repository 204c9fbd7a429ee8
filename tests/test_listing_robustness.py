"""Listing under faults and hostile input: manifests whose audio paths lead out of the source, symlink loops
and dangling symlinks, a bare carriage return inside a Common Voice sentence, cut-off TSV rows, Parquet
columns of the wrong type. Every source here is real files on disk, written as the tools that make them write
them (Common Voice TSVs as CorporaCreator writes them with Polars, Parquet with pyarrow), and listed through
`list_source`, as a run lists them.
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from omnicorpus.corpus.listing import ignored_files
from omnicorpus.corpus.registry import list_source
from omnicorpus.manifests.config import SourceConfig
from omnicorpus.manifests.keys import row_uri
from omnicorpus.manifests.schema import problem_text

CV_COLUMNS = ("client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes", "age",
              "gender", "accents", "variant", "locale", "segment")
OUTSIDE = "path_outside_source"


def wav(path: Path, seconds: float = 0.05) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
    return path


def flac_bytes() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(160, dtype=np.float32), 16000, format="FLAC")
    return buf.getvalue()


def listed(root: Path, layout: str, **kw) -> list[dict]:
    table, used = list_source(SourceConfig(name="src", layout=layout, path=str(root), license="CC0-1.0", **kw))
    assert used == layout or layout == "auto"
    return table.to_pylist()


@pytest.fixture
def touched(monkeypatch) -> list[str]:
    """Every path the code under test stats, opens, lists or resolves (os.stat / lstat / open / scandir /
    readlink and the built-in open, which Path and os.path go through)."""
    seen: list[str] = []

    def spy(real):
        def call(path, *args, **kwargs):
            if isinstance(path, (str, bytes, os.PathLike)):
                seen.append(os.fsdecode(path))
            return real(path, *args, **kwargs)
        return call

    for module, name in ((os, "stat"), (os, "lstat"), (os, "open"), (os, "scandir"), (os, "readlink"),
                         (os, "listdir"), (builtins, "open"), (io, "open")):
        monkeypatch.setattr(module, name, spy(getattr(module, name)))
    return seen


@pytest.fixture
def secret(tmp_path) -> Path:
    """A real audio file beside the source folders, which no listing may look at."""
    return wav(tmp_path / "secret.wav")


def never_touched(touched: list[str], secret: Path) -> None:
    assert not [p for p in touched if "secret" in p], "the outside file was stat-ed, resolved or opened"


# --- audio paths out of the source: corpus manifests ---------------------------------------------------

def write_cv_tsv(path: Path, rows: list[dict[str, str]]) -> None:
    """A Common Voice TSV as CorporaCreator writes it: Polars, tab-separated, never quoted, `\\n` line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame({c: [r.get(c, "") for r in rows] for c in CV_COLUMNS}, schema=dict.fromkeys(CV_COLUMNS,
                                                                                                      pl.String))
    frame.write_csv(path, separator="\t", quote_style="never")


def cv_row(path: str, sentence: str, client: str = "c1") -> dict[str, str]:
    return {"client_id": client, "path": path, "sentence_id": "s" + path, "sentence": sentence, "up_votes": "2",
            "down_votes": "0", "age": "thirties", "gender": "female_feminine", "locale": "en"}


def test_common_voice_paths_out_of_the_source_are_rejected_unread(tmp_path, secret, touched):
    root = tmp_path / "cv"
    wav(root / "en" / "clips" / "ok.mp3")
    wav(root / "en" / "extra" / "x.mp3")
    tsv = root / "en" / "train.tsv"
    write_cv_tsv(tsv, [cv_row("ok.mp3", "fine"), cv_row("../../../secret.wav", "climbs"),
                       cv_row(str(secret), "absolute"), cv_row("..\\..\\..\\secret.wav", "windows"),
                       cv_row("../extra/x.mp3", "still inside")])
    write_cv_tsv(root / "en" / "validated.tsv", [])
    rows = {r["raw_text"]: r for r in listed(root, "common_voice")}
    never_touched(touched, secret)
    assert rows["fine"]["listing_error"] is None
    assert rows["still inside"]["listing_error"] is None  # `..` that stays inside the source is the source's own
    for lineno, text in ((3, "climbs"), (4, "absolute"), (5, "windows")):
        row = rows[text]
        assert row["listing_error"]["reason"] == OUTSIDE, row
        assert f"{tsv} line {lineno}" in row["listing_error"]["detail"]
        assert row["source_uri"] == f"{tsv.absolute()}#line={lineno}"
        assert "secret" not in row["source_uri"].rsplit("#", 1)[0]


def test_fleurs_paths_out_of_the_source_are_rejected_unread(tmp_path, secret, touched):
    root = tmp_path / "fleurs"
    wav(root / "en_us" / "audio" / "train" / "1.wav")
    tsv = root / "en_us" / "train.tsv"
    lines = [["1", "1.wav", "Hello", "hello", "h e l l o |", "800", "FEMALE"],
             ["2", "../../../../secret.wav", "Climbs", "climbs", "c |", "800", "MALE"],
             ["3", str(secret), "Absolute", "absolute", "a |", "800", "MALE"]]
    tsv.write_text("".join("\t".join(f) + "\n" for f in lines), encoding="utf-8")
    rows = {r["raw_text"]: r for r in listed(root, "fleurs")}
    never_touched(touched, secret)
    assert rows["Hello"]["listing_error"] is None
    for lineno, text in ((2, "Climbs"), (3, "Absolute")):
        assert rows[text]["listing_error"]["reason"] == OUTSIDE
        assert rows[text]["source_uri"] == f"{tsv.absolute()}#line={lineno}"


def test_folder_tables_paths_out_of_the_source_are_rejected_unread(tmp_path, secret, touched):
    # a plain TSV, a quoted CSV, JSON lines: tables that come with a corpus
    tsv_root = tmp_path / "tsv"
    wav(tsv_root / "a.wav")
    (tsv_root / "manifest.tsv").write_text(f"path\tsentence\na.wav\tfine\n../secret.wav\tclimbs\n{secret}\tabs\n",
                                           encoding="utf-8")
    csv_root = tmp_path / "csv"
    wav(csv_root / "clips" / "a.wav")
    with open(csv_root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "text"])
        w.writerows([["clips/a.wav", "fine"], ["clips/../../secret.wav", "climbs"], [str(secret), "abs"]])
    jsonl_root = tmp_path / "jsonl"
    wav(jsonl_root / "a.wav")
    (jsonl_root / "manifest.jsonl").write_text("".join(json.dumps(o) + "\n" for o in (
        {"path": "a.wav", "text": "fine"}, {"path": "../secret.wav", "text": "climbs"},
        {"path": str(secret), "text": "abs"})), encoding="utf-8")
    for root, manifest, header in ((tsv_root, "manifest.tsv", 1), (csv_root, "manifest.csv", 1),
                                   (jsonl_root, "manifest.jsonl", 0)):
        rows = {r["raw_text"]: r for r in listed(root, "folder")}
        assert rows["fine"]["listing_error"] is None, manifest
        for lineno, text in ((2 + header, "climbs"), (3 + header, "abs")):
            assert rows[text]["listing_error"]["reason"] == OUTSIDE, (manifest, rows[text])
            assert f"{root / manifest} line {lineno}" in rows[text]["listing_error"]["detail"]
            assert rows[text]["source_uri"] == f"{root / manifest}#line={lineno}"
    never_touched(touched, secret)


def test_audiofolder_metadata_and_ljspeech_paths_out_of_the_source_are_rejected_unread(tmp_path, secret, touched):
    hf = tmp_path / "audiofolder"
    wav(hf / "train" / "a.wav")
    meta = hf / "train" / "metadata.csv"
    meta.write_text(f"file_name,transcription\na.wav,fine\n../../secret.wav,climbs\n{secret},abs\n", encoding="utf-8")
    rows = {r["raw_text"]: r for r in listed(hf, "folder")}
    assert rows["fine"]["listing_error"] is None and rows["fine"]["split"] == "train"
    for lineno, text in ((3, "climbs"), (4, "abs")):
        assert rows[text]["listing_error"]["reason"] == OUTSIDE
        assert rows[text]["source_uri"] == f"{meta}#line={lineno}"

    lj = tmp_path / "ljspeech"
    wav(lj / "wavs" / "LJ001-0001.wav")
    lj_meta = lj / "metadata.csv"
    lj_meta.write_text(f"LJ001-0001|Printing|Printing\n../../secret|Climbs|Climbs\n{secret.with_suffix('')}|Abs|Abs\n",
                       encoding="utf-8")
    rows = {r["raw_text"]: r for r in listed(lj, "folder")}
    assert rows["Printing"]["listing_error"] is None
    for lineno, text in ((2, "Climbs"), (3, "Abs")):
        assert rows[text]["listing_error"]["reason"] == OUTSIDE
        assert rows[text]["source_uri"] == f"{lj_meta}#line={lineno}"
    never_touched(touched, secret)


def test_toolkit_manifests_name_files_anywhere(tmp_path, secret):
    """SpeechBrain and NeMo manifests are what the user's own tools wrote on the user's machine, with absolute
    paths: they are followed, not rejected."""
    sb = tmp_path / "speechbrain"
    sb.mkdir()
    other = wav(tmp_path / "elsewhere" / "other.wav")
    (sb / "train.csv").write_text(f"ID,duration,wav,spk_id,wrd\nu1,0.05,{secret},s1,HELLO\n", encoding="utf-8")
    (sb / "test.csv").write_text("ID,duration,wav,spk_id,wrd\nu2,0.05,$data_root/../elsewhere/other.wav,s1,BYE\n",
                                 encoding="utf-8")
    rows = {r["raw_text"]: r for r in listed(sb, "folder")}
    assert rows["HELLO"]["source_uri"] == str(secret.resolve()) and rows["HELLO"]["listing_error"] is None
    assert rows["BYE"]["source_uri"] == str(other.resolve()) and rows["BYE"]["listing_error"] is None

    sb_json = tmp_path / "speechbrain_json"
    sb_json.mkdir()
    (sb_json / "train.json").write_text(json.dumps({"u1": {"wav": str(secret), "length": 0.05, "words": "HI"}},
                                                   indent=2), encoding="utf-8")
    (row,) = listed(sb_json, "folder")
    assert row["source_uri"] == str(secret.resolve()) and row["listing_error"] is None

    nemo = tmp_path / "nemo"
    nemo.mkdir()
    (nemo / "train_manifest.json").write_text(json.dumps({"audio_filepath": str(secret), "text": "hi",
                                                          "duration": 0.05}) + "\n", encoding="utf-8")
    (row,) = listed(nemo, "folder")
    assert row["source_uri"] == str(secret.resolve()) and row["listing_error"] is None


def test_hf_parquet_audio_path_out_of_the_dataset_is_rejected_unread(tmp_path, secret, touched):
    root = tmp_path / "hf"
    wav(root / "data" / "clips" / "a.wav")
    wav(root / "data" / "clips" / "b.wav")
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    f = root / "data" / "train-00000-of-00001.parquet"
    pq.write_table(pa.table({
        "audio": pa.array([{"bytes": None, "path": "clips/a.wav"}, {"bytes": None, "path": "../../secret.wav"},
                           {"bytes": None, "path": str(secret)},
                           # inline bytes: the path is only the original file name (datasets keeps it absolute)
                           {"bytes": flac_bytes(), "path": str(secret)}], audio_type),
        "text": ["fine", "climbs", "abs", "inline"]}), f, row_group_size=2)
    plain = root / "data" / "test-00000-of-00001.parquet"
    pq.write_table(pa.table({"audio": ["clips/b.wav", "../../secret.wav"], "text": ["plain fine", "plain climbs"]}),
                   plain)
    rows = {r["raw_text"]: r for r in listed(root, "hf_parquet")}
    never_touched(touched, secret)
    resolved = str(f.resolve())
    assert rows["fine"]["listing_error"] is None
    assert rows["fine"]["source_uri"] == str((root / "data" / "clips" / "a.wav").resolve())
    for row_number, text in ((1, "climbs"), (2, "abs")):
        assert rows[text]["listing_error"]["reason"] == OUTSIDE
        assert f"row {row_number}" in rows[text]["listing_error"]["detail"]
        assert rows[text]["source_uri"] == row_uri(resolved, row_number)
    assert rows["inline"]["listing_error"] is None and rows["inline"]["source_uri"] == row_uri(resolved, 3)
    assert rows["plain fine"]["listing_error"] is None
    assert rows["plain climbs"]["listing_error"]["reason"] == OUTSIDE
    assert rows["plain climbs"]["source_uri"] == row_uri(str(plain.resolve()), 1)


# --- symlink loops, dangling symlinks, FIFOs -------------------------------------------------------------

def hostile_links(d: Path) -> None:
    """`ln -s . loop`, `ln -s .. up`, `a.wav -> b.wav -> a.wav`, a dangling `gone.wav`, a non-audio loop, a FIFO."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "loop").symlink_to(".")
    (d / "up").symlink_to("..")
    (d / "a.wav").symlink_to("b.wav")
    (d / "b.wav").symlink_to("a.wav")
    (d / "gone.wav").symlink_to("nowhere.wav")
    (d / "x.txt").symlink_to("y.txt")
    (d / "y.txt").symlink_to("x.txt")
    os.mkfifo(d / "pipe.flac")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("layout", ["folder", "longform"])
def test_symlink_loops_and_dangling_links_are_items_with_errors(tmp_path, layout):
    root = tmp_path / "src"
    wav(root / "en" / "good.wav")
    hostile_links(root / "en")
    hostile_links(root)
    wav(root / "real.wav")
    (root / "self.wav").symlink_to("self.wav")
    if layout == "folder":  # a sidecar transcript that is a loop, and one that is a FIFO: never opened
        (root / "real.txt").symlink_to("real.txt")
        wav(root / "piped.wav")
        os.mkfifo(root / "piped.txt")
    rows = {os.path.relpath(r["source_uri"], root): r for r in listed(root, layout, language="en")}
    # each audio entry once (none through `loop` or `up`), the good ones clean
    assert rows["en/good.wav"]["listing_error"] is None
    assert not [k for k in rows if k.startswith(("loop", "up", "en/loop", "en/up", ".."))]
    for prefix in ("", "en/"):
        for name in ("a.wav", "b.wav"):
            assert rows[prefix + name]["listing_error"]["reason"] == "missing_file"
            assert "symlink loop" in rows[prefix + name]["listing_error"]["detail"]
        dangling = problem_text(rows[prefix + "nowhere.wav"]["listing_error"])
        assert dangling.startswith("missing_file: ") and "dangling symlink to nowhere.wav" in dangling
        assert "not a regular file" in rows[prefix + "pipe.flac"]["listing_error"]["detail"]
    assert "symlink loop" in rows["self.wav"]["listing_error"]["detail"]
    if layout == "folder":
        assert rows["real.wav"]["listing_error"]["reason"] == "listing_error"
        assert "symlink loop" in rows["real.wav"]["listing_error"]["detail"]
        assert "not a regular file" in rows["piped.wav"]["listing_error"]["detail"]
    else:
        assert rows["real.wav"]["listing_error"] is None
    table, _ = list_source(SourceConfig(name="src", layout=layout, path=str(root), language="en"))
    ignored = ignored_files(table)  # the non-audio loops x.txt <-> y.txt, here and in en/
    assert ignored.count == 4 and sorted(ignored.examples) == ["en/x.txt", "en/y.txt", "x.txt", "y.txt"]


@pytest.mark.timeout(60)
def test_symlink_loop_in_common_voice_clips_and_librispeech_is_no_crash(tmp_path):
    cv = tmp_path / "cv"
    clips = cv / "en" / "clips"
    wav(clips / "ok.mp3")
    hostile_links(clips)
    write_cv_tsv(cv / "en" / "train.tsv", [cv_row("ok.mp3", "fine"), cv_row("a.wav", "looping"),
                                           cv_row("gone.wav", "dangling"), cv_row("loop", "a folder loop")])
    rows = {r["raw_text"]: r for r in listed(cv, "common_voice")}
    assert rows["fine"]["listing_error"] is None
    for text in ("looping", "dangling", "a folder loop"):
        assert rows[text]["listing_error"]["reason"] == "missing_file"

    ls = tmp_path / "LibriSpeech"
    chapter = ls / "train-clean-100" / "19" / "198"
    wav(chapter / "19-198-0000.flac")
    (chapter / "19-198-0001.flac").symlink_to("19-198-0001.flac")
    (chapter / "19-198-0002.flac").symlink_to("19-198-0002.flac")
    (chapter / "19-198-0002.original.txt").symlink_to("19-198-0002.original.txt")
    hostile_links(chapter)
    (chapter / "19-198.trans.txt").write_text("19-198-0000 HELLO\n19-198-0001 LOOP\n", encoding="utf-8")
    rows = {os.path.basename(r["source_uri"]): r for r in listed(ls, "librispeech")}
    assert rows["19-198-0000.flac"]["listing_error"] is None
    assert rows["19-198-0001.flac"]["listing_error"]["reason"] == "missing_file"
    assert rows["19-198-0002.flac"]["listing_error"] is not None  # its .original.txt is a loop: not opened


# --- Common Voice TSVs as Mozilla writes them --------------------------------------------------------------

def test_common_voice_bare_carriage_return_stays_in_the_sentence(tmp_path):
    root = tmp_path / "cv"
    for name in ("a.mp3", "b.mp3", "c.mp3"):
        wav(root / "en" / "clips" / name)
    write_cv_tsv(root / "en" / "train.tsv", [cv_row("a.mp3", "first\rhalf"), cv_row("b.mp3", 'he said "hi"'),
                                             cv_row("c.mp3", "ends\r")])
    write_cv_tsv(root / "en" / "validated.tsv", [])
    raw = (root / "en" / "train.tsv").read_bytes()
    assert b"first\rhalf" in raw and b'"hi"\t' in raw  # as written: no quoting, the \r raw
    rows = listed(root, "common_voice")
    assert len(rows) == 3
    by = {os.path.basename(r["source_uri"]): r for r in rows}
    assert by["a.mp3"]["raw_text"] == "first\rhalf" and by["a.mp3"]["listing_error"] is None
    assert by["b.mp3"]["raw_text"] == 'he said "hi"'
    assert by["c.mp3"]["raw_text"] == "ends\r" and by["c.mp3"]["speaker_raw"] == "c1"


def test_folder_tables_keep_a_bare_carriage_return_in_the_field(tmp_path):
    tsv_root = tmp_path / "tsv"
    for name in ("a.wav", "b.wav"):
        wav(tsv_root / name)
    pl.DataFrame({"path": ["a.wav", "b.wav"], "sentence": ["first\rhalf", "second"]}).write_csv(
        tsv_root / "manifest.tsv", separator="\t", quote_style="never")
    rows = listed(tsv_root, "folder")
    assert [(os.path.basename(r["source_uri"]), r["raw_text"]) for r in rows] == [("a.wav", "first\rhalf"),
                                                                                 ("b.wav", "second")]
    assert [json.loads(r["meta"])["line"] for r in rows] == [2, 3]
    csv_root = tmp_path / "csv"
    for name in ("a.wav", "b.wav"):
        wav(csv_root / name)
    (csv_root / "metadata.csv").write_bytes(b'file_name,text\r\na.wav,bare\rcr\r\nb.wav,"quoted\r\nbreak"\r\n')
    rows = listed(csv_root, "folder")
    assert [r["raw_text"] for r in rows] == ["bare\rcr", "quoted\r\nbreak"]
    assert all(r["listing_error"] is None for r in rows)


def test_common_voice_row_missing_fields_names_file_line_and_columns(tmp_path):
    root = tmp_path / "cv"
    for name in ("a.mp3", "cut.mp3", "wide.mp3"):
        wav(root / "en" / "clips" / name)
    tsv = root / "en" / "train.tsv"
    write_cv_tsv(tsv, [cv_row("a.mp3", "fine")])
    with open(tsv, "ab") as f:  # a download cut off mid-row, then a row with a tab inside the sentence
        f.write(b"c9\tcut.mp3\ts9\n")
        f.write(b"c9\twide.mp3\ts10\ttab\tinside\t\t2\t0\t\t\t\t\ten\t\n")
        f.write(b"c9\n")
    rows = {os.path.basename(r["source_uri"]): r for r in listed(root, "common_voice")}
    assert rows["a.mp3"]["listing_error"] is None
    cut = problem_text(rows["cut.mp3"]["listing_error"])
    assert cut.startswith("listing_error: ") and f"{tsv} line 3" in cut
    assert "sentence" in cut and "up_votes" in cut and "segment" in cut and "client_id" not in cut
    assert rows["cut.mp3"]["raw_text"] is None and not rows["cut.mp3"]["labelled"]
    wide = problem_text(rows["wide.mp3"]["listing_error"])
    assert wide.startswith("listing_error: ") and f"{tsv} line 4" in wide and "14 fields" in wide
    no_path = problem_text(rows["train.tsv#line=5"]["listing_error"])
    assert f"{tsv} line 5" in no_path and "path" in no_path


def test_fleurs_short_row_is_an_error(tmp_path):
    root = tmp_path / "fleurs"
    wav(root / "en_us" / "audio" / "train" / "1.wav")
    wav(root / "en_us" / "audio" / "train" / "2.wav")
    (root / "en_us" / "train.tsv").write_text("1\t1.wav\tHello\thello\th |\t800\tFEMALE\n2\t2.wav\n", encoding="utf-8")
    rows = {os.path.basename(r["source_uri"]): r for r in listed(root, "fleurs")}
    assert rows["1.wav"]["listing_error"] is None
    assert "line 2" in rows["2.wav"]["listing_error"]["detail"]
    assert "raw_transcription" in rows["2.wav"]["listing_error"]["detail"]


# --- Parquet of the wrong shape ---------------------------------------------------------------------------

def test_parquet_column_of_the_wrong_type_is_a_one_line_error_naming_it(tmp_path):
    root = tmp_path / "hf"
    f = root / "train-00000-of-00001.parquet"
    f.parent.mkdir(parents=True)
    audio_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    pq.write_table(pa.table({"audio": pa.array([{"bytes": flac_bytes(), "path": "a.flac"}] * 2, audio_type),
                             "text": pa.array([["two", "words"], ["x"]], pa.list_(pa.string())),
                             "speaker_id": pa.array([7, 8], pa.int64())}), f)
    rows = listed(root, "hf_parquet")
    assert len(rows) == 2
    for r in rows:
        problem = problem_text(r["listing_error"])
        assert problem.startswith("listing_error: ") and "\n" not in problem
        assert str(f) in problem and "'text'" in problem and "list<element: string>" in problem
        assert "expected a string" in problem
        assert r["raw_text"] is None
    assert [r["speaker_raw"] for r in rows] == ["7", "8"]  # integer speaker ids are fine

    bad_path = tmp_path / "hf2" / "train.parquet"
    bad_path.parent.mkdir()
    pq.write_table(pa.table({"audio": pa.array([{"bytes": None, "path": ["a.wav"]}],
                                               pa.struct([("bytes", pa.binary()), ("path", pa.list_(pa.string()))])),
                             "text": ["t"]}), bad_path)
    (row,) = listed(bad_path.parent, "hf_parquet")
    assert "'audio.path'" in row["listing_error"]["detail"]
    assert "list<element: string>" in row["listing_error"]["detail"]


def test_a_file_that_is_not_parquet_fails_the_source_in_one_line(tmp_path):
    root = tmp_path / "hf"
    root.mkdir()
    pq.write_table(pa.table({"audio": ["a.wav"], "text": ["t"]}), root / "test-00000-of-00001.parquet")
    broken = root / "train-00000-of-00001.parquet"
    broken.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(ValueError) as exc:
        listed(root, "hf_parquet")
    assert "\n" not in str(exc.value) and str(broken) in str(exc.value) and "Parquet" in str(exc.value)


# --- speed: no stat per file -------------------------------------------------------------------------------

def test_listing_a_folder_does_not_stat_each_file(tmp_path, touched):
    def calls(n: int) -> tuple[int, int]:
        root = tmp_path / f"n{n}"
        for i in range(n):
            wav(root / "sub" / f"{i}.wav", seconds=0.001)
            (root / "sub" / f"{i}.txt").write_text("words", encoding="utf-8")
        touched.clear()
        rows = listed(root, "folder", language="en")
        assert len(rows) == n and all(r["raw_text"] == "words" for r in rows)
        seen = list(touched)
        reads = [p for p in seen if p.endswith(".txt")]
        assert len(reads) == n  # each transcript opened once, nothing else stat-ed per file
        return len(seen) - len(reads), sum(1 for p in seen if os.path.basename(p) in ("sub", f"n{n}"))

    assert calls(5) == calls(60)


def test_the_source_folder_is_judged_as_given(tmp_path):
    """A source reached through a symlinked folder, or a source that is one Parquet file: paths inside it are
    not taken for paths out of it."""
    real = tmp_path / "disk" / "hf"
    wav(real / "data" / "clips" / "a.wav")
    f = real / "data" / "train-00000-of-00001.parquet"
    pq.write_table(pa.table({"audio": ["clips/a.wav", "../../../x.wav"], "text": ["inside", "out"]}), f)
    (tmp_path / "link").symlink_to(real)
    for source in (tmp_path / "link", tmp_path / "link" / "data" / f.name, f):
        rows = {r["raw_text"]: r for r in listed(source, "hf_parquet")}
        assert rows["inside"]["listing_error"] is None, source
        assert rows["inside"]["source_uri"] == str((real / "data" / "clips" / "a.wav").resolve())
        assert rows["out"]["listing_error"]["reason"] == OUTSIDE
    cv = tmp_path / "disk" / "cv"
    wav(cv / "en" / "clips" / "ok.mp3")
    write_cv_tsv(cv / "en" / "train.tsv", [cv_row("ok.mp3", "fine")])
    (tmp_path / "cvlink").symlink_to(cv)
    (row,) = listed(tmp_path / "cvlink", "common_voice")
    assert row["listing_error"] is None
