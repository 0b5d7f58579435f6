"""Regenerates the demo's example clips with offline TTS (SVOX Pico).

python data/examples/make_examples.py
"""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from granite_workbench.synth import speak

HERE = Path(__file__).resolve().parent
CLIPS = [
    # file, language, text, keywords
    (
        "en_welcome.flac",
        "en",
        "Welcome to the Granite speech workbench. Today we adapt a speech model to "
        "our own domain with a small LoRA adapter.",
        [],
    ),
    ("es_reunion.flac", "es", "Buenos días. La reunión de hoy empieza a las diez y termina al mediodía.", []),
    ("fr_bonjour.flac", "fr", "Bonjour à tous. Le rapport trimestriel sera présenté jeudi prochain.", []),
    ("de_wetter.flac", "de", "Guten Morgen. Morgen wird es in Berlin sonnig und warm.", []),
    (
        "en_cardiology.flac",
        "en",
        "The patient was started on metoprolol and atorvastatin after the "
        "echocardiogram showed mild left ventricular hypertrophy.",
        ["metoprolol", "atorvastatin", "echocardiogram", "hypertrophy"],
    ),
]


def main() -> None:
    index = []
    for name, lang, text, keywords in CLIPS:
        sf.write(HERE / name, speak(text, lang), 16000, format="FLAC")
        index.append({"audio": name, "language": lang, "text": text, "keywords": keywords})
    (HERE / "examples.json").write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(index)} clips to {HERE}")


if __name__ == "__main__":
    main()
