"""Shared fixtures: a Spark session in local mode and the sample corpus, each made once per test run."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("OMNICORPUS_NO_UI", "1")


@pytest.fixture(scope="session")
def spark():
    from omnicorpus.pipelines.spark import spark_session

    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()
    # py4j closes its connections again at interpreter exit, after pytest has closed the log streams
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module (restored after it): for tiny models sized for one core."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """The sample corpus at scale 1, seed 0 (built once; tests must not modify it)."""
    from omnicorpus.corpus.sample_corpus import build_sample_corpus

    root = tmp_path_factory.mktemp("sample") / "corpus"
    build_sample_corpus(root, scale=1, seed=0)
    return root


@pytest.fixture(scope="session")
def pipeline_run(sample_corpus, spark, tmp_path_factory):
    """The whole pipeline run once on Spark over the sample corpus: (config, RunReport). Read-only."""
    import dataclasses

    from omnicorpus.manifests.config import load_config
    from omnicorpus.pipelines.run import run_pipeline

    cfg = load_config(sample_corpus / "omnicorpus.yaml")
    cfg = dataclasses.replace(cfg, output=str(tmp_path_factory.mktemp("run") / "out"))
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1764028800")
    return cfg, run_pipeline(cfg, spark)


#: What `ctc_learned` trains: steps, and the sample corpus's two languages with the most training utterances.
CTC_LEARN_STEPS = 450
CTC_LEARN_LANGUAGES = ("eng_Latn", "hin_Deva")


@pytest.fixture(scope="session")
def ctc_learned(pipeline_run, tmp_path_factory) -> tuple[Path, dict]:
    """`omnicorpus train RELEASE --recipe ctc-tiny` (the console script) for CTC_LEARN_STEPS steps on
    CTC_LEARN_LANGUAGES of the sample release, evaluated on its train and dev splits: (run folder, summary).
    The CTC learning tests read it, and the LLM-ASR tests start their encoder from its checkpoint."""
    out = tmp_path_factory.mktemp("ctc-learned") / "run"
    command = [str(Path(sys.executable).with_name("omnicorpus")), "train", str(pipeline_run[1].release.path),
               "--recipe", "ctc-tiny", "--out", str(out), "--device", "cpu", "--max-steps", str(CTC_LEARN_STEPS),
               "--languages", ",".join(CTC_LEARN_LANGUAGES), "--set", "eval_every=10000",
               "--set", "checkpoint_every=10000", "--set", 'eval_splits=["train", "dev"]']
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, json.loads((out / "summary.json").read_text("utf-8"))
