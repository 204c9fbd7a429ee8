"""What a sample corpus build says about itself: the contents of MANIFEST.json and the pipeline config
omnicorpus.yaml that lists its sources."""

from __future__ import annotations

from typing import Any

from omnicorpus.corpus.sample_corpus.builder import Builder
from omnicorpus.corpus.sample_corpus.text import script_of

GENERATOR = "omnicorpus sample-corpus"

# name, layout, path, license, default language, labelled
SOURCES: tuple[tuple[str, str, str, str, str | None, bool], ...] = (
    ("cv", "common_voice", "common_voice", "CC0-1.0", None, True),
    ("fleurs", "fleurs", "fleurs", "CC-BY-4.0", None, True),
    ("librispeech", "librispeech", "librispeech", "CC-BY-4.0", None, True),  # the layout implies English
    ("kaldi", "kaldi", "kaldi", "CC-BY-4.0", "hi", True),
    ("longform", "longform", "longform", "CC-BY-4.0", None, False),
    ("community", "community", "community", "CC-BY-4.0", None, True),
    ("omnilingual", "hf_parquet", "omnilingual", "CC-BY-4.0", None, True),
    ("speechbrain", "folder", "speechbrain", "CC-BY-4.0", "fr", True),
)


def manifest_of(builder: Builder) -> dict[str, Any]:
    """MANIFEST.json's contents, once `builder` has run."""
    sources = [{"name": n, "layout": lay, "path": p, "license": lic, "language": lang, "labelled": lab}
               for n, lay, p, lic, lang, lab in SOURCES]
    return {
        "generator": GENERATOR, "scale": builder.scale, "seed": builder.seed, "sources": sources,
        "languages": sorted(builder.languages),
        "scripts": sorted({script_of(lang) for lang in builder.languages}),
        "items": {n: builder.items[n] for n, *_ in SOURCES},
        "seconds": {n: round(builder.seconds[n], 3) for n, *_ in SOURCES},
        "total_seconds": round(sum(builder.seconds.values()), 3),
        "bad_items": [b.as_dict() for b in sorted(builder.bad, key=lambda b: (b.source, b.path))],
        "longform_speech": dict(sorted(builder.longform_speech.items())),
        "longform_languages": dict(sorted(builder.longform_languages.items())),
        "language_codes": builder.language_codes,
    }


def config_yaml(seed: int, scale: int) -> str:
    lines = [f"# Sample corpus written by `omnicorpus sample-corpus` (seed {seed}, scale {scale})",
             "sources:"]
    for name, layout, path, lic, lang, labelled in SOURCES:
        parts = [f"name: {name}", f"layout: {layout}", f"path: {path}", f"license: {lic}"]
        if lang is not None:
            parts.append(f"language: {lang}")
        parts.append(f"labelled: {'true' if labelled else 'false'}")
        lines.append("  - {" + ", ".join(parts) + "}")
    return "\n".join(lines) + "\n"
