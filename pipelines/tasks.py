"""The pipeline's steps as tasks for a scheduler: each takes a config path, returns a small JSON-able dict,
and is idempotent, so a retried task redoes nothing that finished. Airflow DAGs call these; so can cron.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from omnicorpus.manifests.config import load_config
from omnicorpus.pipelines.service import open_spark


def new_items(config: str) -> dict[str, Any]:
    """How many listed items the next ingest takes (never seen, changed or to retry), and how many earlier
    outcomes it removes (metadata only, no Spark, nothing written)."""
    from omnicorpus.pipelines.ingest import list_all, plan_ingest

    cfg = load_config(config)
    listed = list_all(cfg)
    plan = plan_ingest(cfg.output, listed)
    return {"listed": listed.items.num_rows, "new": plan.new.num_rows, "stale": len(plan.stale)}


def ingest(config: str, master: str | None = None) -> dict[str, Any]:
    from omnicorpus.pipelines.ingest import run_ingest

    cfg = load_config(config)
    return run_ingest(cfg, open_spark(cfg, master)).as_dict()


def curate(config: str, master: str | None = None) -> dict[str, Any]:
    from omnicorpus.pipelines.curate import curate as run_curate

    cfg = load_config(config)
    return run_curate(cfg, open_spark(cfg, master)).as_dict()


def release(config: str, master: str | None = None) -> dict[str, Any]:
    """Shard, publish and validate a release (once) and write its report; `latest` moves only when it passes
    the gate."""
    from omnicorpus.pipelines.service import publish

    cfg = load_config(config)
    published = publish(cfg, open_spark(cfg, master))
    made, verdict = published.release, published.verdict
    if not verdict.passed:
        failed = "; ".join(f"{c.table}.{c.column}: {c.expectation}" for c in verdict.failures()[:5])
        raise RuntimeError(f"release {made.id} failed the quality gate ({failed}); latest did not move")
    return {"release": str(made.path), "id": made.id, "new": published.new, "report": str(published.report)}


def report(config: str) -> dict[str, Any]:
    """Validate the latest release (or the newest one, when it failed its gate) and write its report."""
    from omnicorpus.manifests.release import newest_release
    from omnicorpus.pipelines.service import gate

    cfg = load_config(config)
    made = newest_release(cfg.output)
    if made is None:
        return {"release": None}
    verdict, path = gate(made.path, None)
    return {"release": made.id, "passed": verdict.passed, "report": str(path),
            "data_docs": str(verdict.data_docs) if verdict.data_docs else None}


def intake(config: str, inbox: str) -> dict[str, Any]:
    """Add every submission waiting in `inbox` (folders or archives) to the community corpus; each one taken
    (added, or refused with its reason) moves to `inbox/.taken/` so that it is taken once."""
    from omnicorpus.corpus.intake import UnsafeSubmission, add_submission
    from omnicorpus.manifests.lock import output_lock

    cfg = load_config(config)
    sources = [s for s in cfg.sources if s.layout == "community"]
    if len(sources) != 1:
        raise ValueError(f"{config}: need exactly one source of layout community, found {len(sources)}")
    taken = Path(inbox) / ".taken"
    taken.mkdir(parents=True, exist_ok=True)
    added, refused = [], {}
    for entry in sorted(Path(inbox).iterdir()):
        if entry.name.startswith("."):
            continue
        try:
            with output_lock(cfg.output):
                result = add_submission(entry, sources[0], output_root=Path(cfg.output))
            added.append({"submission": result.submission, "partner": result.partner, "rows": result.rows,
                          "added": result.added, "errors": result.errors, "duplicates": result.duplicates})
        except (UnsafeSubmission, ValueError) as exc:
            refused[entry.name] = str(exc)
        shutil.move(str(entry), taken / entry.name)
    return {"added": added, "refused": refused, "inbox": os.fspath(inbox)}
