"""Writers for results: plain text, JSON, SubRip (srt) and WebVTT (vtt)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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


def to_srt(result: Result) -> str:
    blocks = [f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text}\n"
              for i, s in enumerate(result.segments, 1)]
    return "\n".join(blocks)


def to_vtt(result: Result) -> str:
    blocks = [f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text}\n" for s in result.segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


RENDERERS = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt}


def render(result: Result, fmt: str) -> str:
    try:
        return RENDERERS[fmt](result)
    except KeyError:
        raise ValueError(f"Unknown format {fmt!r}. Choose one of: {', '.join(FORMATS)}.") from None


def write_result(result: Result, out_dir: str | os.PathLike, fmt: str) -> Path:
    """Write one result as `<clip stem>.<fmt>` in `out_dir` (atomically); return the path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{Path(result.name).stem or 'audio'}.{fmt}"
    atomic_write_text(path, render(result, fmt))
    return path


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
