"""Long audio: split into chunks the model can take, and stitch the chunk texts back together.

Two strategies:
- `vad` (default): silero-vad finds speech; neighbouring speech regions are grouped into chunks
  of at most `max_seconds`, cut in the silences between them, so no word straddles a seam.
  A single speech region longer than the limit falls back to fixed windows inside it.
- `fixed`: windows of `max_seconds` with `overlap` seconds shared by neighbours; the texts are
  merged on the longest agreeing run of words in the overlap (as the transformers ASR pipeline
  does with tokens), falling back to a time estimate when the two sides do not agree.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from .audio import SAMPLE_RATE, Audio

CHUNK_MODES = ("vad", "fixed", "none")
DEFAULT_MAX_SECONDS = 30.0
DEFAULT_OVERLAP = 4.0
SPEECH_PAD = 0.3  # seconds of context kept around detected speech


@dataclass
class Chunk:
    start: float  # seconds into the clip
    end: float
    overlap_before: float = 0.0  # seconds shared with the previous chunk (fixed windows only)

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_chunks(
    audio: Audio, mode: str = "vad", max_seconds: float = DEFAULT_MAX_SECONDS, overlap: float = DEFAULT_OVERLAP
) -> list[Chunk]:
    """Chunks covering the clip's speech; a clip within the limit is one chunk (whatever the mode)."""
    if mode not in CHUNK_MODES:
        raise ValueError(f"Unknown chunking mode {mode!r}. Choose one of: {', '.join(CHUNK_MODES)}.")
    if overlap < 0 or overlap >= max_seconds / 2:
        raise ValueError(f"Overlap must be between 0 and half the chunk length ({max_seconds / 2:.1f} s).")
    duration = audio.duration
    if mode == "none" or duration <= max_seconds:
        return [Chunk(0.0, duration)]
    if mode == "fixed":
        return fixed_windows(0.0, duration, max_seconds, overlap)
    return vad_chunks(audio, max_seconds, overlap)


def fixed_windows(start: float, end: float, max_seconds: float, overlap: float) -> list[Chunk]:
    chunks = [Chunk(start, min(start + max_seconds, end))]
    step = max_seconds - overlap
    while chunks[-1].end < end - 1e-6:
        s = chunks[-1].start + step
        chunks.append(Chunk(s, min(s + max_seconds, end), overlap_before=chunks[-1].end - s))
    # a last sliver shorter than the overlap adds nothing: extend the window before it instead
    if len(chunks) > 1 and chunks[-1].end - chunks[-2].end < 0.5:
        chunks.pop()
        chunks[-1].end = end
    return chunks


_VAD = threading.local()


def _vad_model():
    """This thread's silero-vad model. The TorchScript model keeps state between calls (`_state`), so threads
    that share one corrupt each other's runs and can crash the process: each thread gets its own (2 MB)."""
    model = getattr(_VAD, "model", None)
    if model is None:
        from silero_vad import load_silero_vad

        model = _VAD.model = load_silero_vad()
    return model


def speech_regions(audio: Audio) -> list[tuple[float, float]]:
    """Speech (start, end) seconds from silero-vad."""
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(
        torch.from_numpy(audio.samples),
        _vad_model(),
        sampling_rate=SAMPLE_RATE,
        min_silence_duration_ms=300,
        speech_pad_ms=0,
    )
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def vad_chunks(
    audio: Audio, max_seconds: float, overlap: float, regions: list[tuple[float, float]] | None = None
) -> list[Chunk]:
    regions = speech_regions(audio) if regions is None else regions
    duration = audio.duration
    groups: list[list[float]] = []  # [start, end] of speech grouped into chunks
    for start, end in regions:
        if groups and end - groups[-1][0] <= max_seconds - 2 * SPEECH_PAD:
            groups[-1][1] = end
        else:
            groups.append([start, end])
    chunks: list[Chunk] = []
    for i, (start, end) in enumerate(groups):
        prev_end = groups[i - 1][1] if i else 0.0
        next_start = groups[i + 1][0] if i + 1 < len(groups) else duration
        s = max(prev_end + (start - prev_end) / 2 if i else 0.0, start - SPEECH_PAD)
        e = min(end + (next_start - end) / 2 if i + 1 < len(groups) else duration, end + SPEECH_PAD)
        if e - s > max_seconds:  # one unbroken stretch of speech: fixed windows inside it
            chunks.extend(fixed_windows(s, e, max_seconds, overlap))
        else:
            chunks.append(Chunk(s, e))
    return chunks


_WORD = re.compile(r"[^\w']+", re.UNICODE)


def _norm(word: str) -> str:
    return _WORD.sub("", word.lower())


def seam(a: list[str], b: list[str], overlap_words_hint: int) -> tuple[int, int]:
    """Where to join two chunk word lists that overlap in time: (words of `a` kept, first word of `b` kept).

    Looks for the alignment of a's tail with b's head where most words agree (at least two, and
    more than half); keeps the first half of that shared run from `a` and the rest from `b`.
    Without agreement, about half the estimated overlap is dropped from each side.
    """
    if not a or not b or overlap_words_hint <= 0:
        return len(a), 0
    na, nb = [_norm(w) for w in a], [_norm(w) for w in b]
    limit = min(len(a), len(b), 2 * overlap_words_hint + 2)
    best, best_score = 0, 0.0
    for i in range(1, limit + 1):
        matches = sum(x == y and x != "" for x, y in zip(na[-i:], nb[:i]))
        score = matches / i + i / 10_000  # prefer more agreement, then the longer run
        if matches >= min(2, i) and matches * 2 > i and score > best_score:
            best, best_score = i, score
    if best:
        return len(a) - best + best // 2, best // 2
    cut = min(overlap_words_hint // 2, len(a))
    return len(a) - cut, min(overlap_words_hint - overlap_words_hint // 2, len(b))


def words_in_overlap(text: str, chunk: Chunk) -> int:
    """Estimated number of words of `text` that fall in the overlap at the start of `chunk`."""
    if chunk.overlap_before <= 0 or chunk.duration <= 0:
        return 0
    return int(round(len(text.split()) * chunk.overlap_before / chunk.duration))


def stitch(chunks: list[Chunk], texts: list[str]) -> list[tuple[float, float, str, int, int]]:
    """Timed segments (start, end, text, lo, hi) of a clip from its chunks' texts, overlaps resolved: each
    segment is words `lo:hi` of its chunk's text (split on white space)."""
    kept: list[list[int]] = []  # [lo, hi] per chunk
    bounds: list[list[float]] = []
    split = [t.split() for t in texts]
    for c, (chunk, text) in enumerate(zip(chunks, texts)):
        lo, hi = 0, len(split[c])
        start = chunk.start + chunk.overlap_before / 2
        if kept and chunk.overlap_before > 0:
            prev = split[c - 1][kept[-1][0] : kept[-1][1]]
            keep, first = seam(prev, split[c], words_in_overlap(text, chunk))
            kept[-1][1] = kept[-1][0] + keep
            lo = first
            bounds[-1][1] = start
        kept.append([lo, hi])
        bounds.append([start, chunk.end])
    return [(s, e, " ".join(split[c][lo:hi]), lo, hi) for c, ((s, e), (lo, hi)) in enumerate(zip(bounds, kept))]
