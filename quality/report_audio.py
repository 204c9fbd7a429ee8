"""The report's audio quality section: the distributions of the quality signals (manifests.schema.QUALITY_SIGNALS)
per corpus and language, with the floors the filter applied, and notes where a part of the release is narrow-band
or noisy."""

from __future__ import annotations

import polars as pl

from omnicorpus.manifests.schema import QUALITY_COLUMNS
from omnicorpus.quality.charts import histogram_chart
from omnicorpus.quality.formatting import escape, fmt_hours
from omnicorpus.quality.page import Col, sortable_table
from omnicorpus.quality.report_data import ReportData, language_label

#: Below this effective bandwidth an utterance counts as narrow-band (8 kHz audio upsampled reads about 4 kHz).
NARROWBAND_HZ = 4500.0
#: Below this SNR an utterance counts as noisy.
NOISY_DB = 10.0
#: A corpus and language with more than this share of narrow-band or noisy hours gets a note.
NOTE_SHARE = 0.5


def _floors(data: ReportData) -> dict[str, float | None]:
    filt = (data.info.get("params") or {}).get("filter") or {}
    return {name: filt.get(name) for name in
            ("min_snr_db", "min_bandwidth_hz", "max_dc_offset", "max_silence_seconds", "min_speech_ratio")}


def _per_group(u: pl.DataFrame) -> pl.DataFrame:
    hours = pl.col("seconds") / 3600
    return (u.group_by("corpus", "lang")
            .agg(pl.len().alias("utterances"), hours.sum().alias("hours"),
                 pl.col("snr_db").quantile(0.1).alias("snr_p10"), pl.col("snr_db").median().alias("snr_median"),
                 pl.col("bandwidth_hz").median().alias("band_median"),
                 (hours.filter(pl.col("bandwidth_hz") < NARROWBAND_HZ).sum() / hours.sum()).alias("narrow"),
                 (hours.filter(pl.col("snr_db") < NOISY_DB).sum() / hours.sum()).alias("noisy"),
                 pl.col("speech_ratio").median().alias("speech_median"),
                 pl.col("max_silence_seconds").max().alias("silence_max"),
                 pl.col("dc_offset").abs().max().alias("dc_max"),
                 (hours.filter(pl.col("clip_fraction") > 0).sum() / hours.sum()).alias("clipped"))
            .sort("corpus", "lang"))


def _notes(data: ReportData, g: pl.DataFrame) -> None:
    for r in g.iter_rows(named=True):
        where = f"<code>{escape(r['corpus'])}</code> / <code>{escape(r['lang'])}</code>"
        if (r["narrow"] or 0.0) > NOTE_SHARE:
            data.notes.append(
                f"{100 * r['narrow']:.0f} % of the hours of {where} are narrow-band (bandwidth under "
                f"{NARROWBAND_HZ / 1000:g} kHz: 8 kHz audio upsampled, or a low-bitrate codec).")
        if (r["noisy"] or 0.0) > NOTE_SHARE:
            data.notes.append(f"{100 * r['noisy']:.0f} % of the hours of {where} are noisy (SNR under "
                              f"{NOISY_DB:g} dB).")


def audio_quality_section(data: ReportData) -> str:
    u = data.utterances
    if u.is_empty() or all(u[name].null_count() == u.height for name in QUALITY_COLUMNS):
        return ('<p class="muted">This release holds no quality signals (made before schema 1.8, or simulated): '
                "rebuild it to see them.</p>")
    g = _per_group(u)
    _notes(data, g)
    floors = _floors(data)
    applied = [f"<code>{name}: {value:g}</code>" for name, value in floors.items() if value is not None]
    cols = [Col("Corpus", "code"), Col("Language", "code"), Col("Name"), Col("Utterances", "int"),
            Col("Hours", "hours"),
            Col("SNR p10", "float", "dB: a tenth of the utterances are noisier than this"),
            Col("SNR median", "float", "dB"), Col("Noisy", "pct", f"share of the hours under {NOISY_DB:g} dB SNR"),
            Col("Bandwidth median", "int", "Hz"),
            Col("Narrow-band", "pct", f"share of the hours under {NARROWBAND_HZ:g} Hz of bandwidth"),
            Col("Speech ratio median", "pct", "share of an utterance that the VAD marked as speech"),
            Col("Longest silence", "float", "seconds: the longest non-speech stretch inside an utterance"),
            Col("Max |DC|", "prob", "largest mean sample value of an utterance, full scale 1.0"),
            Col("Clipped", "pct", "share of the hours from recordings with clipped samples")]
    rows = [(r["corpus"], r["lang"], language_label(r["lang"]), r["utterances"], r["hours"], r["snr_p10"],
             r["snr_median"], r["noisy"], r["band_median"], r["narrow"], r["speech_median"], r["silence_max"],
             r["dc_max"], r["clipped"]) for r in g.iter_rows(named=True)]
    charts = []
    snr = u["snr_db"].drop_nulls().to_numpy().astype(float)
    band = u["bandwidth_hz"].drop_nulls().to_numpy().astype(float)
    if snr.size:
        charts.append("<h3>SNR</h3>" + histogram_chart(
            snr, hi=60.0, bins=30, bound=floors["min_snr_db"], lower_bound=True,
            bound_label=f"min {floors['min_snr_db']:g} dB" if floors["min_snr_db"] is not None else "",
            unit="dB (below 0 in the first bar)", label="SNR of the utterances"))
    if band.size:
        charts.append("<h3>Effective bandwidth</h3>" + histogram_chart(
            band, hi=8000.0, bins=32, bound=floors["min_bandwidth_hz"], lower_bound=True,
            bound_label=f"min {floors['min_bandwidth_hz']:g} Hz" if floors["min_bandwidth_hz"] is not None else "",
            unit="Hz", label="Effective bandwidth of the utterances"))
    hours = float(u["seconds"].sum()) / 3600
    return (data.sample_note
            + f"<p>Measured on each utterance's audio without any model ({u.height:,} utterances, "
            f"{fmt_hours(hours)} h): SNR (speech power over the recording's non-speech floor, WADA's estimate "
            "where there is none), effective bandwidth (the highest frequency within 50 dB of the strongest band), "
            "the share marked as speech, the longest silence inside, the DC offset and clipping. Floors the filter "
            f"applied: {', '.join(applied) if applied else 'none (the signals are measured and shown only)'}; "
            "what they rejected is under Rejects.</p>"
            + sortable_table(cols, rows, tid="audio-quality-table") + "".join(charts))
