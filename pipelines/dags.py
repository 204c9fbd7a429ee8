"""What the omnicorpus DAGs (airflow_dags/) share: the config param, and how a Spark step becomes a task.

With `OMNICORPUS_SPARK_CONN_ID` set (an Airflow Spark connection), Spark steps are submitted with
SparkSubmitOperator to that cluster; without it they run in the worker's process on Spark local mode.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import Param, task

import omnicorpus.pipelines as pipelines
from omnicorpus.pipelines import tasks

CONFIG = os.environ.get("OMNICORPUS_CONFIG", "/etc/omnicorpus/omnicorpus.yaml")
PARAMS = {"config": Param(CONFIG, type="string", description="Path of the pipeline config (YAML)")}
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(minutes=5)}  # every task is idempotent


def spark_step(step: str):
    """A task running one Spark step (`ingest`, `curate` or `release`) of the library."""
    conn_id = os.environ.get("OMNICORPUS_SPARK_CONN_ID")
    if conn_id:
        from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

        return SparkSubmitOperator(
            task_id=step, conn_id=conn_id,
            application=str(Path(pipelines.__file__).with_name("submit.py")),
            application_args=[step, "{{ params.config }}"], name=f"omnicorpus-{step}",
        )

    @task(task_id=step)
    def run_in_process(**context) -> dict:
        return getattr(tasks, step)(context["params"]["config"])

    return run_in_process()
