"""Daily, and on demand: validate the newest release and write its HTML report."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from omnicorpus.pipelines import tasks
from omnicorpus.pipelines.dags import DEFAULT_ARGS, PARAMS


@dag(dag_id="omnicorpus_quality_report", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
     params=PARAMS, default_args=DEFAULT_ARGS, tags=["omnicorpus", "quality"], doc_md=__doc__)
def omnicorpus_quality_report():
    @task
    def validate_and_report(**context) -> dict:
        return tasks.report(context["params"]["config"])

    validate_and_report()


omnicorpus_quality_report()
