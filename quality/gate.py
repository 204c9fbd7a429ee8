"""The quality gate: validate a release (and the stage tables it was made from) with Great Expectations.

    verdict = validate_release(Path("OUT/releases/v0001"), output_root=Path("OUT"))
    verdict.passed, verdict.failures(), verdict.data_docs  # .../quality/v0001/data_docs/index.html

The release's tables are read as written (not conformed to their schema, so a wrong type or a missing
column is the gate's to find), given the check columns of `quality.suites.prepare`, and validated by one GX
checkpoint per table with the suites of `quality.suites`, in an ephemeral GX context: nothing is written
but the Data Docs site (a local filesystem site, built from the in-memory validation results) and
`verdict.json` beside it. GX's usage statistics are off (`GX_ANALYTICS_ENABLED=false`).

Data Docs pages load their CSS and JavaScript from public CDNs: offline, the validation and suite pages
show their content unstyled, but index.html lists nothing (its table is filled by bootstrap-table), so the
verdict also names each table's validation page (`Verdict.pages`).
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before great_expectations is imported: no usage statistics

import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from omnicorpus.manifests import storage  # noqa: E402
from omnicorpus.manifests.layout import forget_groups, quality_dir, root_of_release, table_uri  # noqa: E402
from omnicorpus.manifests.release import open_release  # noqa: E402
from omnicorpus.manifests.schema import TABLES  # noqa: E402
from omnicorpus.quality.scale import UtteranceScope, read_utterances, utterance_scope  # noqa: E402
from omnicorpus.quality.suites import (  # noqa: E402
    KEYS,
    RELEASE_TABLES,
    STAGE_TABLES,
    SuiteParams,
    build_suite,
    prepare,
    to_frame,
)

log = logging.getLogger(__name__)

DOCS_SITE = "omnicorpus"
#: How many unexpected values a check reports (in its detail and in Data Docs).
EXAMPLES = 5
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass
class Check:
    table: str
    expectation: str  # the GX expectation type, e.g. expect_column_values_to_be_between
    column: str | None  # the column (column_A of a pair; "a,b,c" for several; None: the whole table)
    success: bool
    detail: str  # observed value / unexpected examples, one line
    description: str = ""  # what the check means, where the suite says it


@dataclass
class Verdict:
    release: str
    passed: bool
    checks: list[Check]
    data_docs: Path | str | None  # Data Docs' index.html (a URI when the site is on storage)
    seconds: float = 0.0  # wall time of the validation
    tables: dict[str, int] = field(default_factory=dict)  # rows validated per table
    pages: dict[str, Path | str] = field(default_factory=dict)  # table -> its Data Docs validation page
    damaged_shards: list[str] = field(default_factory=list)  # whose bytes on disk fail (paths as in the release)
    rebuild: list[str] = field(default_factory=list)  # group indexes removed: the next run rebuilds those groups

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.success]

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "passed": self.passed,
            "checks": len(self.checks),
            "failed": len(self.failures()),
            "data_docs": str(self.data_docs) if self.data_docs is not None else None,
            "seconds": round(self.seconds, 3),
            "tables": self.tables,
            "pages": {t: str(p) for t, p in self.pages.items()},
            "damaged_shards": self.damaged_shards,
            "rebuild": self.rebuild,
            "failures": [asdict(c) for c in self.failures()],
            "results": [asdict(c) for c in self.checks],
        }


def default_docs_dir(release_dir: str | os.PathLike[str], release_id: str,
                     output_root: str | os.PathLike[str] | None = None) -> str:
    """`<output root>/quality/<release id>/data_docs` (by default the root the release folder lies in)."""
    root = output_root if output_root is not None else root_of_release(release_dir)
    return storage.join(quality_dir(root, release_id), "data_docs")


def validate_release(release_dir: str | os.PathLike[str], *, output_root: str | os.PathLike[str] | None = None,
                     docs_dir: str | os.PathLike[str] | None = None, full: bool = False,
                     manifests_only: bool = False) -> Verdict:
    """Validate a release folder's tables, and with `output_root` its stage tables recordings and segments;
    write Data Docs under `docs_dir` and `verdict.json` beside that folder; return the verdict. `full`:
    decode every member of every shard (else of a sample, suites.decode_sample); `manifests_only`: check the
    release's manifests without reading its shard files (nor stage tables). A release of more than
    `quality.scale.WHOLE_UTTERANCES` utterances has the utterances of a sample of its shards checked.

    The release, its output root and the docs folder may be local paths or storage URIs
    (`manifests.storage`): a remote site is built in a local temporary folder and copied there.

    With `output_root`, a shard whose bytes on disk fail (size, SHA-256, a member that does not read or
    decode) has its group's index removed (`manifests.layout.forget_groups`): the index is what lets a run
    trust and reuse a group's shards, so the next run rebuilds that group from its segments, byte for byte
    what it should have been, instead of serving the damaged file to every later release."""
    start = time.perf_counter()
    release = open_release(release_dir)
    uri = release.uri
    raw = {name: _read_release_table(storage.join(uri, f"{name}.parquet")) for name in RELEASE_TABLES
           if name != "utterances"}
    scope = utterance_scope(release.info, raw["shards"])
    raw["utterances"] = _read_release_table(storage.join(uri, "utterances.parquet"), scope)
    if scope.sampled:
        log.warning("release %s: %s are checked", release.id, scope.describe())
    root = os.fspath(output_root) if output_root is not None else None
    if root is not None and not manifests_only:
        raw.update({name: _read_stage_table(table_uri(root, name), name) for name in STAGE_TABLES})
    tables = prepare(raw, release_dir=uri, output_root=root, full=full, files=not manifests_only,
                     sample=scope.shards)
    groups = _groups(raw["shards"] if scope.sampled else raw["utterances"])
    params = SuiteParams.from_release(release.info, rows={"summary": groups}, files=not manifests_only,
                                      sampled=scope.sampled)

    docs_uri = os.fspath(docs_dir) if docs_dir is not None else default_docs_dir(uri, release.id, root)
    checks, data_docs, pages = _validate_with_docs(tables, params, release.id, docs_uri)
    damaged = damaged_shards(tables["shards"])
    rebuild = forget_groups(root, uri, damaged) if root is not None and damaged else []
    verdict = Verdict(release=release.id, passed=all(c.success for c in checks), checks=checks,
                      data_docs=data_docs, seconds=time.perf_counter() - start,
                      tables={name: t.num_rows for name, t in tables.items()}, pages=pages,
                      damaged_shards=damaged, rebuild=rebuild)
    storage.write_bytes_atomic(storage.join(storage.parent(docs_uri), "verdict.json"),
                               (json.dumps(verdict.as_dict(), indent=2, ensure_ascii=False) + "\n").encode())
    log.info("release %s: %s, %d checks, %d failed, %.1f s", release.id, "passed" if verdict.passed else "FAILED",
             len(checks), len(verdict.failures()), verdict.seconds)
    return verdict


def _validate_with_docs(tables: dict[str, pa.Table], params: SuiteParams, release_id: str, docs_uri: str
                        ) -> tuple[list[Check], Path | str | None, dict[str, Path | str]]:
    """Run each table's checkpoint and build the Data Docs site in `docs_uri`; (checks, index page, each
    table's validation page). GX writes a site to a local folder only: a remote site is built in a temporary
    folder, then copied (its pages named by their URIs)."""
    remote = storage.is_remote(docs_uri)
    with tempfile.TemporaryDirectory(prefix=".gx-site-") if remote else contextlib.nullcontext(docs_uri) as folder:
        site = Path(folder)
        _clear_site(docs_uri)
        context = _context(site)
        source = context.data_sources.add_pandas(f"release-{release_id}")
        run_id = RunIdentifier(run_name=f"release-{release_id}")
        checks: list[Check] = []
        for name, table in tables.items():
            suite = context.suites.add(build_suite(name, params))
            batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole table")
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{release_id}-{name}", data=batch, suite=suite))
            # rows are reported by their key (and their language, which language_valid does not show)
            keys = [k for k in dict.fromkeys([*KEYS[name], "language"]) if k in table.column_names]
            checkpoint = context.checkpoints.add(gx.Checkpoint(
                name=f"{release_id}-{name}", validation_definitions=[definition],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES,
                               "unexpected_index_column_names": keys}))
            result = checkpoint.run(batch_parameters={"dataframe": to_frame(table)}, run_id=run_id)
            for validation in result.run_results.values():
                checks.extend(_check(name, r, table.column_names) for r in validation.results)
        index = _build_docs(context, site)
        pages: dict[str, Path] = {name: page for name in tables if index is not None
                                  for page in sorted((site / "validations" / name).rglob("*.html"))[-1:]}
        if not remote:
            return checks, index, dict(pages)
        storage.put_tree(site, docs_uri)

        def moved(page: Path) -> str:
            return storage.join(docs_uri, page.relative_to(site).as_posix())

        return checks, moved(index) if index is not None else None, {t: moved(p) for t, p in pages.items()}


def damaged_shards(shards: pa.Table) -> list[str]:
    """Paths of the shards (as the release gives them) whose file on disk is not what the index says: missing,
    another size or SHA-256, a member that does not read, is not 16 kHz mono, or does not decode."""
    if "path" not in shards.column_names or "bytes_on_disk" not in shards.column_names:
        return []
    df = pl.DataFrame(shards.select(["path", "bytes", "sha256", "num_samples", "bytes_on_disk", "sha256_on_disk",
                                     "all_16k_mono", "flac_members", "flacs_decode"]))
    bad = df.filter(
        (pl.col("bytes_on_disk") != pl.col("bytes")).fill_null(True)
        | (pl.col("sha256_on_disk") != pl.col("sha256")).fill_null(True)
        | ~pl.col("all_16k_mono").fill_null(False)
        | (pl.col("flac_members") != pl.col("num_samples")).fill_null(True)
        | (pl.col("flacs_decode") == False).fill_null(False)  # noqa: E712 (null: not decoded, not damaged)
    )
    return sorted(bad.get_column("path").drop_nulls().to_list())


# --- reading --------------------------------------------------------------------------------------------


def _read_release_table(uri: str, scope: UtteranceScope | None = None) -> pa.Table:
    """A release table as written (the utterances: those of `scope`); a missing file reads as a table without
    columns (its checks fail)."""
    if not storage.exists(uri):
        log.warning("%s is missing", uri)
        return pa.table({})
    if scope is not None:
        return read_utterances(uri, scope)
    fs, path = storage.resolve(uri)
    return pq.read_table(path, filesystem=fs)


def _read_stage_table(uri: str, name: str) -> pa.Table:
    """A stage table's hive-partitioned folder (partitions corpus, language, typed as the contract says)."""
    if not storage.exists(uri):
        log.warning("%s is missing", uri)
        return pa.table({})
    schema = TABLES[name]
    partitioning = ds.HivePartitioning.discover(
        null_fallback=_HIVE_NULL, schema=pa.schema([schema.field("corpus"), schema.field("language")]))
    fs, path = storage.resolve(uri)
    return ds.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning,
                      ignore_prefixes=[".", "_"]).to_table()


def _groups(table: pa.Table) -> int:
    """Distinct (language, corpus, split) of the utterances (or of the shards, when the utterances are a
    sample): the summary's expected rows."""
    keys = KEYS["summary"]
    if not set(keys) <= set(table.column_names):
        return 0
    return table.select(keys).group_by(keys).aggregate([]).num_rows


# --- GX -------------------------------------------------------------------------------------------------


def _context(docs_dir: Path) -> Any:
    """An ephemeral GX context whose only Data Docs site is a local folder (no temporary default site)."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={DOCS_SITE: {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _clear_site(docs_uri: str) -> None:
    """Remove an earlier Data Docs site in this folder, so the site shows this validation only."""
    if storage.file_size(storage.join(docs_uri, "index.html")) is not None \
            and storage.exists(storage.join(docs_uri, "static")):
        storage.delete_tree(docs_uri)


def _build_docs(context: Any, docs_dir: Path) -> Path | None:
    try:
        context.build_data_docs(site_names=[DOCS_SITE])
    except Exception:  # noqa: BLE001  the verdict stands without its rendering
        log.exception("building Data Docs in %s failed", docs_dir)
        return None
    index = docs_dir / "index.html"
    return index if index.is_file() else None


def _column(kwargs: dict[str, Any]) -> str | None:
    if kwargs.get("column") is not None:
        return kwargs["column"]
    if kwargs.get("column_A") is not None:
        return kwargs["column_A"]
    if kwargs.get("column_list"):
        return ",".join(kwargs["column_list"])
    return None


def _check(table: str, result: Any, columns: list[str]) -> Check:
    config = result.expectation_config
    column = _column(config.kwargs)
    missing = [c for c in (column or "").split(",") if c and c not in columns]
    detail = _detail(result.result or {}, result.exception_info)
    if missing and not result.success:  # GX's own message for a missing column can be an IndexError
        detail = f"column {', '.join(map(repr, missing))} is missing ({detail})"
    return Check(table=table, expectation=config.type, column=column, success=bool(result.success),
                 detail=detail, description=config.description or "")


def _py(value: Any) -> Any:
    """Plain Python for numpy / pandas scalars (and None for NA)."""
    if value is None or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _exception(info: Any) -> str | None:
    """The message of an exception GX caught while checking, if any (info is flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return (info.get("exception_message") or "exception") if info.get("raised_exception") else None
    for value in info.values():
        message = _exception(value)
        if message:
            return message
    return None


def _detail(result: dict[str, Any], exception_info: Any) -> str:
    error = _exception(exception_info)
    if error:
        return _one_line(f"error: {error}")
    parts = []
    mismatched = (result.get("details") or {}).get("mismatched")
    if mismatched:
        parts.append(f"mismatched {mismatched}")
    if "observed_value" in result:
        parts.append(f"observed {_py(result['observed_value'])!r}")
    unexpected = result.get("unexpected_count")
    if unexpected:
        parts.append(f"{unexpected} of {result.get('element_count')} unexpected")
        rows = result.get("partial_unexpected_index_list") or []
        if rows and isinstance(rows[0], dict):
            examples = ["{" + ", ".join(f"{k}={_py(v)!r}" for k, v in row.items()) + "}" for row in rows[:EXAMPLES]]
        else:
            examples = [repr(_py(v)) for v in (result.get("partial_unexpected_list") or [])[:EXAMPLES]]
        if examples:
            parts.append("e.g. " + "; ".join(examples))
    elif "unexpected_count" in result:
        parts.append(f"0 of {result.get('element_count')} unexpected")
    return _one_line(", ".join(parts))


def _one_line(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["Check", "Verdict", "default_docs_dir", "validate_release"]
