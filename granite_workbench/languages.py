"""The language table: which languages the model transcribes and which translation directions it supports.

This is the one place that says what Granite 4.0 1B Speech can do (model card): ASR in
en, fr, de, es, pt, ja; speech translation X->en for fr, de, es, pt, ja and en->X for
those plus it and zh; and the languages of the second pass's text model (TEXT_LANGUAGES).
Everything else (prompts, CLI checks, UI dropdowns, data validation) reads from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # English name, as used in translation prompts


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("en", "English"),
        Language("fr", "French"),
        Language("de", "German"),
        Language("es", "Spanish"),
        Language("pt", "Portuguese"),
        Language("ja", "Japanese"),
        Language("it", "Italian"),
        Language("zh", "Chinese"),
        Language("ar", "Arabic"),
        Language("cs", "Czech"),
        Language("ko", "Korean"),
        Language("nl", "Dutch"),
    )
}

ASR_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "pt", "ja")

TRANSLATION_DIRECTIONS: tuple[tuple[str, str], ...] = tuple(
    [(src, "en") for src in ("fr", "de", "es", "pt", "ja")]
    + [("en", tgt) for tgt in ("fr", "de", "es", "pt", "ja", "it", "zh")]
)


# what the second pass's Granite 4.0 text models read and write (their model card): the transcript can be
# translated by the text model into these, also where the speech model has no direction
TEXT_LANGUAGES: tuple[str, ...] = ("en", "de", "es", "fr", "ja", "pt", "ar", "cs", "it", "ko", "nl", "zh")


class UnsupportedLanguageError(ValueError):
    """A language or translation direction the model does not support."""


def _normalize(code: str | None) -> str:
    return (code or "").strip().lower()


def check_asr_language(code: str | None) -> str:
    """Return the normalized ASR language code, or raise with the supported list."""
    norm = _normalize(code)
    if norm not in ASR_LANGUAGES:
        raise UnsupportedLanguageError(f"Unsupported ASR language {code!r}. Supported: {', '.join(ASR_LANGUAGES)}.")
    return norm


def check_direction(source: str | None, target: str | None) -> tuple[str, str]:
    """Return the normalized (source, target) pair, or raise listing every supported direction."""
    pair = (_normalize(source), _normalize(target))
    if pair not in TRANSLATION_DIRECTIONS:
        raise UnsupportedLanguageError(
            f"Unsupported translation direction {source!r} -> {target!r}. Supported: "
            + ", ".join(f"{s}->{t}" for s, t in TRANSLATION_DIRECTIONS)
            + "."
        )
    return pair


def targets_for(source: str) -> list[str]:
    """Translation targets available from one source language (for UI dropdowns)."""
    src = _normalize(source)
    return [t for s, t in TRANSLATION_DIRECTIONS if s == src]


def sources() -> list[str]:
    """Source languages that have at least one translation direction."""
    return sorted({s for s, _ in TRANSLATION_DIRECTIONS}, key=list(LANGUAGES).index)


def language_name(code: str) -> str:
    try:
        return LANGUAGES[_normalize(code)].name
    except KeyError:
        raise UnsupportedLanguageError(f"Unknown language {code!r}. Known: {', '.join(LANGUAGES)}.") from None


def check_text_language(code: str | None) -> str:
    """A language the second pass's text model writes (a transcript translated by it), normalized."""
    norm = _normalize(code)
    if norm not in TEXT_LANGUAGES:
        raise UnsupportedLanguageError(
            f"The text model does not write {code!r}. It writes: {', '.join(TEXT_LANGUAGES)}."
        )
    return norm
