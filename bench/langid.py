"""Benchmark: the langid stage (omnicorpus.pipelines.langid) with lid.176 over UDHR sentences.

    python bench/langid.py [--rows N] [--batch-rows B]

Builds N labelled SEGMENTS rows from corpus/data/udhr_sentences.tsv (38 languages, each sentence
declared in its own language), then times in one process, on one core:

* predict: LidModel.predict over all transcripts (fastText alone);
* stage: identify_languages batch by batch (Arrow in and out, dominant_script, fastText, the rules).

Also runs the stage once over the sentences as declared and once with every declaration shifted to the
next language, and reports what each rejects: false rejects of correct data, and how much wrong data
is caught. Details go to stderr; stdout gets exactly one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from importlib import resources

import pyarrow as pa

from omnicorpus.manifests.config import LangidParams
from omnicorpus.manifests.schema import SEGMENTS
from omnicorpus.manifests.tables import conform
from omnicorpus.pipelines.langid import identify_languages, langid_spec, load_lid_model
from omnicorpus.pipelines.stage import run_local


def udhr() -> list[dict[str, str]]:
    text = resources.files("omnicorpus.corpus").joinpath("data/udhr_sentences.tsv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines(), delimiter="\t"))


def segments(sentences: list[tuple[str, str]], n: int) -> pa.Table:
    rows = []
    for i in range(n):
        lang, text = sentences[i % len(sentences)]
        rows.append({"segment_id": f"rec{i:07d}-0000", "recording_id": f"rec{i:07d}", "corpus": "udhr",
                     "source_uri": f"udhr/{i}.flac", "split": "train", "language": lang, "labelled": True,
                     "seconds": 5.0, "raw_text": text})
    return conform(rows, SEGMENTS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch-rows", type=int, default=langid_spec(LangidParams()).batch_rows)
    args = ap.parse_args()

    data = udhr()
    pairs = [(r["language"], r["sentence"]) for r in data]
    params = LangidParams()
    model = load_lid_model(params.model)
    table = segments(pairs, args.rows)
    texts = table.column("raw_text").to_pylist()

    t0 = time.perf_counter()
    model.predict(texts)
    predict_s = time.perf_counter() - t0

    batches = table.to_batches(max_chunksize=args.batch_rows)
    t0 = time.perf_counter()
    kept = rejected = 0
    for batch in batches:
        result = identify_languages(batch, params)
        kept += result.kept.num_rows
        rejected += result.rejects.num_rows
    stage_s = time.perf_counter() - t0
    assert kept + rejected == args.rows

    spec = langid_spec(params)
    right = run_local(spec, segments(pairs, len(pairs)))
    langs = sorted({p[0] for p in pairs})
    shift = {lang: langs[(i + 1) % len(langs)] for i, lang in enumerate(langs)}
    wrong = run_local(spec, segments([(shift[lang], text) for lang, text in pairs], len(pairs)))
    false_rejects = right.rejects.to_pylist()
    for r in false_rejects:
        print(f"false reject: {r['language']} {r['reason']}: {r['detail']}", file=sys.stderr)

    out = {
        "rows": args.rows, "batch_rows": args.batch_rows,
        "predict_rows_per_s": round(args.rows / predict_s),
        "stage_rows_per_s": round(args.rows / stage_s),
        "udhr_sentences": len(pairs),
        "false_rejects": dict(Counter(r["reason"] for r in false_rejects)),
        "false_reject_rate": round(len(false_rejects) / len(pairs), 4),
        "wrong_declarations_caught": dict(Counter(r["reason"] for r in wrong.rejects.to_pylist())),
        "wrong_caught_rate": round(wrong.rejects.num_rows / len(pairs), 4),
        "params": {"model": params.model, "min_prob": params.min_prob, "min_chars": params.min_chars},
    }
    print(f"predict {out['predict_rows_per_s']} rows/s, stage {out['stage_rows_per_s']} rows/s", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
