"""Finding keywords in text: shared by the demo's highlighting and the keyword metrics.

Matching is case-insensitive, on word boundaries, and tolerant of punctuation and hyphens
(`watsonx` matches `watsonx.`; `Q-Former` matches `Q-Former` and `q former`).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence


def split_keywords(value: Sequence[str] | str | None) -> list[str]:
    """A keyword list from a list, or from text separated by '|', commas or new lines; blanks dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[|\n]" if "|" in value else r"[,\n]", value)
    return [w for w in (" ".join(str(v).split()) for v in value) if w]


def _pattern(keyword: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in re.split(r"[\s\-_]+", keyword.strip()) if p]
    body = r"[\s\-_]*".join(parts)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE | re.UNICODE)


def keyword_spans(text: str, keywords: Sequence[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, keyword) matches in `text`, longest keyword first at a position."""
    text = unicodedata.normalize("NFC", text)
    spans: list[tuple[int, int, str]] = []
    for kw in sorted({k for k in keywords if k.strip()}, key=len, reverse=True):
        for m in _pattern(unicodedata.normalize("NFC", kw)).finditer(text):
            if all(m.end() <= s or m.start() >= e for s, e, _ in spans):
                spans.append((m.start(), m.end(), kw))
    return sorted(spans)


def found_keywords(text: str, keywords: Sequence[str]) -> list[str]:
    """The keywords (as given) that occur in `text` at least once, in list order."""
    hit = {kw for _, _, kw in keyword_spans(text, keywords)}
    return [kw for kw in keywords if kw in hit]


def mark_keywords(text: str, keywords: Sequence[str], tag: str = "mark", cls: str = "kw") -> str:
    """`text` as HTML (escaped) with every keyword occurrence wrapped in <mark class="kw">."""
    out, pos = [], 0
    for start, end, _ in keyword_spans(text, keywords):
        out += [html.escape(text[pos:start]), f"<{tag} class='{cls}'>{html.escape(text[start:end])}</{tag}>"]
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)
