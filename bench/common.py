"""Shared bits of the benchmarks: timing, clips, the result table."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
RESULTS = HERE / "results"


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def median(xs) -> float:
    return statistics.median(xs)


def speech_clips(n: int, lang: str = "en") -> list[Path]:
    """Real recorded prompts from data/asterisk (shipped in the repo)."""
    from granite_workbench.manifest import read_manifest

    rows = [r for r in read_manifest(ROOT / "data/asterisk/test.jsonl") if r.language == lang]
    return [Path(r.audio) for r in rows[:n]]


def long_speech(seconds: float) -> np.ndarray:
    """Real speech of about `seconds`, prompts strung together with short pauses (VAD finds the seams)."""
    from granite_workbench.audio import load_audio
    from granite_workbench.manifest import read_manifest

    rows = read_manifest(ROOT / "data/asterisk/test.jsonl")
    clips = [load_audio(r.audio).samples for r in rows]
    pause = np.zeros(8000, dtype=np.float32)
    out, total, i = [], 0, 0
    while total < seconds * 16000:
        x = clips[i % len(clips)]
        out += [x, pause]
        total += len(x) + len(pause)
        i += 1
    return np.concatenate(out)[: int(seconds * 16000)]


def machine() -> str:
    import os
    import platform

    import torch

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, Python {platform.python_version()}"


def table(rows: list[dict], columns: list[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    line = lambda vals: "| " + " | ".join(str(v).ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    return "\n".join(
        [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        + [line([r.get(c, "") for c in columns]) for r in rows]
    )


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path
