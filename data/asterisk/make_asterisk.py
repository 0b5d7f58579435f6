"""Converts Debian's asterisk-core-sounds recorded prompts into a real-speech evaluation split.

    python data/asterisk/make_asterisk.py [--out DIR] [--per-language 15]

Needs the Debian packages asterisk-core-sounds-{en,es,fr} and their -g722 variants (16 kHz G.722;
installed by `bash scripts/setup.sh --dev`). Picks, per language, the first prompts (by name) whose
transcript has 4 to 20 words and no bracketed note, converts them to 16 kHz FLAC and writes test.jsonl.
Italian prompts exist too but are left out: Granite Speech does not transcribe Italian.
Licenses: CC-BY-SA-3.0 (en, es: Allison Smith; fr: June Wallack) — see LICENSE.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

import soundfile as sf

from granite_workbench.audio import load_audio

HERE = Path(__file__).resolve().parent
SOUNDS = Path("/usr/share/asterisk/sounds")
VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}


def transcripts(lang: str) -> dict[str, str]:
    doc = Path(f"/usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz")
    if not doc.exists():
        raise SystemExit(f"asterisk-core-sounds-{lang} is not installed (apt-get install asterisk-core-sounds-{lang}).")
    out = {}
    for line in gzip.open(doc, "rt", encoding="utf-8", errors="replace"):
        m = re.match(r"^([\w-]+):\s*(.+)$", line.strip())
        if m and not re.search(r"[\[\](){}]", m.group(2)):
            out[m.group(1)] = " ".join(m.group(2).split())
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--per-language", type=int, default=15)
    args = parser.parse_args(argv)
    rows = []
    for lang, voice in VOICES.items():
        picked = 0
        for name, text in sorted(transcripts(lang).items()):
            src = SOUNDS / voice / f"{name}.g722"
            if not (4 <= len(text.split()) <= 20 and src.exists()):
                continue
            clip = load_audio(src)  # G.722 is decoded by ffmpeg, resampled to 16 kHz mono
            rel = f"audio/{lang}-{name}.flac"
            (args.out / "audio").mkdir(parents=True, exist_ok=True)
            sf.write(args.out / rel, clip.samples, 16000, format="FLAC", subtype="PCM_16")
            rows.append({"audio": rel, "text": text, "task": "asr", "language": lang})
            picked += 1
            if picked == args.per_language:
                break
    (args.out / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"wrote {len(rows)} clips to {args.out}")


if __name__ == "__main__":
    main()
