"""The writers of the field sources in the sample corpus: long unlabelled recordings and community partners'
submissions (as ``public_layouts`` explains, each adds jobs, bad items and a finalizer to the builder)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from omnicorpus.corpus.sample_corpus.builder import Builder
from omnicorpus.corpus.sample_corpus.jobs import ClipJob, LongformJob, seed_of, write_text
from omnicorpus.corpus.sample_corpus.speech import Speaker
from omnicorpus.corpus.sample_corpus.text import Deck

# folder, language, codec, sample rate, channels, file stem
LONGFORM_FOLDERS = (
    ("sw", "swh_Latn", "flac", 22050, 1, "broadcast"),
    ("fr", "fra_Latn", "opus", 48000, 1, "podcast"),
    ("hin", "hin_Deva", "wav", 44100, 2, "lecture"),
    ("und", None, "mp3", 44100, 1, "field_recording"),
)
UND_CANDIDATES = ("kat_Geor", "tha_Thai", "vie_Latn", "tur_Latn", "ell_Grek")
COMMUNITY_LANGS = {"sw-KE": "swh_Latn", "en": "eng_Latn", "bn-IN": "ben_Beng", "ta": "tam_Taml",
                   "mr": "mar_Deva", "xx-XX": None}
COMMUNITY_HEADER = ("file", "language", "speaker", "transcript", "consent", "consent_id", "license",
                    "recording_date", "partner")
_NOT_AUDIO = ("<html><head><title>403 Forbidden</title></head>\n<body><h1>Forbidden</h1>"
              "<p>You don't have permission to access this resource.</p></body></html>\n")


def plan_longform(builder: Builder) -> None:
    rng = builder.rng("longform")
    per_folder = 1 + (builder.scale - 1) // 2
    jobs: list[tuple[str, int]] = []
    builder.language_codes["longform"] = {f: lang for f, lang, *_ in LONGFORM_FOLDERS}
    for folder, lang, fmt, sr, channels, stem in LONGFORM_FOLDERS:
        for i in range(per_folder):
            language = lang or rng.choice(UND_CANDIDATES)
            builder.languages.add(language)
            spk = builder.speakers(rng, language, rng.randint(1, 2), f"{folder}{i}-{{}}".format)
            target = rng.uniform(60.5, 66.0) if builder.scale == 1 else rng.uniform(60.0, 180.0)
            rel = f"longform/{folder}/{stem}_{i + 1:03d}.{fmt}"
            job = builder.job(LongformJob(rel, tuple(spk), tuple(builder.by_lang[language]), round(target, 2),
                                       fmt, sr, channels, seed_of(builder.seed, rel)))
            jobs.append((rel, job))
            builder.longform_languages[rel] = language

    def finalize() -> None:
        for rel, job in jobs:
            builder.longform_speech[rel] = builder.results[job]["spans"]
        builder.items["longform"] = len(jobs)
        builder.seconds["longform"] = sum(builder.results[j]["seconds"] for _, j in jobs)

    builder.finalizers.append(finalize)


def plan_community(builder: Builder) -> None:
    rng = builder.rng("community")
    s = builder.scale
    builder.language_codes["community"] = dict(COMMUNITY_LANGS)
    decks: dict[str, Deck] = {}
    pools: dict[tuple[str, str], list[Speaker]] = {}
    subs: dict[str, list[dict[str, Any]]] = {}
    day0 = date(2024, 1, 8)
    rates = {"wav": 16000, "flac": 48000, "mp3": 44100}

    def speaker(partner: str, code: str) -> Speaker:
        lang = COMMUNITY_LANGS[code] or "tam_Taml"  # what the `xx-XX` row really speaks
        if (partner, lang) not in pools:
            prefix, first = ("AV-S", 1) if partner == "afrivoice" else ("IVT-", 101)
            first += 10 * len(pools)
            pools[(partner, lang)] = builder.speakers(rng, lang, 2, lambda i: f"{prefix}{first + i:04d}")
            if lang not in decks:
                decks[lang] = builder.deck(rng, lang)
        return rng.choice(pools[(partner, lang)])

    plan = (  # partner, submission, language codes of the ordinary rows, audio formats, bad rows
        ("afrivoice", "AV-2024-0007", ["sw-KE", "sw-KE", "en"] * s, ("mp3", "mp3", "wav"),
         [("sw-KE", "textwav"), ("sw-KE", "noconsent")]),
        ("indicvoices-trust", "IVT-2024-031", ["bn-IN", "ta"] * s, ("wav", "flac"),
         [("bn-IN", "multichannel")]),
        ("indicvoices-trust", "IVT-2024-044", ["mr", "ta"] * s, ("flac", "wav", "wav"),
         [("xx-XX", "unknown")]),
    )
    for partner, sub, codes, formats, bad in plan:
        base = f"community/{partner}/{sub}"
        listed = f"{base}/metadata.csv"
        n_empty = 0 if sub == "IVT-2024-031" else max(1, round(0.2 * len(codes)))
        empty = set(rng.sample(range(len(codes)), n_empty))
        rows: list[dict[str, Any]] = []
        for i, (code, what) in enumerate([(c, "ok") for c in codes] + bad):
            sp = speaker(partner, code)
            sentence = decks[sp.language].next()
            fmt = "wav" if what in ("textwav", "multichannel") else rng.choice(formats)
            if what == "multichannel":
                name = "studio_take_01.wav"
            elif partner == "afrivoice":
                name = f"rec_{i + 1:04d}.{fmt}"
            else:
                name = f"{sp.sid.lower()}_{i + 1:03d}.{fmt}"
            rel = f"{base}/{name}"
            row: dict[str, Any] = {
                "file": name, "language": code, "speaker": sp.sid,
                "transcript": "" if i in empty else sentence,
                "consent": "no" if what == "noconsent" else "yes",
                "consent_id": f"{sub.split('-')[0]}-C{rng.randrange(10**5, 10**6)}",
                "license": "CC-BY-4.0",
                "recording_date": (day0 + timedelta(days=rng.randrange(0, 300))).isoformat(),
                "partner": partner, "job": None}
            if what == "textwav":
                builder.add_bad("community", rel, "a text file (an HTML error page) named .wav", "ingest",
                             "decode_error", listed)
            elif what == "multichannel":
                row["job"] = builder.job(ClipJob(rel, sp.say(rng, sentence), "wav", 96000,
                                              seed_of(builder.seed, rel), channels=8, lead=0.4, trail=0.4,
                                              noise_db=-58.0, level=0.7))
                builder.add_bad("community", rel, "96 kHz 8-channel WAV with speech", None, None, listed,
                             note="accepted")
            else:
                row["job"] = builder.clip(rng, rel, sp, sentence, fmt, rates[fmt])
                if what == "noconsent":
                    builder.add_bad("community", rel, "community row with consent 'no'", "community",
                                 "no_consent", listed)
                elif what == "unknown":
                    builder.add_bad("community", rel, "community row with unknown language code 'xx-XX'",
                                 "ingest", "unknown_language", listed, actual_language=sp.language)
            rows.append(row)
        subs[base] = rows

    def finalize() -> None:
        seconds = 0.0
        for base, rows in subs.items():
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(COMMUNITY_HEADER)
            for row in rows:
                w.writerow([row[k] for k in COMMUNITY_HEADER])
                if row["job"] is None:
                    write_text(builder.out / base / row["file"], _NOT_AUDIO)
                else:
                    seconds += builder.results[row["job"]]["seconds"]
            write_text(builder.out / base / "metadata.csv", buf.getvalue())
        builder.items["community"] = sum(len(r) for r in subs.values())
        builder.seconds["community"] = seconds

    builder.finalizers.append(finalize)
