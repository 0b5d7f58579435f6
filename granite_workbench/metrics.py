"""Metrics, on jiwer and sacrebleu: WER/CER, BLEU/chrF, keyword recall/precision, B-WER/U-WER.

Text normalization (applied to reference and hypothesis alike, before scoring):
- English: Whisper's English normalizer (lower case, punctuation removed, spelled-out numbers to
  digits, British to American spelling, contractions expanded) via `whisper-normalizer`;
- other languages: Whisper's basic normalizer (lower case, Unicode-aware removal of punctuation and
  symbols, bracketed asides dropped, whitespace collapsed);
- Japanese and Chinese are scored by characters (CER), spaces removed.
BLEU/chrF score the raw text (sacrebleu's own tokenizers: `13a`, `zh`, `char` for Japanese).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import jiwer

from .keywords import keyword_spans
from .tasks import CHAR_LANGUAGES, get_task

# One place for what each metric means: its direction and how it is shown (everywhere: CLI, reports, UI).
HIGHER_IS_BETTER = frozenset({"bleu", "chrf", "keyword_recall", "keyword_precision"})
PERCENT_METRICS = frozenset({"wer", "cer", "b_wer", "u_wer", "wder", "keyword_recall", "keyword_precision"})
METRIC_LABELS = {
    "wer": "WER",
    "cer": "CER",
    "bleu": "BLEU",
    "chrf": "chrF",
    "keyword_recall": "keyword recall",
    "keyword_precision": "keyword precision",
    "b_wer": "B-WER",
    "u_wer": "U-WER",
    "wder": "WDER (speakers)",
    "word_time_error": "word-time error (s)",
    "eval_loss": "eval loss",
}


def is_better(metric: str, value: float, than: float | None) -> bool:
    """Is `value` better than `than` (None: nothing yet) for this metric?"""
    if than is None:
        return True
    return value > than if metric in HIGHER_IS_BETTER else value < than


def format_metric(metric: str, value: float | None) -> str:
    """`12.3%` for rates, `34.5` for BLEU / chrF, `0.123` for losses; `—` for no value."""
    if value is None:
        return "—"
    if metric in PERCENT_METRICS:
        return f"{100 * value:.1f}%"
    if metric in ("bleu", "chrf"):
        return f"{value:.1f}"
    return f"{value:.3f}"


@lru_cache(maxsize=1)
def _english():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


@lru_cache(maxsize=1)
def _basic():
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def normalize(text: str, language: str | None = "en") -> str:
    text = unicodedata.normalize("NFKC", text or "")
    if (language or "en") == "en":
        out = _english()(text)
    else:
        out = _basic()(text)
    out = " ".join(out.split())
    if language in CHAR_LANGUAGES:
        out = out.replace(" ", "")
    return out


@dataclass
class ErrorCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0

    @property
    def ref_len(self) -> int:
        return self.substitutions + self.deletions + self.hits

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / self.ref_len if self.ref_len else float(self.errors > 0)

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))


def _counts(out) -> ErrorCounts:
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, out.hits)


def word_errors(reference: str, hypothesis: str, language: str | None = "en") -> ErrorCounts:
    ref, hyp = normalize(reference, language), normalize(hypothesis, language)
    if not ref:
        return ErrorCounts(insertions=len(hyp.split()))
    return _counts(jiwer.process_words(ref, hyp or ""))


def char_errors(reference: str, hypothesis: str, language: str | None = "en") -> ErrorCounts:
    ref, hyp = normalize(reference, language), normalize(hypothesis, language)
    if not ref:
        return ErrorCounts(insertions=len(hyp))
    return _counts(jiwer.process_characters(ref, hyp or ""))


@dataclass
class SpeakerCounts:
    """Word diarization error (WDER, Shafey et al. 2019): of the reference words aligned to a hypothesis word (hits
    and substitutions), those whose hypothesis speaker is not the reference speaker under the best one-to-one
    mapping of speaker numbers. A word the hypothesis gives no speaker counts as wrong, so an answer whose speaker
    tags were lost scores 100%."""

    wrong: int = 0
    aligned: int = 0

    def __add__(self, other: SpeakerCounts) -> SpeakerCounts:
        return SpeakerCounts(self.wrong + other.wrong, self.aligned + other.aligned)

    @property
    def rate(self) -> float:
        return self.wrong / self.aligned if self.aligned else 0.0


_TOKEN = re.compile(r"[\w']+")


def speaker_word_errors(reference: list[tuple[str, Any]], hypothesis: list[tuple[str, Any]]) -> SpeakerCounts:
    """WDER counts of (word, speaker) lists (plus_tags.turn_words)."""
    import itertools

    ref = [(t, s) for w, s in reference for t in _TOKEN.findall(w.lower())]
    hyp = [(t, s) for w, s in hypothesis for t in _TOKEN.findall(w.lower())]
    if not ref or not hyp:
        return SpeakerCounts(0, 0)
    pairs = [  # (reference speaker, hypothesis speaker) of each aligned word
        (ref[i][1], hyp[j][1])
        for chunk in jiwer.process_words(" ".join(t for t, _ in ref), " ".join(t for t, _ in hyp)).alignments[0]
        if chunk.type in ("equal", "substitute")
        for i, j in aligned_pairs(chunk)
    ]
    ref_labels = sorted({r for r, _ in pairs}, key=str)
    hyp_labels = sorted({h for _, h in pairs if h is not None}, key=str)
    best = 0
    for perm in itertools.permutations(ref_labels, min(len(ref_labels), len(hyp_labels))):
        mapping = dict(zip(hyp_labels, perm))
        best = max(best, sum(h is not None and mapping.get(h) == r for r, h in pairs))
    return SpeakerCounts(len(pairs) - best, len(pairs))


def aligned_pairs(chunk) -> zip:
    """(reference index, hypothesis index) of each word in a jiwer alignment chunk of equal length."""
    return zip(range(chunk.ref_start_idx, chunk.ref_end_idx), range(chunk.hyp_start_idx, chunk.hyp_end_idx))


@dataclass
class TimeCounts:
    """Word-time error: the mean absolute difference of word end times (seconds) over the words the hypothesis
    gets right (aligned as equal)."""

    total: float = 0.0
    words: int = 0

    def __add__(self, other: TimeCounts) -> TimeCounts:
        return TimeCounts(self.total + other.total, self.words + other.words)

    @property
    def rate(self) -> float:
        return self.total / self.words if self.words else 0.0


def word_time_errors(reference: list[tuple[str, float]], hypothesis: list[tuple[str, float]]) -> TimeCounts:
    """Time errors of (word, end) lists: words matched by a word alignment, their end times compared."""

    def tokens(words):
        return [(w.lower().strip(".,;:!?\"'"), end) for w, end in words if w.strip(".,;:!?\"'")]

    ref, hyp = tokens(reference), tokens(hypothesis)
    if not ref or not hyp:
        return TimeCounts()
    out = TimeCounts()
    for chunk in jiwer.process_words(" ".join(w for w, _ in ref), " ".join(w for w, _ in hyp)).alignments[0]:
        if chunk.type == "equal":
            out += sum((TimeCounts(abs(ref[i][1] - hyp[j][1]), 1) for i, j in aligned_pairs(chunk)), TimeCounts())
    return out


def wer(references: Sequence[str], hypotheses: Sequence[str], language: str | None = "en") -> float:
    """Corpus WER: total word errors over total reference words (not a mean of per-utterance rates)."""
    return sum((word_errors(r, h, language) for r, h in zip(references, hypotheses)), ErrorCounts()).rate


def cer(references: Sequence[str], hypotheses: Sequence[str], language: str | None = "en") -> float:
    return sum((char_errors(r, h, language) for r, h in zip(references, hypotheses)), ErrorCounts()).rate


def error_rate(references, hypotheses, language: str | None = "en") -> float:
    """WER, or CER for Japanese and Chinese."""
    return (cer if language in CHAR_LANGUAGES else wer)(references, hypotheses, language)


def _bleu_tokenizer(language: str | None) -> str:
    return {"zh": "zh", "ja": "char"}.get(language or "", "13a")


def bleu(references: Sequence[str], hypotheses: Sequence[str], language: str | None = "en") -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize=_bleu_tokenizer(language)).score)


def chrf(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score)


@dataclass
class KeywordCounts:
    in_reference: int = 0  # keyword occurrences in the references
    in_hypothesis: int = 0  # keyword occurrences in the hypotheses
    matched: int = 0  # occurrences found in both (per keyword, min of the two counts)
    biased: ErrorCounts = None  # word errors on reference words that belong to a keyword
    unbiased: ErrorCounts = None  # word errors on the other words

    def __post_init__(self):
        self.biased = self.biased or ErrorCounts()
        self.unbiased = self.unbiased or ErrorCounts()

    @property
    def recall(self) -> float:
        return self.matched / self.in_reference if self.in_reference else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.in_hypothesis if self.in_hypothesis else 1.0

    def __add__(self, o: KeywordCounts) -> KeywordCounts:
        return KeywordCounts(
            self.in_reference + o.in_reference,
            self.in_hypothesis + o.in_hypothesis,
            self.matched + o.matched,
            self.biased + o.biased,
            self.unbiased + o.unbiased,
        )


def keyword_counts(
    reference: str, hypothesis: str, keywords: Sequence[str], language: str | None = "en"
) -> KeywordCounts:
    """Keyword occurrences and biased / unbiased word errors for one utterance.

    B-WER counts substitutions and deletions of reference words that are part of a keyword, plus
    inserted hypothesis words that are; U-WER counts the rest (Le et al., 2021).
    """
    ref_hits = _occurrences(reference, keywords)
    hyp_hits = _occurrences(hypothesis, keywords)
    out = KeywordCounts(
        sum(ref_hits.values()), sum(hyp_hits.values()), sum(min(n, hyp_hits.get(k, 0)) for k, n in ref_hits.items())
    )
    bias_words = {w for kw in keywords for w in normalize(kw, language).split()}
    ref, hyp = normalize(reference, language), normalize(hypothesis, language)
    if not ref:
        for w in hyp.split():
            (out.biased if w in bias_words else out.unbiased).insertions += 1
        return out
    aligned = jiwer.process_words(ref, hyp or "")
    r_words, h_words = aligned.references[0], aligned.hypotheses[0]
    for chunk in aligned.alignments[0]:
        if chunk.type == "insert":
            for w in h_words[chunk.hyp_start_idx : chunk.hyp_end_idx]:
                (out.biased if w in bias_words else out.unbiased).insertions += 1
            continue
        for w in r_words[chunk.ref_start_idx : chunk.ref_end_idx]:
            bucket = out.biased if w in bias_words else out.unbiased
            if chunk.type == "equal":
                bucket.hits += 1
            elif chunk.type == "substitute":
                bucket.substitutions += 1
            else:
                bucket.deletions += 1
    return out


def _occurrences(text: str, keywords: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, _, kw in keyword_spans(text, keywords):
        counts[kw] = counts.get(kw, 0) + 1
    return counts


def keyword_metrics(
    references: Sequence[str],
    hypotheses: Sequence[str],
    keyword_lists: Sequence[Sequence[str]],
    language: str | None = "en",
) -> dict[str, float]:
    total = sum(
        (keyword_counts(r, h, k, language) for r, h, k in zip(references, hypotheses, keyword_lists)), KeywordCounts()
    )
    return {
        "keyword_recall": total.recall,
        "keyword_precision": total.precision,
        "b_wer": total.biased.rate,
        "u_wer": total.unbiased.rate,
    }


def task_metrics(
    task: str, references, hypotheses, language: str | None = None, target: str | None = None, keyword_lists=None
) -> dict[str, float]:
    """The metrics logged for one task: WER/CER for ASR, BLEU/chrF for translation, keyword measures too."""
    info = get_task(task)
    if info.translation:
        return {"bleu": bleu(references, hypotheses, target), "chrf": chrf(references, hypotheses)}
    out = {"wer": wer(references, hypotheses, language), "cer": cer(references, hypotheses, language)}
    if info.keywords and keyword_lists is not None:
        out.update(keyword_metrics(references, hypotheses, keyword_lists, language))
    return out
