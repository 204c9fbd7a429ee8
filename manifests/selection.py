"""Curated training manifests: a subset of a release that references its shards, rebuilt from its query.

    omnicorpus select RELEASE OUT --languages eng_Latn,hin_Deva --splits train,dev --max-hours-per-language 10

OUT is a folder shaped like a release (release.json, utterances.parquet, shards.parquet, summary.parquet,
rejects.parquet), so everything that takes a release takes it unchanged: `omnicorpus plan`, `train`, `report`,
`export`. No audio is copied: its shard paths point at the parent release's shards (relative to OUT, so an
output root moved whole with its selections keeps working); a sample of a shard that the selection left out is
never read, since readers pick members by key.

Decisions:

* release.json says `kind: "selection"`, its `parent` (id, folder, content digest) and its `query`, so
  `omnicorpus select PARENT OUT` with the same query rebuilds it byte for byte; `left_out` counts what the
  query dropped, by the rule that dropped it (an utterance is counted under the first rule it fails, in the
  order languages, corpora, splits, seconds, licences, hours cap). Left-out utterances are no rejects: they stay
  in the parent; `rejects.parquet` holds the parent's rejects of the selected corpora and languages, so the
  report of a selection still says what curation removed from what it holds.
* `--max-hours-per-language H` caps each (language, split) at H hours, so that a cap for training does not
  empty dev and test. Picked deterministically and spread over speakers: speakers take turns (round robin,
  each speaker's utterances in key order, speakers in name order), utterances taken in that order while the
  running total stays within the cap. An utterance without a speaker counts as a speaker of its own.
* `--licences` keeps utterances whose own licence (a community row's) or else their source's is one of those
  given; it needs the release to record each source's licence (release.json `sources[].license`, written
  by every run since schema 1.5); a release without them cannot be restricted by licence, and says so.
* The selection's id is `sel-` and the first 12 hex digits of its content digest: two selections of the same
  parent by the same query are the same selection.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from omnicorpus.manifests import storage
from omnicorpus.manifests.export import replace_dir
from omnicorpus.manifests.languages import UNDETERMINED
from omnicorpus.manifests.licences import licence_ledger, utterance_parts
from omnicorpus.manifests.release import RELEASE_FILES, Release, open_release, summarize, write_release_folder
from omnicorpus.manifests.schema import REJECTS, SCHEMA_VERSION, SHARDS, SPLITS, SUMMARY, UTTERANCES
from omnicorpus.manifests.tables import conform, to_parquet_bytes

KIND = "selection"


@dataclass(frozen=True)
class SelectionQuery:
    """What a selection keeps; None (or empty) keeps everything for that rule."""

    languages: tuple[str, ...] = ()
    corpora: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    licences: tuple[str, ...] = ()
    min_seconds: float | None = None
    max_seconds: float | None = None
    max_hours_per_language: float | None = None

    def __post_init__(self) -> None:
        unknown = set(self.splits) - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown split(s) {', '.join(sorted(unknown))}; splits are {', '.join(SPLITS)}")
        for name in ("min_seconds", "max_seconds", "max_hours_per_language"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value}")
        if self.min_seconds is not None and self.max_seconds is not None and self.min_seconds > self.max_seconds:
            raise ValueError(f"min_seconds {self.min_seconds} is above max_seconds {self.max_seconds}")

    def as_dict(self) -> dict[str, Any]:
        return {k: (sorted(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def source_licences(release: Release) -> dict[str, str | None]:
    """corpus -> licence as release.json records it (None where the release does not say)."""
    return {s["name"]: s.get("license") for s in release.info.get("sources") or [] if isinstance(s, dict)}


def _rules(query: SelectionQuery, release: Release, corpora: list[str]) -> list[tuple[str, pl.Expr]]:
    """(rule, what it keeps) in the order a left-out utterance is counted."""
    rules: list[tuple[str, pl.Expr]] = []
    if query.languages:
        rules.append(("language", pl.col("language").is_in(list(query.languages))))
    if query.corpora:
        rules.append(("corpus", pl.col("corpus").is_in(list(query.corpora))))
    if query.splits:
        rules.append(("split", pl.col("split").is_in(list(query.splits))))
    if query.min_seconds is not None:
        rules.append(("min_seconds", pl.col("seconds") >= query.min_seconds))
    if query.max_seconds is not None:
        rules.append(("max_seconds", pl.col("seconds") <= query.max_seconds))
    if query.licences:
        recorded = {s["name"]: s for s in release.info.get("sources") or [] if isinstance(s, dict)}
        unknown = sorted(c for c in corpora if "license" not in recorded.get(c, {}))
        if unknown:  # a release from before licences were recorded (schema < 1.5), not a source without one
            raise ValueError(f"release {release.id} records no licence for corpus {', '.join(unknown)}: it cannot "
                             f"be restricted by licence (rebuild it with a current omnicorpus, or drop --licences)")
        known = source_licences(release)
        # an utterance's own licence (a community recording's row), else its source's; none: left out
        licence = pl.coalesce(pl.col("license"), pl.col("corpus").replace_strict(known, default=None,
                                                                                  return_dtype=pl.String))
        rules.append(("licence", licence.is_in(list(query.licences)).fill_null(False)))
    return rules


def _cap(utts: pl.DataFrame, hours: float) -> pl.DataFrame:
    """Each (language, split) within `hours`, speakers taking turns (see the module doc)."""
    speaker = pl.coalesce(pl.col("speaker"), pl.lit("\x00") + pl.col("key"))
    ordered = (utts.with_columns(speaker.alias("_speaker"))
               .sort(["language", "split", "_speaker", "key"], nulls_last=True)
               .with_columns(pl.int_range(pl.len()).over(["language", "split", "_speaker"]).alias("_turn"))
               .sort(["language", "split", "_turn", "_speaker", "key"], nulls_last=True)
               .with_columns(pl.col("seconds").cum_sum().over(["language", "split"]).alias("_total")))
    return ordered.filter(pl.col("_total") <= hours * 3600 + 1e-9).drop("_speaker", "_turn", "_total")


def _relative_to(paths: pl.Series, parent: Path, out: Path) -> pl.Series:
    """Shard paths relative to the parent release folder, made relative to the selection folder."""
    return pl.Series(paths.name, [os.path.relpath(os.path.normpath(parent / p), out) for p in paths.to_list()])


def select_release(release: Release, out: str | os.PathLike[str], query: SelectionQuery) -> tuple[Release, bool]:
    """Write the selection of `release` by `query` into `out`; (the selection opened as a release, whether its
    content changed). An earlier selection in `out` is replaced; any other folder with a release.json is
    refused."""
    if storage.is_remote(release.uri) or storage.is_remote(os.fspath(out)):
        raise ValueError("select works on releases on a local file system (its shard paths are relative paths)")
    out = Path(out).resolve()
    if (out / "release.json").exists():
        earlier = open_release(out)
        if earlier.info.get("kind") != KIND:
            raise ValueError(f"{out} holds release {earlier.id}, not a selection: choose another folder")
    else:
        earlier = None
    parent_dir = release.path
    utts = pl.DataFrame(release.table("utterances"))
    corpora = sorted(set(utts["corpus"].drop_nulls().to_list()))
    left_out: dict[str, int] = {}
    for rule, keeps in _rules(query, release, corpora):
        before = utts.height
        utts = utts.filter(keeps)
        left_out[rule] = before - utts.height
    if query.max_hours_per_language is not None:
        before = utts.height
        if not query.max_hours_per_language:
            raise ValueError("max_hours_per_language 0 keeps no utterance")
        utts = _cap(utts, query.max_hours_per_language)
        left_out["max_hours_per_language"] = before - utts.height
    if not utts.height:
        raise ValueError(f"the query keeps no utterance of release {release.id}: nothing written")
    utts = utts.sort(["shard", "key"]).with_columns(_relative_to(utts.sort(["shard", "key"])["shard"],
                                                                 parent_dir, out))
    shards = pl.DataFrame(release.table("shards"))
    used = set(utts["shard"].to_list())
    shards = shards.with_columns(_relative_to(shards["path"], parent_dir, out)).filter(pl.col("path").is_in(used))
    rejects = release.table("rejects")  # pyarrow, not polars: its meta column keeps its exact type
    kept_corpora = pa.array(sorted(set(utts["corpus"].to_list())), pa.string())
    kept_languages = pa.array(sorted(set(utts["language"].to_list())), pa.string())
    rejects = rejects.filter(pc.and_(pc.is_in(rejects["corpus"], kept_corpora), pc.or_(
        pc.is_in(rejects["language"], kept_languages), pc.is_null(rejects["language"]))))
    tables = {
        "utterances": conform(utts.to_arrow(), UTTERANCES),
        "shards": conform(shards.sort("path").to_arrow(), SHARDS),
        "rejects": conform(rejects, REJECTS),
    }
    tables["summary"] = conform(summarize(tables["utterances"], tables["shards"]), SUMMARY)
    schemas = {"utterances": UTTERANCES, "shards": SHARDS, "rejects": REJECTS, "summary": SUMMARY}
    files = {f"{name}.parquet": to_parquet_bytes(table, schemas[name]) for name, table in tables.items()}
    digest = hashlib.sha256()
    for name in RELEASE_FILES:
        digest.update(name.encode() + hashlib.sha256(files[name]).digest())
    digest.update(json.dumps(query.as_dict(), sort_keys=True).encode())
    content = digest.hexdigest()
    info = _info(release, query, tables, left_out, content)
    files["release.json"] = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    changed = earlier is None or earlier.info.get("content_sha256") != content
    staged = out.with_name(f".staged-{out.name}")
    write_release_folder(str(staged), files)  # complete and fsynced, then swapped in for an earlier one
    replace_dir(staged, out)
    return Release(str(out), info), changed


def _info(parent: Release, query: SelectionQuery, tables: dict[str, pa.Table], left_out: dict[str, int],
          content: str) -> dict[str, Any]:
    utts = pl.DataFrame(tables["utterances"].select(["language", "corpus", "seconds"]))
    corpora = set(utts["corpus"].to_list())
    return {
        "id": f"sel-{content[:12]}",
        "kind": KIND,
        "created": parent.info.get("created"),  # the parent's: the same query of the same parent, the same bytes
        "parent": {"id": parent.id, "path": str(parent.path),
                   "content_sha256": parent.info.get("content_sha256")},
        "query": query.as_dict(),
        "schema_version": SCHEMA_VERSION,
        "content_sha256": content,
        "config_hash": parent.info.get("config_hash"),
        "params": parent.info.get("params", {}),
        "sources": [s for s in parent.info.get("sources") or []
                    if (s.get("name") if isinstance(s, dict) else s) in corpora],
        "counts": {
            "utterances": utts.height,
            "hours": round(float(utts["seconds"].sum() or 0.0) / 3600, 6),
            "shards": tables["shards"].num_rows,
            "languages": len(set(utts["language"].drop_nulls().to_list()) - {UNDETERMINED}),
            "corpora": len(corpora),
            "rejects": tables["rejects"].num_rows,
            "parent_utterances": parent.info.get("counts", {}).get("utterances"),
        },
        "left_out": left_out,
        "licences": licence_ledger(utterance_parts(tables["utterances"])),
    }
