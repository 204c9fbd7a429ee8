"""The writers of the toolkits' layouts in the sample corpus: a Kaldi recipe, SpeechBrain CSVs and Hugging
Face Parquet (as ``public_layouts`` explains, each adds jobs, bad items and a finalizer to the builder)."""

from __future__ import annotations

import csv
import io
import json
import math

from omnicorpus.corpus.sample_corpus.builder import SPLITS, Builder
from omnicorpus.corpus.sample_corpus.jobs import KaldiJob, seed_of, write_bytes, write_text
from omnicorpus.corpus.sample_corpus.speech import Speaker

OMNILINGUAL_LANGS = ("npi_Deva", "kaz_Cyrl", "hye_Armn")
KALDI_DIR, KALDI_LANG = "hi_train", "hin_Deva"
#: The Kaldi source is a recipe folder: data dirs under s5/data/, audio under s5/data/local/, and wav.scp
#: lines that pipe it through sox (as Kaldi's own recipes write them), with paths relative to s5/ (where
#: Kaldi runs its scripts).
KALDI_RECIPE = "kaldi/egs/sample_hindi/s5"
SPEECHBRAIN_LANG = "fra_Latn"
SPEECHBRAIN_HEADER = ("ID", "duration", "wav", "spk_id", "wrd")


def plan_kaldi(builder: Builder) -> None:
    rng = builder.rng("kaldi")
    lang = KALDI_LANG
    builder.language_codes["kaldi"] = {KALDI_DIR: lang}
    deck = builder.deck(rng, lang)
    spk = builder.speakers(rng, lang, max(2, builder.scale), lambda i: f"hi_s{i + 1:03d}")
    recos: list[tuple[str, Speaker, list[str], int]] = []
    for r in range(2 * builder.scale):
        sp = spk[r % len(spk)]
        reco = f"{sp.sid}_r{r + 1:03d}"
        k = 3 if builder.scale == 1 else rng.randint(3, 6)
        texts = [deck.next() for _ in range(k)]
        job = builder.job(KaldiJob(f"{KALDI_RECIPE}/data/local/wav/{reco}.wav", tuple(sp.say(rng, t) for t in texts),
                                seed_of(builder.seed, "kaldi", reco)))
        recos.append((reco, sp, texts, job))

    def finalize() -> None:
        d = builder.out / KALDI_RECIPE / "data" / KALDI_DIR
        wav_scp, segments, text, utt2spk = [], [], [], []
        spk2utt: dict[str, list[str]] = {}
        for reco, sp, texts, job in recos:
            res = builder.results[job]
            # as egs/commonvoice/s5/local/data_prep.pl writes it: a sox pipe to 16 kHz 16-bit WAV
            wav_scp.append(f"{reco} sox data/local/wav/{reco}.wav -t wav -r 16k -b 16 -e signed - |\n")
            for k, (sentence, (a, b)) in enumerate(zip(texts, res["spans"], strict=True)):
                utt = f"{reco}_{k + 1:03d}"
                start = max(0.0, a - 0.1)
                end = min(res["frames"] / res["sr"], b + 0.1)
                start, end = math.floor(start * 100) / 100, math.floor(end * 100) / 100
                segments.append(f"{utt} {reco} {start:.2f} {end:.2f}\n")
                text.append(f"{utt} {sentence}\n")
                utt2spk.append(f"{utt} {sp.sid}\n")
                spk2utt.setdefault(sp.sid, []).append(utt)
        for name, lines in (("wav.scp", wav_scp), ("segments", segments), ("text", text),
                            ("utt2spk", utt2spk)):
            write_text(d / name, "".join(sorted(lines)))
        write_text(d / "spk2utt",
                    "".join(f"{s} {' '.join(sorted(u))}\n" for s, u in sorted(spk2utt.items())))
        write_text(d / "spk2gender", "".join(f"{s.sid} {s.gender[0]}\n"
                                              for s in sorted(spk, key=lambda s: s.sid)
                                              if s.sid in spk2utt))
        builder.items["kaldi"] = len(text)
        builder.seconds["kaldi"] = sum(builder.results[j]["seconds"] for *_, j in recos)

    builder.finalizers.append(finalize)


def plan_speechbrain(builder: Builder) -> None:
    """SpeechBrain CSV manifests as its recipes' prepare scripts write them (`ID,duration,wav,spk_id,wrd`,
    csv.writer, one file per split), audio paths with SpeechBrain's `$data_root` placeholder; one clip is
    AIFF."""
    rng = builder.rng("speechbrain")
    lang = SPEECHBRAIN_LANG
    builder.language_codes["speechbrain"] = {"fr": lang}
    deck = builder.deck(rng, lang)
    spk = builder.speakers(rng, lang, 2, lambda i: f"sb{i + 1:02d}")
    rows: dict[str, list[tuple[str, str, str, str, int]]] = {}  # split -> (id, rel, speaker, text, job)
    n = 2 * builder.scale + 1
    for k, split in enumerate(builder.split_list(rng, n)):
        sp = spk[k % len(spk)]
        utt = f"{sp.sid}-{k:04d}"
        fmt = "aiff" if k == 0 else "wav"
        rel = f"speechbrain/audio/{sp.sid}/{utt}.{fmt}"
        sentence = deck.next()
        rows.setdefault(split, []).append((utt, rel, sp.sid, sentence, builder.clip(rng, rel, sp, sentence, fmt,
                                                                                  16000)))

    def finalize() -> None:
        for split in SPLITS:
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL)
            writer.writerow(SPEECHBRAIN_HEADER)
            for utt, rel, speaker, sentence, job in rows.get(split, []):
                path = "$data_root/" + rel[len("speechbrain/"):]
                writer.writerow([utt, f"{builder.results[job]['seconds']:.3f}", path, speaker, sentence])
            write_text(builder.out / "speechbrain" / f"{split}.csv", buf.getvalue())
        builder.items["speechbrain"] = sum(len(v) for v in rows.values())
        builder.seconds["speechbrain"] = sum(builder.results[j]["seconds"] for v in rows.values() for *_, j in v)

    builder.finalizers.append(finalize)


def plan_omnilingual(builder: Builder) -> None:
    rng = builder.rng("omnilingual")
    n = 2 * builder.scale + 1  # one train/dev/test each at scale 1, ~80/10/10 from scale ~10
    tables: dict[str, list[tuple[str, str, str, str, int]]] = {}  # rel -> rows
    builder.language_codes["omnilingual"] = {lang: lang for lang in OMNILINGUAL_LANGS}
    for lang in OMNILINGUAL_LANGS:
        deck = builder.deck(rng, lang)
        spk = builder.speakers(rng, lang, min(n, 2 + builder.scale // 2),
                            lambda i: f"{rng.getrandbits(48):012x}")
        for split in SPLITS:
            tables[f"omnilingual/data/{lang}/{split}-00000-of-00001.parquet"] = []
        for split in builder.split_list(rng, n):
            uid = f"{rng.getrandbits(64):016x}"
            sp, sentence = rng.choice(spk), deck.next()
            job = builder.clip(rng, "", sp, sentence, "flac", 16000)
            tables[f"omnilingual/data/{lang}/{split}-00000-of-00001.parquet"].append(
                (uid, sentence, lang, sp.sid, job))

    def finalize() -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        features = {"id": {"dtype": "string", "_type": "Value"},
                    "audio": {"sampling_rate": 16000, "_type": "Audio"},
                    "raw_text": {"dtype": "string", "_type": "Value"},
                    "language": {"dtype": "string", "_type": "Value"},
                    "speaker_id": {"dtype": "string", "_type": "Value"}}
        schema = pa.schema(
            [("id", pa.string()), ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
             ("raw_text", pa.string()), ("language", pa.string()), ("speaker_id", pa.string())],
            metadata={"huggingface": json.dumps({"info": {"features": features}}, sort_keys=True)})
        for rel, rows in tables.items():
            table = pa.table({
                "id": [r[0] for r in rows],
                "audio": [{"bytes": builder.results[r[4]]["data"], "path": f"{r[0]}.flac"} for r in rows],
                "raw_text": [r[1] for r in rows], "language": [r[2] for r in rows],
                "speaker_id": [r[3] for r in rows]}, schema=schema)
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, compression="snappy")
            write_bytes(builder.out / rel, sink.getvalue().to_pybytes())
        builder.items["omnilingual"] = sum(len(r) for r in tables.values())
        builder.seconds["omnilingual"] = sum(builder.results[r[4]]["seconds"]
                                          for v in tables.values() for r in v)

    builder.finalizers.append(finalize)
