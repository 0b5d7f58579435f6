"""Writers for results: plain text, JSON, SubRip (srt) and WebVTT (vtt)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .subtitles import MAX_CUE_SECONDS, cues, timed_words, wrap
from .transcribe import Result

FORMATS = ("txt", "json", "srt", "vtt")


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_txt(result: Result) -> str:
    return result.text + "\n"


def to_json(result: Result) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"


def timed_lines(result: Result) -> list[tuple[float, float, str, int | None]]:
    """(start, end, text, speaker) of each subtitle: cues made from the word times when there are any (at most ~7 s
    and two lines of 42 characters), else the transcript's segments — a segment that breaks those limits is cut
    into cues with its words' times spread by length."""
    if result.words:
        return [(c.start, c.end, c.text, c.speaker) for c in cues(result.words)]
    out = []
    for s in result.segments:
        speaker = getattr(s, "speaker", None)
        if s.end - s.start <= MAX_CUE_SECONDS and wrap(s.text.split()) is not None:
            out.append((s.start, s.end, s.text, speaker))
        else:
            out += [(c.start, c.end, c.text, c.speaker) for c in cues(timed_words(s.start, s.end, s.text, speaker))]
    return out


def to_srt(result: Result) -> str:
    blocks = [
        f"{i}\n{_timestamp(s, ',')} --> {_timestamp(e, ',')}\n{'' if who is None else f'[Speaker {who}] '}{t}\n"
        for i, (s, e, t, who) in enumerate(timed_lines(result), 1)
    ]
    return "\n".join(blocks)


def to_vtt(result: Result) -> str:
    """WebVTT; a speaker's cue is a voice span (`<v Speaker 1>`), which players show or style."""
    blocks = [
        f"{_timestamp(s, '.')} --> {_timestamp(e, '.')}\n{'' if who is None else f'<v Speaker {who}>'}{t}\n"
        for s, e, t, who in timed_lines(result)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


RENDERERS = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt}


def render(result: Result, fmt: str) -> str:
    try:
        return RENDERERS[fmt](result)
    except KeyError:
        raise ValueError(f"Unknown format {fmt!r}. Choose one of: {', '.join(FORMATS)}.") from None


def write_result(result: Result, out_dir: str | os.PathLike, fmt: str, stem: str | None = None) -> Path:
    """Write one result as `<stem>.<fmt>` in `out_dir` (atomically; default stem: the clip's); return the path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem or Path(result.name).stem or 'audio'}.{fmt}"
    atomic_write_text(path, render(result, fmt))
    return path


def output_stems(paths: list[str | os.PathLike]) -> tuple[list[str], str | None]:
    """File stems for the outputs of one run, never two alike, and a note naming the ones that were changed.

    `a.wav` -> `a`; when stems clash (`a.wav`, `a.mp3`) the clashing ones keep their extension (`a.wav`,
    `a.mp3`); when whole names clash (`x/a.wav`, `y/a.wav`) they get their folder as a prefix (`x_a.wav`);
    a clash that remains gets a number."""
    ps = [Path(p) for p in paths]
    stems = [p.stem or "audio" for p in ps]
    renames = (
        lambda i: ps[i].name,
        lambda i: f"{ps[i].parent.name}_{ps[i].name}" if ps[i].parent.name else ps[i].name,
        lambda i: f"{stems[i]}-{i + 1}",
    )
    for rename in renames:
        counts: dict[str, int] = {}
        for s in stems:
            counts[s] = counts.get(s, 0) + 1
        clashing = [i for i, s in enumerate(stems) if counts[s] > 1]
        if not clashing:
            break
        for i in clashing:
            stems[i] = rename(i)
    changed = [f"{p} -> {s}.*" for p, s in zip(ps, stems) if s != (p.stem or "audio")]
    note = (
        (
            "inputs share a name; so that no output overwrites another, these keep their extension or get "
            "their folder as a prefix: " + ", ".join(changed)
        )
        if changed
        else None
    )
    return stems, note


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and a rename; the file gets the user's umask (mkstemp would make it 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
