"""The encoder's CTC head: greedy drafts for speculative decoding, and word timestamps by forced alignment.

Granite 4.0 1B Speech keeps the CTC head its encoder was trained with (`model.encoder.out`): 348 labels,
label `c` is the character `chr(c)` (ASCII, Latin-1, Latin Extended-A) and 0 is the blank. IBM's
speculative-decoding notebook decodes it greedily (argmax per 20 ms frame, repeats merged, blanks dropped)
into a lowercase draft without punctuation. The same emissions give every word of a transcript a start and
an end: the transcript, brought to the head's alphabet, is force-aligned to them (torchaudio's
`forced_align`, the CTC Viterbi path).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

FRAME_SECONDS = 0.02  # one encoder frame: two stacked 10 ms mel frames
BLANK = 0
KEEP = " '-"  # besides letters and digits, the characters the head writes


@dataclass
class Word:
    start: float  # seconds into the clip
    end: float
    word: str
    aligned: bool = True  # False: the word has no character the head knows; its times are interpolated
    speaker: int | None = None  # speaker-attributed ASR (4.1-2b-plus): the turn's speaker number


def spread_words(
    words: list[str], start: float, end: float, aligned: bool = False, speakers: list | None = None
) -> list[Word]:
    """Words given the span [start, end] in proportion to their lengths (no better time is known for them)."""
    total = sum(len(w) for w in words) or 1
    out, t = [], start
    for k, word in enumerate(words):
        d = (end - start) * len(word) / total
        out.append(Word(round(t, 3), round(t + d, 3), word, aligned, speakers[k] if speakers else None))
        t += d
    return out


def ctc_char(ch: str, labels: int) -> str | None:
    """The character the head would write for `ch` (lowercase; accents dropped where the accented letter is
    outside the alphabet), or None when it writes none (punctuation, scripts it does not cover)."""
    ch = ch.lower()
    if ch.isspace():
        return " "
    if not (ch.isalnum() or ch in KEEP):
        return None
    if ord(ch) < labels:
        return ch
    base = unicodedata.normalize("NFKD", ch)[:1]
    return base if base and ord(base) < labels and base.isalnum() else None


def ctc_text(text: str, labels: int) -> str:
    """A transcript in the head's alphabet: what a training target for the head is, and what drafts look like."""
    out = [c for c in (ctc_char(ch, labels) for ch in unicodedata.normalize("NFC", text)) if c is not None]
    return " ".join("".join(out).split())


def greedy_draft(logits) -> tuple[str, float]:
    """(text, max frame entropy) of one clip's CTC logits (frames x labels), as IBM's notebook computes them.
    An empty draft has entropy inf (never accepted directly)."""
    import torch

    probs = torch.softmax(logits.float(), dim=-1)
    entropy = -(probs * torch.log(probs + 1e-10)).sum(dim=-1)
    ids = torch.unique_consecutive(probs.argmax(dim=-1))
    chars = [chr(int(c)) for c in ids if int(c) != BLANK]
    text = "".join(chars).strip()
    return text, (float(entropy.max()) if text else math.inf)


def align_words(
    log_probs, transcript: str, offset: float = 0.0, seconds: float | None = None, samples=None
) -> list[Word]:
    """Start and end of every word of `transcript` in a chunk whose CTC log-probs (frames x labels) are given.

    Words are split on white space. Their characters that the head knows are aligned; a word with none (e.g.
    Japanese) gets times interpolated between its aligned neighbours. If the alignment is impossible (more
    characters than frames), every word is spread over the chunk in proportion to its length.

    CTC emissions are peaky: a word's characters fire at single frames, often after the sound has begun and before
    it has died away (a weak first consonant, a final one, a vowel's decay). With the chunk's `samples` (16 kHz),
    each word is widened over the neighbouring frames that still carry sound (`extend_to_sound`), never into
    another word."""
    import torch
    import torchaudio.functional as F

    words = transcript.split()
    if not words:
        return []
    frames, labels = log_probs.shape
    seconds = frames * FRAME_SECONDS if seconds is None else seconds
    targets, owner = [], []  # label ids, and the word each belongs to
    for w, word in enumerate(words):
        if targets:
            targets.append(ord(" "))
            owner.append(-1)
        for ch in word:
            c = ctc_char(ch, labels)
            if c is not None and c != " ":
                targets.append(ord(c))
                owner.append(w)
    while targets and owner[-1] == -1:
        targets.pop(), owner.pop()
    repeats = sum(a == b for a, b in zip(targets, targets[1:]))
    spans: dict[int, list[float]] = {}
    if targets and len(targets) + repeats <= frames:
        path, _ = F.forced_align(log_probs.float()[None], torch.tensor([targets], dtype=torch.int32), blank=BLANK)
        for k, span in enumerate(F.merge_tokens(path[0], torch.zeros(frames), blank=BLANK)):
            w = owner[k]
            if w >= 0:
                s, e = span.start * FRAME_SECONDS, span.end * FRAME_SECONDS
                spans[w] = [min(spans[w][0], s), max(spans[w][1], e)] if w in spans else [s, e]
    if spans and samples is not None:
        extend_to_sound(spans, samples, seconds)
    if not spans:  # nothing to align: proportional to length
        return spread_words(words, offset, offset + seconds)
    return _fill_gaps(words, spans, offset, seconds)


def frame_levels(samples, frame: float = FRAME_SECONDS):
    """RMS level of each 20 ms frame of 16 kHz audio."""
    import numpy as np

    n = int(round(frame * 16_000))
    k = len(samples) // n
    x = np.asarray(samples[: k * n], dtype=np.float32).reshape(k, n)
    return np.sqrt((x * x).mean(axis=1))


def extend_to_sound(
    spans: dict[int, list[float]],
    samples,
    seconds: float,
    floor: float = 0.02,
    above_noise: float = 3.0,
    max_dip: int = 2,
) -> None:
    """Widen each aligned word (in `spans`, seconds) over the neighbouring frames that still carry sound: a level of
    at least `floor` of the chunk's speech level (its 90th-percentile frame, i.e. -34 dB) and `above_noise` times
    its noise floor (10th-percentile frame), bridging dips of up to `max_dip` frames inside a word (40 ms, shorter
    than a pause between words). Ends move later first, never past the next word's start or the chunk's end;
    then starts move earlier, never before the previous word's end."""
    import numpy as np

    levels = frame_levels(samples)
    if not len(levels) or levels.max() <= 0:
        return
    loud = levels >= max(floor * np.percentile(levels, 90), above_noise * np.percentile(levels, 10))

    def reach(frame: int, step: int, limit: int) -> int:
        """The farthest frame boundary from `frame` in direction `step` over loud frames, within `limit`."""
        best, quiet, f = frame, 0, frame if step > 0 else frame - 1
        while 0 <= f < len(loud) and (f + 1 <= limit if step > 0 else f >= limit):
            if loud[f]:
                best, quiet = (f + 1 if step > 0 else f), 0
            else:
                quiet += 1
                if quiet > max_dip:
                    break
            f += step
        return best

    order = sorted(spans)
    for j, w in enumerate(order):
        limit = spans[order[j + 1]][0] if j + 1 < len(order) else seconds
        end = reach(int(round(spans[w][1] / FRAME_SECONDS)), 1, int(limit / FRAME_SECONDS + 1e-9))
        spans[w][1] = max(spans[w][1], end * FRAME_SECONDS)
    for j, w in enumerate(order):
        limit = spans[order[j - 1]][1] if j > 0 else 0.0
        start = reach(int(round(spans[w][0] / FRAME_SECONDS)), -1, int(np.ceil(limit / FRAME_SECONDS - 1e-9)))
        spans[w][0] = min(spans[w][0], start * FRAME_SECONDS)


def _fill_gaps(words: list[str], spans: dict[int, list[float]], offset: float, seconds: float) -> list[Word]:
    """Each run of words without aligned characters shares the time between its aligned neighbours."""
    times: list[tuple[float, float, bool]] = [(0.0, 0.0, False)] * len(words)
    w = 0
    while w < len(words):
        if w in spans:
            times[w] = (*spans[w], True)
            w += 1
            continue
        end = w
        while end < len(words) and end not in spans:
            end += 1
        lo = spans[w - 1][1] if w > 0 else 0.0
        hi = spans[end][0] if end < len(words) else seconds
        step = max(hi - lo, 0.0) / (end - w)
        for i in range(w, end):
            times[i] = (lo + (i - w) * step, lo + (i - w + 1) * step, False)
        w = end
    return [
        Word(round(offset + s, 3), round(offset + e, 3), word, aligned) for (s, e, aligned), word in zip(times, words)
    ]


def log_probs(logits):
    """Log-softmax of CTC logits, in float32."""
    import torch

    return torch.log_softmax(logits.float(), dim=-1)


def character_error_rate(hyps: list[str], refs: list[str]) -> float:
    """CER of drafts against transcripts, both brought to the head's alphabet (for the CTC training proof)."""
    import jiwer

    refs_n = [ctc_text(r, 348) for r in refs]
    return float(jiwer.cer(refs_n, [ctc_text(h, 348) for h in hyps]))
