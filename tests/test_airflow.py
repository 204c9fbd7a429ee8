"""The Airflow DAGs: they import cleanly, and the daily ingest DAG runs end to end into a validated release."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

DAGS = Path(__file__).resolve().parent.parent / "airflow_dags"
# Airflow reads its configuration when first imported: point it at a scratch home before that.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ.pop("OMNICORPUS_SPARK_CONN_ID", None)  # Spark steps run in-process on local mode


@pytest.fixture(scope="module", autouse=True)
def airflow_db() -> None:
    """A migrated SQLite metadata database in the scratch home (as `airflow db migrate` makes it)."""
    run = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], capture_output=True,
                         text=True, timeout=600, env=os.environ.copy())
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_dags_import_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"omnicorpus_ingest", "omnicorpus_community_intake", "omnicorpus_quality_report"}
    ingest = bag.get_dag("omnicorpus_ingest")
    assert [t.task_id for t in ingest.topological_sort()] == [
        "find_new", "ingest", "curate", "release", "validate_and_report"]
    assert "config" in ingest.params
    intake = bag.get_dag("omnicorpus_community_intake")
    assert "inbox" in intake.params and intake.task_ids[0] == "take_submissions"


def test_with_a_spark_connection_spark_steps_are_submitted(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    monkeypatch.setenv("OMNICORPUS_SPARK_CONN_ID", "spark_cluster")
    dag = DagBag(str(DAGS)).get_dag("omnicorpus_ingest")
    for step in ("ingest", "curate", "release"):
        task = dag.get_task(step)
        assert isinstance(task, SparkSubmitOperator)
        assert task._conn_id == "spark_cluster"
        assert Path(task.application).name == "submit.py" and Path(task.application).exists()
        assert task.application_args == [step, "{{ params.config }}"]
    assert not isinstance(dag.get_task("find_new"), SparkSubmitOperator)


def test_the_ingest_dag_runs_end_to_end_into_a_validated_release(sample_corpus, spark, tmp_path):
    from omnicorpus.manifests.config import load_config
    from omnicorpus.manifests.release import latest_release

    cfg = load_config(sample_corpus / "omnicorpus.yaml")
    config = tmp_path / "omnicorpus.yaml"
    data = cfg.to_dict()
    data["output"] = str(tmp_path / "out")
    config.write_text(yaml.safe_dump(data))

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(DAGS)).get_dag("omnicorpus_ingest")
    run = dag.test(run_conf={"config": str(config)})
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state
    release = latest_release(tmp_path / "out")
    assert release is not None and release.id == "v0001"
    assert (tmp_path / "out" / "quality" / "v0001" / "report.html").exists()
    assert (tmp_path / "out" / "quality" / "v0001" / "verdict.json").exists()
    # a retried or re-scheduled run finds nothing new and makes no new release
    again = dag.test(run_conf={"config": str(config)})
    assert str(again.state) in ("success", "DagRunState.SUCCESS")
    assert latest_release(tmp_path / "out").id == "v0001"
