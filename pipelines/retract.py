"""Retract the releases that still serve withdrawn recordings.

A withdrawal takes effect in every release made after it; the releases made before it still hold the
withdrawn segments, and a trainer reading `latest` (or an older release by its id) would keep serving them.
`prune_withdrawn` makes a release now (withdrawals applied, the gate passed, `latest` moved to it), then
deletes every other release folder holding a withdrawn segment, with its quality results, and the shards
holding withdrawn segments that no remaining release references (their group indexes and the shard step's
records too, so that nothing points at them any more). What is left serves none of them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from omnicorpus.manifests.config import PipelineConfig
from omnicorpus.manifests.layout import releases_dir
from omnicorpus.manifests.lock import holds_output_lock
from omnicorpus.manifests.release import latest_release, open_release
from omnicorpus.manifests.schema import Reason
from omnicorpus.pipelines.engine import forget_step
from omnicorpus.pipelines.run import make_release

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class PruneReport:
    latest: str
    withdrawn: int  # segments the register withdraws
    releases: list[str] = field(default_factory=list)  # release ids deleted
    shards: list[str] = field(default_factory=list)  # shard files deleted, relative to the output root


@holds_output_lock
def prune_withdrawn(cfg: PipelineConfig, spark: SparkSession) -> PruneReport:
    release, _, verdict = make_release(cfg, spark)
    if verdict is not None and not verdict.passed:
        raise RuntimeError(f"release {release.id} failed the quality gate: nothing was pruned (see "
                           f"`omnicorpus validate {release.path}`)")
    root = Path(cfg.output)
    latest = latest_release(root)
    assert latest is not None
    rejects = latest.table("rejects")
    withdrawn = set(rejects.filter(pc.equal(rejects.column("reason"), str(Reason.WITHDRAWN)))
                    .column("key").to_pylist())
    report = PruneReport(latest.id, len(withdrawn))
    kept_shards: set[Path] = set()
    doomed_shards: set[Path] = set()
    for folder in sorted(Path(releases_dir(root)).glob("v*")):
        if not (folder / "release.json").exists():
            continue
        made = open_release(folder)
        utts = made.table("utterances").select(["key", "shard"]).to_pylist()
        shards = {(made.path / u["shard"]).resolve() for u in utts}
        serving = {(made.path / u["shard"]).resolve() for u in utts if u["key"] in withdrawn}
        if made.id != latest.id and serving:
            report.releases.append(made.id)
            doomed_shards |= serving
            shutil.rmtree(folder)
            shutil.rmtree(root / "quality" / made.id, ignore_errors=True)
        else:
            kept_shards |= shards
    for shard in sorted(doomed_shards - kept_shards):
        group_digest = shard.name.rsplit("-", 1)[0]
        for index in shard.parent.glob(f"{group_digest}.*.arrow"):
            index.unlink()
        shard.unlink(missing_ok=True)
        report.shards.append(str(shard.relative_to(root.resolve())))
    if report.shards:  # the shard step's records may name the deleted shards: its next run shards again
        forget_step(cfg.output, "shard")
    return report
