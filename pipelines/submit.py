"""Entry point for `spark-submit`: `spark-submit pipelines/submit.py STEP CONFIG` runs one Spark step
(`ingest`, `curate` or `release`) of the library on whatever cluster spark-submit was given."""

from __future__ import annotations

import json
import sys

from omnicorpus.pipelines import tasks

STEPS = {"ingest": tasks.ingest, "curate": tasks.curate, "release": tasks.release}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in STEPS:
        print(f"usage: spark-submit submit.py {{{'|'.join(STEPS)}}} CONFIG", file=sys.stderr)
        return 2
    # the master comes from spark-submit, not from the config
    print(json.dumps(STEPS[argv[0]](argv[1], master="")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
