"""Subtitle cues from word times, the way subtitles are written: short cues, two short lines, cut at pauses.

Conventions (Netflix / BBC style guides, broadly shared): a cue lasts at most about 7 seconds and holds at
most two lines of about 42 characters; cues break at word boundaries, preferably at a pause or after the end
of a sentence; a line break splits the text into two lines of similar length.
"""
from __future__ import annotations

from dataclasses import dataclass

from .ctc import Word

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


def cues(words: list[Word], max_seconds: float = MAX_CUE_SECONDS, width: int = MAX_LINE_CHARS,
         pause: float = PAUSE_SECONDS) -> list[Cue]:
    """Words (with times) -> subtitle cues that respect the limits; a word too long for a line stands alone."""
    out: list[Cue] = []
    current: list[Word] = []

    def flush():
        if current:
            lines = wrap([w.word for w in current], width) or [" ".join(w.word for w in current)]
            out.append(Cue(current[0].start, current[-1].end, lines))
            current.clear()

    for w in words:
        if current:
            too_long = w.end - current[0].start > max_seconds
            gap = w.start - current[-1].end >= pause
            sentence = current[-1].word.endswith(SENTENCE_END) and len(" ".join(x.word for x in current)) > width / 2
            if too_long or gap or sentence or wrap([x.word for x in current] + [w.word], width) is None:
                flush()
        current.append(w)
    flush()
    return out
