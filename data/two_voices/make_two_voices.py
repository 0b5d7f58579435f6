"""Regenerates the two-voice dialogue set: two spoken phrases per clip, one by each of two voices (SVOX Pico en-US
and espeak-ng), joined with measured silences, with the speaker turns and their times as truth.

    python data/two_voices/make_two_voices.py

Train: 16 dialogues; test: 6 held-out dialogues (other pairs of the same phrases and voices). Used to fine-tune
the 4.1-2b-plus architecture's speaker mode (`asr_speakers`, the manifest's `speakers` column) and by its learning
proof (tests/test_finetune_plus.py): an adapter must keep writing `[Speaker N]:` turns.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from granite_workbench.paths import project_path
from granite_workbench.synth import speak

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(project_path("data/phrases")))
from make_phrases import PHRASES  # noqa: E402

RATE = 16_000
VOICES = {"pico": dict(engine="pico"), "espeak": dict(engine="espeak", pitch=70)}
LEAD, GAP = 0.25, 0.6  # seconds of silence before the first turn and between turns (and after the last)


def dialogue(first: str, second: str, voices: tuple[str, str]) -> tuple[np.ndarray, list[dict]]:
    parts, turns, t = [np.zeros(int(LEAD * RATE), np.float32)], [], LEAD
    for text, voice in zip((first, second), voices):
        speech = speak(text, "en", **VOICES[voice])
        turns.append({"speaker": voice, "text": text, "start": round(t, 3), "end": round(t + len(speech) / RATE, 3)})
        parts += [speech, np.zeros(int(GAP * RATE), np.float32)]
        t += len(speech) / RATE + GAP
    return np.concatenate(parts), turns


def main() -> None:
    rng = random.Random(7)
    pairs = [(a, b) for a in range(len(PHRASES)) for b in range(len(PHRASES)) if a != b]
    rng.shuffle(pairs)
    for split, chosen in (("train", pairs[:16]), ("test", pairs[16:22])):
        rows = []
        for k, (a, b) in enumerate(chosen):
            voices = ("pico", "espeak") if k % 2 == 0 else ("espeak", "pico")
            samples, turns = dialogue(PHRASES[a], PHRASES[b], voices)
            name = f"{split}{k:02d}.flac"
            sf.write(HERE / name, samples, RATE)
            rows.append({"audio": name, "task": "asr_speakers", "language": "en", "speakers": turns})
        (HERE / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {HERE}")


if __name__ == "__main__":
    main()
