"""Daily: find new files in the configured sources, ingest, curate, release, validate, report."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from omnicorpus.pipelines import tasks
from omnicorpus.pipelines.dags import DEFAULT_ARGS, PARAMS, spark_step


@dag(dag_id="omnicorpus_ingest", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
     params=PARAMS, default_args=DEFAULT_ARGS, tags=["omnicorpus"], doc_md=__doc__)
def omnicorpus_ingest():
    @task
    def find_new(**context) -> dict:
        return tasks.new_items(context["params"]["config"])

    @task
    def validate_and_report(**context) -> dict:
        return tasks.report(context["params"]["config"])

    find_new() >> spark_step("ingest") >> spark_step("curate") >> spark_step("release") >> validate_and_report()


omnicorpus_ingest()
