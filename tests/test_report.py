"""The HTML release report: its sections and numbers, offline and escaped, the diff against a parent, and the
page as a person sees it in headless Chromium (the DOM after the script ran, and a screenshot)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnicorpus.manifests.release import open_release, summarize
from omnicorpus.manifests.schema import SPLITS, SUMMARY, UTTERANCES
from omnicorpus.manifests.tables import conform, to_parquet_bytes
from omnicorpus.model.sampling import Betas, sampling_plan
from omnicorpus.quality.report import SECTIONS, write_report

SECTION_IDS = [sid for sid, _ in SECTIONS]
PAYLOAD = "<script>alert(1)</script>"


# ------------------------------------------------------------------------------------------------ helpers

class _Page(HTMLParser):
    """Sections (id -> whether an <h2> opens it) and tables (id -> header labels, body rows of (text, data-v))."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, bool] = {}
        self.tables: dict[str, dict] = {}
        self.svgs = 0
        self.shapes = 0
        self._section: str | None = None
        self._table: dict | None = None
        self._part = ""
        self._row: list | None = None
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "id" in a:
            self._section = a["id"]
            self.sections[a["id"]] = False
        elif tag == "h2" and self._section is not None:
            self.sections[self._section] = True
        elif tag == "table":
            self._table = {"head": [], "rows": [], "attrs": a}
            self.tables[a.get("id", f"table-{len(self.tables)}")] = self._table
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ["", a.get("data-v")]
        elif tag == "svg":
            self.svgs += 1
        elif tag in ("rect", "path", "circle"):
            self.shapes += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append((self._cell[0].strip(), self._cell[1]))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._part == "thead":
                self._table["head"] = [t for t, _ in self._row]
            elif self._part == "tbody":
                self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def column(table: dict, label: str) -> list[tuple[str, str | None]]:
    i = table["head"].index(label)
    return [row[i] for row in table["rows"]]


def section(text: str, sid: str) -> str:
    start = text.index(f'<section id="{sid}">')
    return text[start:text.index("</section>", start)]


def assert_offline(text: str) -> None:
    lowered = text.lower()
    for needle in ("http://", "https://", "//cdn", "src=\"//", "url(", "@import", "<link", "<iframe", "<img"):
        assert needle not in lowered, f"external reference {needle!r} in the report"
    assert not re.search(r"""\b(?:src|href)\s*=\s*(?!["']?#)""", text), "only in-page links (#...) are allowed"


def copy_release(release_dir: Path, root: Path, release_id: str = "v0001") -> Path:
    """A copy of a release folder as `root/releases/<id>` (its shards are not needed by the report)."""
    dest = root / "releases" / release_id
    shutil.copytree(release_dir, dest)
    return dest


def rewrite_utterances(release_dir: Path, utterances: pa.Table) -> None:
    """Replace a release's utterances and its summary (kept consistent with them)."""
    release = open_release(release_dir)
    utterances = conform(utterances, UTTERANCES)
    (release_dir / "utterances.parquet").write_bytes(to_parquet_bytes(utterances, UTTERANCES))
    summary = summarize(utterances, release.table("shards"))
    (release_dir / "summary.parquet").write_bytes(to_parquet_bytes(summary, SUMMARY))


@pytest.fixture(scope="module")
def release(pipeline_run):
    return pipeline_run[1].release


@pytest.fixture(scope="module")
def rendered(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    # the form of quality.gate.Verdict.as_dict()
    results = [{"table": "summary", "expectation": "expect_column_sum_to_be_between", "column": "hours",
                "success": True, "detail": "", "description": ""},
               {"table": "utterances", "expectation": "expect_column_values_to_be_in_set", "column": "lid_language",
                "success": False, "detail": "0.62 < 0.8", "description": ""}]
    verdict = {"release": release.id, "passed": False, "checks": 2, "failed": 1, "data_docs": None,
               "seconds": 1.0, "tables": {}, "failures": results[1:], "results": results}
    path = write_report(release.path, out, verdict=verdict)
    return path, path.read_text("utf-8")


# ------------------------------------------------------------------------------------------------ content

def test_every_section_is_there_with_a_heading(rendered):
    path, text = rendered
    page = parse(text)
    assert list(page.sections) == SECTION_IDS
    assert all(page.sections.values()), "each section opens with an <h2>"
    assert text.startswith("<!DOCTYPE html>")
    assert path.name == "report.html" and not list(path.parent.glob(".report-*")), "no temp file left behind"


def test_the_overview_shows_the_release_and_the_verdict(rendered, release):
    overview = section(rendered[1], "overview")
    info = release.info
    for value in (info["id"], info["created"], info["config_hash"], f"{info['counts']['utterances']:,}",
                  f"{info['counts']['shards']:,}", f"{info['counts']['rejects']:,}"):
        assert str(value) in overview
    assert "failed" in overview and "0.62 &lt; 0.8" in overview
    assert "utterances.lid_language: expect_column_values_to_be_in_set" in overview
    assert "1 of 2 checks passed" in overview
    assert "release.json counts" not in overview, "release.json agrees with the manifests"


def test_the_hours_table_has_one_row_per_language_and_corpus_and_agrees_with_the_summary(rendered, release):
    page = parse(rendered[1])
    table = page.tables["hours-table"]
    summary = pl.from_arrow(release.table("summary")).with_columns(pl.col("language").fill_null("und"))
    pairs = summary.select("language", "corpus").unique()
    assert len(table["rows"]) == pairs.height
    got = {(lang, corpus) for (lang, _), (corpus, _) in zip(column(table, "Language"), column(table, "Corpus"),
                                                           strict=True)}
    assert got == set(pairs.iter_rows())
    expected = {(lang, corpus, split): (hours, n) for lang, corpus, split, hours, n in
                summary.select("language", "corpus", "split", "hours", "utterances").iter_rows()}
    keys = list(zip([v for v, _ in column(table, "Language")], [v for v, _ in column(table, "Corpus")], strict=True))
    for split in SPLITS:
        for key, (_, v) in zip(keys, column(table, f"{split.capitalize()} h"), strict=True):
            assert float(v) == pytest.approx(expected.get((*key, split), (0.0, 0))[0], rel=1e-9, abs=1e-12)
    for key, (_, v) in zip(keys, column(table, "Utterances"), strict=True):
        assert int(v) == sum(n for (lang, corpus, _), (_, n) in expected.items() if (lang, corpus) == key)
    total = sum(float(v) for _, v in column(table, "Total h"))
    assert total == pytest.approx(release.info["counts"]["hours"], abs=1e-5)


def test_the_charts_are_inline_svg(rendered):
    page = parse(rendered[1])
    assert page.svgs >= 7 and page.shapes > 100
    for sid in ("hours", "long-tail", "durations", "rejects", "splits", "sampling"):
        assert "<svg" in section(rendered[1], sid), sid
    durations = section(rendered[1], "durations")
    assert "max 50 s" in durations and "max 100 chars/s" in durations


def test_rejects_lid_speakers_and_sampling_tables(rendered, release):
    page = parse(rendered[1])
    rejects = pl.from_arrow(release.table("rejects"))
    table = page.tables["rejects-table"]
    assert sum(int(v) for _, v in column(table, "Count")) == rejects.height
    assert {r for r, _ in column(table, "Reason")} == set(rejects["reason"].to_list())
    lid = page.tables["lid-table"]
    assert lid["rows"] and all(v == "" or 0.0 <= float(v) <= 1.0 for _, v in column(lid, "Agreement"))
    assert page.tables["speakers-table"]["rows"]
    sampling = page.tables["sampling-table"]
    assert len(sampling["head"]) == 3 + 4, "language, name, train hours, then one column per beta pair"
    natural = [float(v) for _, v in column(sampling, "Train h")]
    same = [float(v) for _, v in column(sampling, "βc=1, βl=1 h")]
    assert same == pytest.approx(natural), "beta (1, 1) keeps the natural hours"
    uniform = [float(v) for _, v in column(sampling, "βc=0, βl=0 h")]
    assert sum(uniform) == pytest.approx(sum(natural)), "an epoch holds as many hours as the train split"
    assert max(u / n for u, n in zip(uniform, natural, strict=True)) > 1.0, "some languages are upsampled"
    plan = (sampling_plan(pl.from_arrow(release.table("utterances")), Betas(0.5, 0.25))
            .group_by("language").agg(pl.col("epoch_hours").sum()))
    expected = dict(plan.iter_rows())
    got = {lang: float(v) for (lang, _), (_, v) in zip(column(sampling, "Language"),
                                                      column(sampling, "βc=0.5, βl=0.25 h"), strict=True)}
    assert got == pytest.approx(expected), "the hours model.sampling plans"


def test_a_verdict_object_is_read_through_as_dict(release, tmp_path):
    class Verdict:  # stands in for quality.gate.Verdict
        def as_dict(self):
            return {"passed": True, "checks": 7, "failed": 0, "failures": [], "results": [
                {"table": "utterances", "expectation": "expect_column_values_to_not_be_null", "column": "key",
                 "success": True, "detail": ""}] * 7}

    overview = section(write_report(release.path, tmp_path / "r.html", verdict=Verdict()).read_text(), "overview")
    assert "passed" in overview and "7 of 7 checks passed" in overview


def test_a_first_release_says_it_has_no_parent(rendered):
    assert "no parent" in section(rendered[1], "diff").lower()


def test_the_report_is_offline_and_self_contained(rendered):
    assert_offline(rendered[1])
    assert "Content-Security-Policy" in rendered[1] and "default-src 'none'" in rendered[1]


def test_the_same_release_gives_the_same_bytes_and_the_default_place(release, tmp_path):
    copy = copy_release(release.path, tmp_path / "out")
    first = write_report(copy)
    assert first == tmp_path / "out" / "quality" / "v0001" / "report.html"
    data = first.read_bytes()
    again = write_report(copy)
    assert again.read_bytes() == data


def test_strings_from_the_data_are_escaped(release, tmp_path):
    copy = copy_release(release.path, tmp_path / "out")
    utts = pq.read_table(copy / "utterances.parquet").to_pylist()
    i = next(i for i, u in enumerate(utts) if u["text"] and u["language"] and u["language"] != "eng_Latn")
    # the text shows among the LID disagreements, the corpus name in every table
    utts[i].update(text=PAYLOAD, lid_language="eng_Latn", lid_prob=0.99, corpus='cv"><b onmouseover=alert(2)>')
    rewrite_utterances(copy, pa.Table.from_pylist(utts, schema=UTTERANCES))
    text = write_report(copy, tmp_path / "report.html").read_text("utf-8")
    assert PAYLOAD not in text and "<b onmouseover" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, "the text is shown, escaped"
    assert "cv&quot;&gt;&lt;b onmouseover=alert(2)&gt;" in text
    assert text.count("<script") == 1, "only the report's own script"
    page = parse(text)
    assert 'cv"><b onmouseover=alert(2)>' in {c for c, _ in column(page.tables["hours-table"], "Corpus")}


# ------------------------------------------------------------------------------------------------ diff

def test_a_child_release_shows_what_changed_since_its_parent(release, tmp_path):
    root = tmp_path / "out"
    parent = copy_release(release.path, root, "v0001")
    child = copy_release(release.path, root, "v0002")
    utts = pl.from_arrow(open_release(parent).table("utterances"))
    dropped = utts.group_by("language").len().drop_nulls("language").sort(["len", "language"])["language"][0]
    rewrite_utterances(child, utts.filter((pl.col("language") != dropped) | pl.col("language").is_null()).to_arrow())
    info = json.loads((child / "release.json").read_text())
    kept = pl.from_arrow(open_release(child).table("utterances"))
    info.update(id="v0002", parent="v0001")
    info["counts"].update(utterances=kept.height, hours=round(kept["seconds"].sum() / 3600, 6),
                          languages=kept.filter(pl.col("language") != "und")["language"].n_unique())
    (child / "release.json").write_text(json.dumps(info, indent=2, sort_keys=True))

    text = write_report(child).read_text("utf-8")
    diff = section(text, "diff")
    assert "v0001" in diff and "no parent" not in diff.lower()
    removed = diff[diff.index("Languages removed"):diff.index("Corpora added")]
    assert dropped in removed
    rows = {row[0][0]: row for row in parse(diff).tables["diff-table"]["rows"]}
    assert rows[dropped][2][0] == "removed"
    before = utts.filter(pl.col("language") == dropped)["seconds"].sum() / 3600
    assert float(rows[dropped][3][1]) == pytest.approx(before)
    assert rows[dropped][4][1] == ""
    assert float(rows[dropped][5][1]) == pytest.approx(-before)
    assert {row[2][0] for code, row in rows.items() if code != dropped} == {"same"}
    assert dropped not in {c for c, _ in column(parse(text).tables["hours-table"], "Language")}
    counts = {row[0][0]: row for row in parse(diff).tables["diff-counts"]["rows"]}
    assert int(counts["Utterances"][3][1]) == kept.height - utts.height < 0
    assert int(counts["Languages"][3][1]) == -1
    assert "release.json counts" not in section(text, "overview"), "the counts agree with the manifests"
    assert_offline(text)


# ------------------------------------------------------------------------------------------------ in a browser

def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian's chromium is not installed: run `make setup` (it installs the system packages the "
                    "tests need), or `apt-get install -y chromium`", pytrace=False)
    return exe


def run_chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_the_page_in_headless_chromium(rendered, tmp_path):
    path, text = rendered
    dom = run_chromium(path, tmp_path / "profile", "--dump-dom").stdout
    page = parse(dom)
    assert list(page.sections) == SECTION_IDS
    expected_rows = len(parse(text).tables["hours-table"]["rows"])
    hours = page.tables["hours-table"]
    assert len(hours["rows"]) == expected_rows
    assert dom.count("<tr") >= expected_rows + 2
    sortable = [t for t in page.tables.values() if "sortable" in (t["attrs"].get("class") or "")]
    assert sortable and all(t["attrs"].get("data-sortable") == "ready" for t in sortable), "the script ran"
    assert page.svgs >= 7 and page.shapes > 100
    for shape in ("<rect", "<path", "<circle"):
        assert shape in dom

    shot = tmp_path / "report.png"
    run_chromium(path, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,4000",
                 "--hide-scrollbars")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, "the screenshot shows a page, not a blank one"
    assert_offline(text)


def test_clicking_a_header_sorts_the_table(rendered, tmp_path):
    """Clicks the 'Total h' header once (ascending), and once more on a second copy (descending)."""
    path, text = rendered
    for clicks, descending in ((1, False), (2, True)):
        click = ("<script>var th = document.querySelectorAll('#hours-table thead th')[6];"
                 + "th.click();" * clicks + "</script></body>")
        page_file = tmp_path / f"clicked-{clicks}.html"
        page_file.write_text(text.replace("</body>", click), "utf-8")
        dom = run_chromium(page_file, tmp_path / f"profile-{clicks}", "--dump-dom").stdout
        table = parse(dom).tables["hours-table"]
        assert table["head"][6].startswith("Total h")
        totals = [float(v) for _, v in column(table, table["head"][6])]
        assert totals == sorted(totals, reverse=descending)
        assert (' aria-sort="descending"' if descending else ' aria-sort="ascending"') in dom
