"""Subtitle cues from word times, the way subtitles are written: short cues, two short lines, cut at pauses.

Conventions (Netflix / BBC style guides, broadly shared): a cue lasts at most about 7 seconds and holds at
most two lines of about 42 characters; cues break at word boundaries, preferably at a pause or after the end
of a sentence; a line break splits the text into two lines of similar length.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ctc import Word, spread_words

MAX_CUE_SECONDS = 7.0
MAX_LINE_CHARS = 42
MAX_LINES = 2
PAUSE_SECONDS = 0.5  # a pause at least this long ends a cue
SENTENCE_END = (".", "?", "!", "。", "？", "！")


@dataclass
class Cue:
    start: float
    end: float
    lines: list[str]
    speaker: int | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def wrap(words: list[str], width: int = MAX_LINE_CHARS, lines: int = MAX_LINES) -> list[str] | None:
    """The words on at most `lines` lines of at most `width` characters, the lines as even as possible;
    None when they do not fit."""
    text = " ".join(words)
    if len(text) <= width:
        return [text]
    if lines < 2:
        return None
    best = None
    for k in range(1, len(words)):
        a, b = " ".join(words[:k]), " ".join(words[k:])
        if len(a) <= width and len(b) <= width and (best is None or abs(len(a) - len(b)) < best[0]):
            best = (abs(len(a) - len(b)), [a, b])
    return best[1] if best else None


def cues(
    words: list[Word], max_seconds: float = MAX_CUE_SECONDS, width: int = MAX_LINE_CHARS, pause: float = PAUSE_SECONDS
) -> list[Cue]:
    """Words (with times) -> subtitle cues that respect the limits: a speaker change starts a cue, and a "word"
    longer than a line or a cue (unspaced Japanese or Chinese, a run written without spaces) is cut by
    characters first (`split_long`)."""
    out: list[Cue] = []
    current: list[Word] = []

    def flush():
        if current:
            lines = wrap([w.word for w in current], width) or [" ".join(w.word for w in current)]
            out.append(Cue(current[0].start, current[-1].end, lines, current[0].speaker))
            current.clear()

    for w in split_long(words, max_seconds, width):
        if current:
            if w.speaker != current[-1].speaker:
                flush()
        if current:
            too_long = w.end - current[0].start > max_seconds
            gap = w.start - current[-1].end >= pause
            sentence = current[-1].word.endswith(SENTENCE_END) and len(" ".join(x.word for x in current)) > width / 2
            if too_long or gap or sentence or wrap([x.word for x in current] + [w.word], width) is None:
                flush()
        current.append(w)
    flush()
    return out


def split_long(words: list[Word], max_seconds: float = MAX_CUE_SECONDS, width: int = MAX_LINE_CHARS) -> list[Word]:
    """Every word longer than a line or than a cue cut into pieces by characters, its time shared in proportion."""
    import math

    out: list[Word] = []
    for w in words:
        seconds = max(0.0, w.end - w.start)
        n = max(math.ceil(len(w.word) / width), math.ceil(seconds / max_seconds), 1)
        if n == 1:
            out.append(w)
            continue
        size = math.ceil(len(w.word) / n)
        pieces = [w.word[k : k + size] for k in range(0, len(w.word), size)]
        t = w.start
        for piece in pieces:
            d = seconds * len(piece) / len(w.word)
            out.append(Word(round(t, 3), round(t + d, 3), piece, False, w.speaker))
            t += d
    return out


def timed_words(start: float, end: float, text: str, speaker: int | None = None) -> list[Word]:
    """A segment's words with times spread by length (a segment without word times)."""
    words = text.split()
    return spread_words(words, start, end, speakers=[speaker] * len(words))
