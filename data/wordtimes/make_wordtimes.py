"""Regenerates the word-timing set: words spoken one at a time by SVOX Pico, joined with measured silences, so
every word's start and end is known to the sample.

    python data/wordtimes/make_wordtimes.py

`train.jsonl` (24 clips) teaches the tiny model's CTC head these words (`--train_ctc`); `test.jsonl` (6 clips in
new orders, with new pauses) carries each word's true times in `words` ([start, end, word], seconds): the word
timestamps test checks the aligned times against them (tests/test_decoding.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import soundfile as sf

from granite_workbench.synth import speak

HERE = Path(__file__).resolve().parent
WORDS = ["red", "green", "seven", "kitchen", "music", "window", "table", "morning", "paper", "yellow"]
RATE = 16000


def speech_span(x: np.ndarray, threshold: float = 0.02) -> tuple[int, int]:
    """First and last sample of the 10 ms frames louder than `threshold` of the loudest frame."""
    n = len(x) // 160
    rms = np.sqrt((x[: n * 160].reshape(n, 160) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > threshold * rms.max())
    return int(loud[0] * 160), int((loud[-1] + 1) * 160)


def clip(words: list[str], recordings: dict[str, np.ndarray], rng: random.Random) -> tuple[np.ndarray, list]:
    parts, times, t = [], [], 0
    for w in words:
        gap = np.zeros(int(RATE * rng.uniform(0.1, 0.4)), dtype=np.float32)
        parts += [gap, recordings[w]]
        t += len(gap)
        times.append([round(t / RATE, 3), round((t + len(recordings[w])) / RATE, 3), w])
        t += len(recordings[w])
    parts.append(np.zeros(int(RATE * rng.uniform(0.1, 0.3)), dtype=np.float32))
    return np.concatenate(parts), times


def main() -> None:
    rng = random.Random(0)
    recordings = {}
    for w in WORDS:
        x = speak(w, "en")
        s, e = speech_span(x)
        recordings[w] = x[s:e].astype(np.float32)
    for split, n in (("train", 24), ("test", 6)):
        rows = []
        for i in range(n):
            words = rng.sample(WORDS, rng.randint(3, 4))
            audio, times = clip(words, recordings, rng)
            name = f"{split}{i:02d}.flac"
            sf.write(HERE / name, audio, RATE, format="FLAC", subtype="PCM_16")
            row = {"audio": name, "text": " ".join(words), "task": "asr", "language": "en"}
            rows.append(row if split == "train" else {**row, "words": times})
        (HERE / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote the word-timing set to {HERE}")


if __name__ == "__main__":
    main()
