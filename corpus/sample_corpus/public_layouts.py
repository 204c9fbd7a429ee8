"""The writers of the public corpora's layouts in the sample corpus: Common Voice, FLEURS and LibriSpeech.

Each ``plan_*`` adds the source's synthesis jobs to the builder, with its documented bad items among the good
ones (they draw from the same seeded stream, so where they stand in it is part of the output), and a
finalizer that writes the listings once the audio exists.
"""

from __future__ import annotations

import hashlib

from omnicorpus.corpus.sample_corpus.builder import SPLITS, BadItem, Builder
from omnicorpus.corpus.sample_corpus.jobs import ClipJob, SilenceJob, seed_of, write_bytes, write_text
from omnicorpus.corpus.sample_corpus.speech import Speaker
from omnicorpus.corpus.sample_corpus.text import fleurs_normalize, librispeech_normalize

CV_LOCALES = {
    "sv-SE": "swe_Latn", "zh-TW": "cmn_Hant", "ru": "rus_Cyrl", "uk": "ukr_Cyrl", "es": "spa_Latn",
    "it": "ita_Latn", "pt": "por_Latn", "pl": "pol_Latn", "tr": "tur_Latn", "fa": "pes_Arab",
    "ka": "kat_Geor",
}
FLEURS_CODES = {
    "en_us": "eng_Latn", "hi_in": "hin_Deva", "ar_eg": "arb_Arab", "cmn_hans_cn": "cmn_Hans",
    "el_gr": "ell_Grek", "fr_fr": "fra_Latn", "de_de": "deu_Latn", "vi_vn": "vie_Latn",
    "sw_ke": "swh_Latn", "bn_in": "ben_Beng", "ta_in": "tam_Taml", "th_th": "tha_Thai",
    "he_il": "heb_Hebr", "ko_kr": "kor_Hang", "ja_jp": "jpn_Jpan", "mr_in": "mar_Deva",
    "ur_pk": "urd_Arab", "bg_bg": "bul_Cyrl", "hu_hu": "hun_Latn", "fi_fi": "fin_Latn",
    "cs_cz": "ces_Latn", "nl_nl": "nld_Latn", "id_id": "ind_Latn", "yue_hant_hk": "yue_Hant",
}
CV_HEADER = ("client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
             "age", "gender", "accents", "variant", "locale", "segment")


def plan_cv(builder: Builder) -> None:
    rng = builder.rng("cv")
    n = 2 * builder.scale + 1  # one train/dev/test each at scale 1, ~80/10/10 from scale ~10
    ages = ("", "twenties", "thirties", "fourties", "fifties", "sixties", "teens")
    rows_by_locale: dict[str, list[tuple[str, list[str], int | None]]] = {}  # (split, fields, job)
    clip_jobs: dict[str, int] = {}
    copies: list[tuple[str, str]] = []  # (from rel, to rel): identical bytes under a second name
    zero: list[str] = []
    builder.language_codes["cv"] = dict(CV_LOCALES)
    for locale, lang in CV_LOCALES.items():
        sr = rng.choice((48000, 32000))
        base = f"common_voice/{locale}"
        def client_id(i: int, loc: str = locale) -> str:
            return hashlib.sha512(f"{builder.seed}:{loc}:{i}".encode()).hexdigest()

        spk = builder.speakers(rng, lang, min(n, 2 + builder.scale // 2), client_id)
        meta: dict[str, tuple[str, str]] = {}
        for sp in spk:
            gender = "male_masculine" if sp.gender == "male" else "female_feminine"
            meta[sp.sid] = (rng.choice(ages), rng.choice((gender, gender, "")))
        deck = builder.deck(rng, lang)
        numbers = rng.sample(range(17_000_000, 42_000_000), n + 2)
        rows: list[tuple[str, list[str], int | None]] = []

        def fields(sp: Speaker, name: str, sentence: str, loc: str = locale,
                   meta: dict[str, tuple[str, str]] = meta) -> list[str]:
            age, gender = meta[sp.sid]
            return [sp.sid, name, hashlib.sha256(sentence.encode()).hexdigest(), sentence, "",
                    str(rng.randint(2, 5)), str(rng.randint(0, 1)), age, gender, "", "", loc, ""]

        for i, split in enumerate(builder.split_list(rng, n)):
            sp, sentence = rng.choice(spk), deck.next()
            name = f"common_voice_{locale}_{numbers[i]}.mp3"
            rel = f"{base}/clips/{name}"
            clip_jobs[rel] = builder.clip(rng, rel, sp, sentence, "mp3", sr)
            rows.append((split, fields(sp, name, sentence), clip_jobs[rel]))
        orig = next(r for s, r, _ in rows if s == "train")
        orig_rel = f"{base}/clips/{orig[1]}"
        orig_speaker = next(sp for sp in spk if sp.sid == orig[0])
        if locale == "sv-SE":
            name = f"common_voice_{locale}_{numbers[n]}.mp3"
            rows.append(("train", fields(rng.choice(spk), name, deck.next()), None))
            zero.append(f"{base}/clips/{name}")
            builder.add_bad("cv", f"{base}/clips/{name}", "zero-byte MP3 listed in train.tsv", "ingest",
                         "empty_file", f"{base}/train.tsv")
        elif locale in ("es", "it", "pl"):
            split, sentence, what, reason = {
                "es": ("dev", orig[3], "same clip bytes as a train clip, in dev, same transcript",
                       "split_leak"),
                "it": ("test", deck.next(avoid=orig[3]),
                       "same clip bytes as a train clip, in test, different transcript",
                       "transcript_conflict"),
                "pl": ("train", orig[3], "same clip bytes as another train clip under a later name",
                       "duplicate"),
            }[locale]
            num = numbers[n + 1]
            if locale == "pl":  # the copy must sort after the original (same digit count)
                taken = set(numbers)
                num = int(orig[1][len(f"common_voice_{locale}_"):-4]) + 1
                while num in taken:
                    num += 1
            name = f"common_voice_{locale}_{num}.mp3"
            rows.append((split, fields(orig_speaker, name, sentence), None))
            copies.append((orig_rel, f"{base}/clips/{name}"))
            if split == "train":  # within one split the later name goes
                builder.add_bad("cv", f"{base}/clips/{name}", what, "dedup", reason, f"{base}/{split}.tsv",
                             duplicate_of=orig_rel)
            else:  # across splits the held-out copy stays (test over dev over train): the train one goes
                builder.add_bad("cv", orig_rel, what, "dedup", reason, f"{base}/train.tsv",
                             duplicate_of=f"{base}/clips/{name}")
        rows_by_locale[locale] = rows

    def finalize() -> None:
        for rel in zero:
            write_bytes(builder.out / rel, b"")
        for src, dst in copies:
            write_bytes(builder.out / dst, (builder.out / src).read_bytes())
        header = "\t".join(CV_HEADER) + "\n"
        for locale, rows in rows_by_locale.items():
            base = builder.out / "common_voice" / locale
            for split in SPLITS:
                lines = "".join("\t".join(r) + "\n" for s, r, _ in rows if s == split)
                write_text(base / f"{split}.tsv", header + lines)
            write_text(base / "validated.tsv", header + "".join("\t".join(r) + "\n" for _, r, _ in rows))
        builder.items["cv"] = sum(len(rows) for rows in rows_by_locale.values())
        builder.seconds["cv"] = (sum(builder.results[j]["seconds"] for j in clip_jobs.values())
                              + sum(builder.results[clip_jobs[src]]["seconds"] for src, _ in copies))

    builder.finalizers.append(finalize)


def plan_fleurs(builder: Builder) -> None:
    rng = builder.rng("fleurs")
    n = 2 * builder.scale + 1  # one train/dev/test each at scale 1, ~80/10/10 from scale ~10
    plans: dict[str, list[tuple[str, list[str], int, str]]] = {}  # code -> (split, fields, job, enc)
    builder.language_codes["fleurs"] = dict(FLEURS_CODES)
    eng = builder.speakers(rng, "eng_Latn", 1, lambda i: f"fleurs-en-{i}")[0]
    for code, lang in FLEURS_CODES.items():
        spk = builder.speakers(rng, lang, min(n, 2 + builder.scale // 2), f"{code}-{{}}".format)
        deck = builder.deck(rng, lang)
        index = {s: 1000 + k for k, s in enumerate(builder.by_lang[lang])}
        entries: list[tuple[str, Speaker, str, str, int]] = []
        for split in builder.split_list(rng, n):
            s = deck.next()
            entries.append((split, rng.choice(spk), s, "utf-8", index[s]))
        if code == "fr_fr":  # one row whose line is Latin-1 encoded
            accented = [s for s in builder.by_lang[lang] if not s.isascii()]
            s = rng.choice(accented)
            entries.append(("train", rng.choice(spk), s, "latin-1", index[s]))
        if code == "de_de":  # English audio + English transcript filed under German
            s = rng.choice(builder.by_lang["eng_Latn"])
            entries.append(("train", eng, s, "utf-8", 1000 + builder.by_lang["eng_Latn"].index(s)))
        rows = []
        used: set[str] = set()
        for split, speaker, sentence, enc, sid in entries:
            name = f"{rng.randrange(10**18, 10**19)}.wav"
            while name in used:
                name = f"{rng.randrange(10**18, 10**19)}.wav"
            used.add(name)
            rel = f"fleurs/{code}/audio/{split}/{name}"
            job = builder.clip(rng, rel, speaker, sentence, "wav", 16000)
            norm = fleurs_normalize(sentence)
            chars = " ".join("|" if c == " " else c for c in norm) + " |"
            fields = [str(sid), name, sentence, norm, chars, "", speaker.gender.upper()]
            rows.append((split, fields, job, enc))
            if enc != "utf-8":
                builder.add_bad("fleurs", rel, "transcript line encoded as Latin-1 inside train.tsv",
                             "ingest", "transcript_not_utf8", f"fleurs/{code}/train.tsv", encoding=enc)
            elif speaker is eng:
                builder.add_bad("fleurs", rel, "German (de_de) row whose audio and transcript are English",
                             "langid", "lid_mismatch", f"fleurs/{code}/train.tsv",
                             actual_language="eng_Latn")
        plans[code] = rows

    def finalize() -> None:
        seconds = 0.0
        for code, rows in plans.items():
            for split in SPLITS:
                data = b""
                for s, fields, job, enc in rows:
                    if s == split:
                        fields[5] = str(builder.results[job]["frames"])
                        data += ("\t".join(fields) + "\n").encode(enc)
                write_bytes(builder.out / "fleurs" / code / f"{split}.tsv", data)
            seconds += sum(builder.results[job]["seconds"] for _, _, job, _ in rows)
        builder.items["fleurs"] = sum(len(r) for r in plans.values())
        builder.seconds["fleurs"] = seconds

    builder.finalizers.append(finalize)


def plan_librispeech(builder: Builder) -> None:
    rng = builder.rng("librispeech")
    s = builder.scale
    lang = "eng_Latn"
    builder.language_codes["librispeech"] = {"en": lang}
    deck = builder.deck(rng, lang)
    ids = iter(rng.sample(range(19, 9000), 64 + 3 * s))
    chapters = iter(rng.sample(range(1000, 200000), 128 + 6 * s))
    speakers_txt: list[tuple[int, str, str]] = []  # (speaker, sex, subset)
    truncated: list[tuple[BadItem, int]] = []
    trans: dict[str, list[tuple[str, str, int]]] = {}  # trans.txt rel -> (utt id, text, job)
    for subset, n, n_spk in (("train-clean-100", 3 * s, max(2, s)), ("dev-clean", s + 1, max(1, s // 2)),
                             ("test-clean", s + 1, max(1, s // 2))):
        spk = builder.speakers(rng, lang, n_spk, lambda i: str(next(ids)))
        slots = [(sp, next(chapters)) for sp in spk for _ in range(2 if s >= 4 else 1)]
        counters: dict[tuple[str, int], int] = {}
        for sp in spk:
            speakers_txt.append((int(sp.sid), "M" if sp.gender == "male" else "F", subset))

        def place(slot: tuple[Speaker, int], subset: str = subset,
                  counters: dict[tuple[str, int], int] = counters) -> tuple[str, str]:
            sp, ch = slot
            k = counters.get((sp.sid, ch), 0)
            counters[(sp.sid, ch)] = k + 1
            utt_id = f"{sp.sid}-{ch}-{k:04d}"
            return utt_id, f"librispeech/{subset}/{sp.sid}/{ch}"

        for i in range(n):
            slot = slots[i % len(slots)]
            utt_id, folder = place(slot)
            sentence = deck.next()
            job = builder.clip(rng, f"{folder}/{utt_id}.flac", slot[0], sentence, "flac", 16000)
            trans.setdefault(f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt", []).append(
                (utt_id, librispeech_normalize(sentence), job))
        slot = slots[0]
        if subset == "train-clean-100":
            utt_id, folder = place(slot)
            rel = f"{folder}/{utt_id}.flac"
            sentence = deck.next()
            job = builder.job(ClipJob(rel, slot[0].say(rng, sentence), "flac", 16000,
                                   seed_of(builder.seed, rel), level=0.8, truncate=0.6))
            bad = builder.add_bad("librispeech", rel,
                               "FLAC cut to 60% of its bytes (STREAMINFO keeps the full length)",
                               "ingest", "decode_error", f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt")
            truncated.append((bad, job))
            trans[f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt"].append(
                (utt_id, librispeech_normalize(sentence), job))
        if subset == "test-clean":
            utt_id, folder = place(slot)
            rel = f"{folder}/{utt_id}.flac"
            job = builder.job(SilenceJob(rel, round(rng.uniform(2.5, 4.0), 2), 16000, "flac"))
            builder.add_bad("librispeech", rel, "pure digital silence with a transcript", "segment",
                         "no_speech", f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt")
            trans[f"{folder}/{slot[0].sid}-{slot[1]}.trans.txt"].append(
                (utt_id, librispeech_normalize(deck.next()), job))

    def finalize() -> None:
        for bad, job in truncated:
            bad.extra["full_bytes"] = builder.results[job]["full_bytes"]
        minutes: dict[int, float] = {}
        for rel, lines in trans.items():
            write_text(builder.out / rel, "".join(f"{u} {t}\n" for u, t, _ in sorted(lines)))
            for u, _, job in lines:
                spk = int(u.split("-")[0])
                minutes[spk] = minutes.get(spk, 0.0) + builder.results[job]["seconds"] / 60
        head = ("; Synthesized speakers of the omnicorpus sample corpus (espeak-ng voices)\n"
                ";ID  |SEX| SUBSET           |MINUTES| NAME\n")
        body = "".join(f"{spk:<5}| {sex} | {subset:<16} | {minutes.get(spk, 0.0):5.2f} | Reader {spk}\n"
                       for spk, sex, subset in sorted(speakers_txt))
        write_text(builder.out / "librispeech" / "SPEAKERS.TXT", head + body)
        builder.items["librispeech"] = sum(len(v) for v in trans.values())
        builder.seconds["librispeech"] = sum(builder.results[j]["seconds"]
                                          for v in trans.values() for *_, j in v)

    builder.finalizers.append(finalize)
