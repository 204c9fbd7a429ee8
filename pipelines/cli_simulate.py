"""`omnicorpus simulate`: a release at the paper's scale, manifests only (see pipelines.simulate)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def simulate_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Output root to write the simulated release into.")],
    hours: Annotated[float, typer.Option(min=1.0, help="Hours of audio in all.")] = 4_300_000.0,
    languages: Annotated[int, typer.Option(min=1, help="Languages (long-tailed hours).")] = 1600,
    corpora: Annotated[int, typer.Option(min=1, help="Corpora (long-tailed sizes).")] = 40,
    shard_gib: Annotated[float, typer.Option(min=0.001, help="Size of a full shard, GiB.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
) -> None:
    """Write a release's manifests (summary, shards, and the utterances of the shards the gate samples) for
    a corpus of this size, without audio: to measure plan, report, the gate's manifest checks and the
    loader's planning at scale. The output root's `latest` names it; it is marked simulated everywhere."""
    from omnicorpus.manifests.release import move_latest
    from omnicorpus.pipelines.simulate import Simulation, simulate

    start = time.perf_counter()
    sim = Simulation(hours=hours, languages=languages, corpora=corpora, seed=seed,
                     shard_bytes=round(shard_gib * 2**30))
    release, _ = simulate(str(out_dir), sim)
    move_latest(str(out_dir), release)
    counts = release.info["counts"]
    out.print(f"simulated release {release.id}: {counts['hours']:,.0f} h, {counts['utterances']:,} utterances, "
              f"{counts['shards']:,} shards, {counts['languages']:,} languages, {counts['corpora']} corpora; "
              f"utterances written for {release.info['simulated']['utterances_of_shards']} shards "
              f"({release.info['simulated']['utterance_rows']:,} rows) in {time.perf_counter() - start:.1f} s",
              highlight=False)
    out.print(release.uri, highlight=False)
