"""Benchmark: what reads manifests, on a release of the paper's size (simulated, no audio).

    python bench/scale.py [--hours 4300000 --languages 1600 --corpora 40] [--work DIR] [--draws 64]

`omnicorpus simulate` writes the release (summary and shards whole, about 280k shards of 1 GiB; the
utterances of the gate's sample of shards). Then, each as a user runs it (the installed console script, a
fresh process, wall time): `omnicorpus plan`, `omnicorpus report`, `omnicorpus validate --manifests-only`
(the GX gate's manifest checks). The reference, in the same command, is a process that only starts the CLI
(`omnicorpus --help`): each `*_ratio` is a command's wall time over it; `plan_in_process_s` is the planning
alone (the summary read and the beta plan), without the process start. In this process: the step planner
(`model.step_planner.StepPlanner`) is built and plans a step of --draws utterances; what it touches is
counted (shards of the step, row groups of utterances.parquet it would read; the partition and shard tables
are read once when it is built). Details go to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, work_dir  # noqa: E402

OMNICORPUS = str(Path(sys.executable).with_name("omnicorpus"))


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1764028800", "OMNICORPUS_NO_UI": "1"}
    start = time.perf_counter()
    run = subprocess.run([OMNICORPUS, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        log(run.stdout[-2000:], run.stderr[-2000:])
        raise SystemExit(f"omnicorpus {' '.join(args)} exited {run.returncode}")
    log(f"omnicorpus {' '.join(args)}: {wall:.2f} s")
    return wall, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", default="4300000")
    ap.add_argument("--languages", default="1600")
    ap.add_argument("--corpora", default="40")
    ap.add_argument("--draws", type=int, default=64, help="utterances in the planned step")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = work_dir(args.work)
    out = work / "simulated"
    simulate_s, _ = timed("simulate", str(out), "--hours", args.hours, "--languages", args.languages,
                          "--corpora", args.corpora)
    release = out / "releases" / "v0001"
    info = json.loads((release / "release.json").read_text())
    startup = min(timed("--help")[0] for _ in range(3))
    plan_s = min(timed("plan", str(release))[0] for _ in range(3))
    report_s, _ = timed("report", str(release))
    gate_s, gate = timed("validate", "--manifests-only", str(release))

    from omnicorpus.model.sampling import Betas, plan_for_release
    from omnicorpus.model.step_planner import StepPlanner

    start = time.perf_counter()
    plan_for_release(release, Betas(0.5, 0.5))
    plan_work_s = time.perf_counter() - start
    start = time.perf_counter()
    planner = StepPlanner(release, seed=0)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    step = planner.plan_step(args.draws)
    step_s = time.perf_counter() - start
    read = planner.read_step(step)
    counts = info["counts"]
    # the simulated file holds the utterances of a sample of shards only; a whole one of this size would have
    # ceil(utterances / rows per group) row groups, of which a step reads at most those its shards span
    per_group = 64 * 1024
    rows = dict(zip(planner.paths, planner.samples.tolist(), strict=True))
    bound = sum(-(-rows[s] // per_group) + 1 for s in step.shards)
    emit({
        "bench": "scale",
        "hours": counts["hours"], "utterances": counts["utterances"], "shards": counts["shards"],
        "languages": counts["languages"], "corpora": counts["corpora"],
        "simulate_s": round(simulate_s, 2),
        "reference_cli_start_s": round(startup, 3),
        "plan_s": round(plan_s, 3), "plan_ratio": round(plan_s / startup, 2),
        "plan_in_process_s": round(plan_work_s, 4),
        "report_s": round(report_s, 2), "report_ratio": round(report_s / startup, 2),
        "gate_manifest_checks_s": round(gate_s, 2), "gate_ratio": round(gate_s / startup, 2),
        "gate_passed": "quality gate: passed" in gate.stdout,
        "step_planner_build_s": round(build_s, 3), "step_plan_s": round(step_s, 4),
        "step_draws": args.draws, "step_shards": len(step.shards),
        "step_row_groups_read_of_sample_file": f"{read.row_groups}/{read.of_row_groups}",
        "step_row_groups_at_most": bound, "row_groups_if_whole": -(-counts["utterances"] // per_group),
    })


if __name__ == "__main__":
    main()
