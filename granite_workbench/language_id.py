"""Which of the model's ASR languages a transcript is in.

Granite Speech transcribes in the language it hears and prints no language tag, so the language of its
transcript is the language it heard. py3langid (a fork of langid.py; its model ships in the wheel, 4.6 MB,
numpy only) scores the text against the ASR languages of the language table only; a guess below
`MIN_CONFIDENCE` (a word or two, a name, a product code) is no answer rather than a wrong one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .languages import ASR_LANGUAGES

MIN_CONFIDENCE = 0.9
_IDENTIFIER = None
_LOCK = threading.Lock()


@dataclass(frozen=True)
class DetectedLanguage:
    code: str
    confidence: float  # 0..1, normalised over the ASR languages


def _identifier():
    """The identifier, loaded once (about 1 s) on first use and only read after that (thread-safe)."""
    global _IDENTIFIER
    with _LOCK:
        if _IDENTIFIER is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(ASR_LANGUAGES))
            _IDENTIFIER = identifier
        return _IDENTIFIER


def detect_language(text: str, min_confidence: float = MIN_CONFIDENCE) -> DetectedLanguage | None:
    """The ASR language `text` is written in, or None when the text is empty or the guess is unsure."""
    text = (text or "").strip()
    if not any(ch.isalpha() for ch in text):
        return None
    code, confidence = _identifier().classify(text)
    if confidence < min_confidence:
        return None
    return DetectedLanguage(code, round(float(confidence), 3))
