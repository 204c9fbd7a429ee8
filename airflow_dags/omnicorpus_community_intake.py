"""Hourly: take new community submissions from the inbox, check and add them, then release them."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import Param, dag, task

from omnicorpus.pipelines import tasks
from omnicorpus.pipelines.dags import DEFAULT_ARGS, PARAMS, spark_step

INBOX = os.environ.get("OMNICORPUS_INBOX", "/srv/omnicorpus/inbox")


@dag(dag_id="omnicorpus_community_intake", schedule="@hourly", start_date=datetime(2026, 1, 1), catchup=False,
     params={**PARAMS, "inbox": Param(INBOX, type="string", description="Folder partners deliver into")},
     default_args=DEFAULT_ARGS, tags=["omnicorpus", "community"], doc_md=__doc__)
def omnicorpus_community_intake():
    @task
    def take_submissions(**context) -> dict:
        return tasks.intake(context["params"]["config"], context["params"]["inbox"])

    @task
    def validate_and_report(**context) -> dict:
        return tasks.report(context["params"]["config"])

    take_submissions() >> spark_step("ingest") >> spark_step("curate") >> spark_step("release") \
        >> validate_and_report()


omnicorpus_community_intake()
