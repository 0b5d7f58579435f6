"""The tagged answers of Granite Speech 4.1 2B Plus, read into words, times and speaker turns.

The model card (ibm-granite/granite-speech-4.1-2b-plus) gives one prompt per mode and the answer format:
- speaker-attributed ASR: `[Speaker N]:` before each turn, speakers numbered by order of appearance
  (`[Speaker 1]: hello how are you [Speaker 2]: i'm fine`);
- word timestamps: `[T:N]` after each word, N its END time in centiseconds, silences written `_` with their own
  tag (`hello [T:45] world [T:82] _ [T:140]`); the times are modulo 1000 (10 s), unwrapped here as the card does:
  a time earlier than the previous one adds 10 s until it is not.
A word starts where the previous word or silence ended (the first at 0). The model may write malformed tags:
they never raise — the text survives and each problem is reported in words (`Tagged.problems`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .ctc import Word, spread_words

# a speaker tag, a time tag (each also without its closing bracket: read, and reported), or a word
TOKEN = re.compile(r"\[\s*speaker\s*(\d+)\s*(\]\s*:?|:)|\[\s*T\s*:\s*(\d+)\s*(\])?|\S+", re.IGNORECASE)
SILENCE = "_"
WRAP_SECONDS = 10.0  # the card: times are modulo 1000 centiseconds


@dataclass
class Tagged:
    """One answer read: `text` without tags; `words` with times (model tags, or spread over the chunk when the
    answer had none) and speakers; `problems` in words."""

    text: str
    words: list[Word] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timed: bool = False  # the times came from the model's tags


def read_tagged(answer: str, seconds: float) -> Tagged:
    """Words, times and speakers of one chunk's answer (`seconds` long)."""
    out = Tagged("")
    pending: list[tuple[str, int | None]] = []  # words waiting for their end tag
    speaker: int | None = None
    last_end, wrap, any_time = 0.0, 0.0, False
    for m in TOKEN.finditer(answer or ""):
        number, time = m.group(1), m.group(3)
        if (number is not None and "]" not in m.group(2)) or (time is not None and m.group(4) is None):
            out.problems.append(f"a tag without its closing bracket ({m.group(0).strip()!r}) was read as one")
        if number is not None:
            speaker = int(number)
        elif time is not None:
            end = int(time) / 100 + wrap
            while end < last_end:
                wrap += WRAP_SECONDS
                end += WRAP_SECONDS
            if end > seconds + 0.5:
                out.problems.append(f"a time tag ({end:.2f} s) past the chunk's end ({seconds:.2f} s) was clamped")
                end = max(last_end, seconds)
            _place(out, pending, last_end, end)
            last_end, any_time = end, True
        elif broken_tag(m.group(0)):
            out.problems.append(f"a malformed tag {m.group(0)!r} was left out")
        else:
            pending.append((m.group(0), speaker))
    if pending:
        if any_time:
            out.problems.append(f"{len(pending)} word(s) after the last time tag were spread to the chunk's end")
        _place(out, pending, last_end, max(last_end, seconds), aligned=False)
    out.timed = any_time
    out.text = " ".join(w.word for w in out.words)
    return out


def broken_tag(token: str) -> bool:
    """A piece of a speaker or time tag that did not parse (`[Speaker`, `1]:`, `[T:12`); `[laughs]` is text."""
    if "[" not in token and "]" not in token:
        return False
    core = token.strip("[]:").lower()
    return not core or core.isdigit() or core == "t" or core.startswith(("speaker", "t:"))


def _place(out: Tagged, pending: list, start: float, end: float, aligned: bool = True) -> None:
    """Give the pending words the span [start, end] (by length when several share one tag) and clear them."""
    words = [(w, s) for w, s in pending if w != SILENCE]
    if len(words) > 1 and aligned:
        out.problems.append(f"{len(words)} words shared one time tag; their times were spread by length")
    out.words += spread_words([w for w, _ in words], start, end, aligned and len(words) == 1, [s for _, s in words])
    pending.clear()


def speaker_turns(words: list[Word]) -> list[tuple[int | None, list[Word]]]:
    """Consecutive words of one speaker, in order."""
    turns: list[tuple[int | None, list[Word]]] = []
    for w in words:
        if turns and turns[-1][0] == w.speaker:
            turns[-1][1].append(w)
        else:
            turns.append((w.speaker, [w]))
    return turns


# --- writing: training targets in the model's own format --------------------------------------------------------


def write_speakers(turns: list[dict]) -> str:
    """`[Speaker N]: text` per turn, speakers numbered by order of appearance (the card's format), from manifest
    turns `{speaker, text}` (any labels: "agent", "B", 7)."""
    numbers: dict[str, int] = {}
    parts = []
    for turn in turns:
        n = numbers.setdefault(str(turn["speaker"]), len(numbers) + 1)
        parts.append(f"[Speaker {n}]: {' '.join(str(turn['text']).split())}")
    return " ".join(parts)


def write_timestamps(words: list[dict]) -> str:
    """`word [T:N]` per word, N its end in centiseconds modulo 1000 (the card's format), from `{word, end}`."""
    return " ".join(f"{w['word']} [T:{round(float(w['end']) * 100) % 1000}]" for w in words)


def turn_words(tagged: str) -> list[tuple[str, int | None]]:
    """(word, speaker number) for each word of a `[Speaker N]:` answer (no times needed)."""
    return [(w.word, w.speaker) for w in read_tagged(tagged, 1e9).words]
