"""Regenerates the phrase set: 16 short English voice commands spoken by SVOX Pico (offline TTS).

    python data/phrases/make_phrases.py

Used by the CPU smoke config (finetune/configs/cpu_smoke.yaml) and the learning-proof test: a model
fine-tuned on these must reproduce them.
"""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from granite_workbench.synth import speak

HERE = Path(__file__).resolve().parent
PHRASES = [
    "turn on the kitchen lights",
    "set a timer for ten minutes",
    "what is the weather tomorrow",
    "play some jazz music",
    "call the front desk",
    "book a table for two",
    "remind me to buy milk",
    "open the garage door",
    "lower the volume please",
    "start the washing machine",
    "how far is the airport",
    "send a message to anna",
    "close all the blinds",
    "add eggs to the shopping list",
    "wake me up at seven",
    "read the latest news",
]


def main() -> None:
    rows = []
    for i, text in enumerate(PHRASES):
        name = f"phrase{i:02d}.flac"
        sf.write(HERE / name, speak(text, "en", rate=95 + 5 * (i % 3)), 16000, format="FLAC")
        rows.append({"audio": name, "text": text, "task": "asr", "language": "en"})
    (HERE / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} clips and train.jsonl to {HERE}")


if __name__ == "__main__":
    main()
