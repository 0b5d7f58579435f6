"""Audio input: anything a user hands us (a path, bytes, an array, Gradio's (rate, array)) -> 16 kHz mono float32.

Decoding goes through libsndfile (wav, flac, ogg/opus, mp3) and falls back to ffmpeg for
containers it does not read (m4a, webm from a browser microphone, ...). Every failure is an
`AudioError` that names the clip and the problem; callers fail that clip only.
"""
from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
MIN_SECONDS = 0.1
MAX_SECONDS = 3 * 3600.0  # refuse anything longer; callers may lower it (the demo does)
SILENCE_PEAK = 1e-4  # a clip whose loudest sample is below this is treated as silence


class AudioError(ValueError):
    """A clip that cannot be used, with a message meant for the user."""


@dataclass
class Audio:
    samples: np.ndarray  # float32, mono, 16 kHz, values in [-1, 1]
    name: str = "audio"

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def silent(self) -> bool:
        return float(np.max(np.abs(self.samples))) < SILENCE_PEAK

    def slice(self, start: float, end: float) -> np.ndarray:
        return self.samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


def load_audio(source: Any, sample_rate: int | None = None, *, name: str | None = None,
               max_seconds: float = MAX_SECONDS) -> Audio:
    """Load and normalize one clip.

    `source` is a path, raw file bytes, an `Audio`, a numpy array / torch tensor (then give
    `sample_rate`), or a `(sample_rate, array)` tuple as Gradio hands it over.
    """
    if isinstance(source, Audio):
        return source
    label = name or _label(source)
    if isinstance(source, tuple) and len(source) == 2 and np.isscalar(source[0]):
        sample_rate, source = int(source[0]), source[1]
    if isinstance(source, (str, Path)):
        data, rate = _decode_file(Path(source), label, max_seconds)
    elif isinstance(source, (bytes, bytearray)):
        data, rate = _decode_bytes(bytes(source), label, max_seconds)
    else:
        if hasattr(source, "detach"):  # torch tensor
            source = source.detach().cpu().numpy()
        if not isinstance(source, np.ndarray):
            raise AudioError(f"{label}: unsupported audio input of type {type(source).__name__}.")
        if not sample_rate:
            raise AudioError(f"{label}: an array was given without its sample rate.")
        data, rate = source, int(sample_rate)
    samples = to_mono_float(data, label)
    if rate <= 0:
        raise AudioError(f"{label}: invalid sample rate {rate}.")
    duration = len(samples) / rate
    if duration > max_seconds:
        raise AudioError(f"{label}: too long ({_fmt(duration)}; the limit is {_fmt(max_seconds)}).")
    samples = resample(samples, rate)
    if len(samples) < MIN_SECONDS * SAMPLE_RATE:
        raise AudioError(
            f"{label}: too short ({len(samples) / SAMPLE_RATE:.3f} s; at least {MIN_SECONDS} s of audio is needed)."
            if len(samples) else f"{label}: empty audio (no samples)."
        )
    return Audio(samples=samples, name=label)


def to_mono_float(data: np.ndarray, label: str = "audio") -> np.ndarray:
    """Integer or float, any channel layout -> float32 mono in [-1, 1]. NaN/inf is refused."""
    data = np.asarray(data)
    if data.size == 0:
        raise AudioError(f"{label}: empty audio (no samples).")
    if data.ndim not in (1, 2):
        raise AudioError(f"{label}: expected a 1-D or 2-D audio array, got shape {data.shape}.")
    if np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_:
        data = _int_to_float(data)
    elif not np.issubdtype(data.dtype, np.floating):
        raise AudioError(f"{label}: unsupported sample type {data.dtype}.")
    if data.ndim == 2:  # (samples, channels) or (channels, samples): channels is the short side
        data = data.mean(axis=1 if data.shape[0] >= data.shape[1] else 0)
    data = data.astype(np.float32, copy=False)
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{label}: audio contains NaN or infinite samples.")
    peak = float(np.max(np.abs(data)))
    if peak > 1.0:  # float audio outside [-1, 1]: scale it back rather than clip it
        data = data / peak
    return np.ascontiguousarray(data)


def _int_to_float(data: np.ndarray) -> np.ndarray:
    if data.dtype == np.bool_:
        return data.astype(np.float32)
    info = np.iinfo(data.dtype)
    if info.min == 0:  # unsigned PCM is centred at mid-range
        mid = (info.max + 1) / 2
        return ((data.astype(np.float64) - mid) / mid).astype(np.float32)
    return (data.astype(np.float64) / -info.min).astype(np.float32)


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples
    import torch
    import torchaudio.functional as F

    out = F.resample(torch.from_numpy(samples), orig_freq=rate, new_freq=SAMPLE_RATE)
    return np.ascontiguousarray(out.numpy(), dtype=np.float32)


def _decode_file(path: Path, label: str, max_seconds: float) -> tuple[np.ndarray, int]:
    if not path.exists():
        raise AudioError(f"{label}: file not found.")
    if path.is_dir():
        raise AudioError(f"{label}: is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioError(f"{label}: empty file (0 bytes).")
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.frames / max(info.samplerate, 1) > max_seconds:
            raise AudioError(
                f"{label}: too long ({_fmt(info.frames / info.samplerate)}; the limit is {_fmt(max_seconds)})."
            )
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, rate
    except AudioError:
        raise
    except Exception as sf_error:  # not a format libsndfile reads: try ffmpeg
        return _ffmpeg_decode(["-i", str(path)], None, label, max_seconds, sf_error)


def _decode_bytes(blob: bytes, label: str, max_seconds: float) -> tuple[np.ndarray, int]:
    if not blob:
        raise AudioError(f"{label}: empty file (0 bytes).")
    import soundfile as sf

    try:
        data, rate = sf.read(io.BytesIO(blob), dtype="float32", always_2d=True)
        return data, rate
    except Exception as sf_error:
        return _ffmpeg_decode(["-i", "pipe:0"], blob, label, max_seconds, sf_error)


def _ffmpeg_decode(args: list[str], stdin: bytes | None, label: str, max_seconds: float,
                   first_error: Exception) -> tuple[np.ndarray, int]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(f"{label}: not a readable audio file ({first_error}).")
    cmd = [ffmpeg, "-nostdin", "-v", "error", *args, "-t", str(max_seconds + 1),
           "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=600)
    if proc.returncode != 0 or not proc.stdout:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = reason[-1] if reason else "no audio stream"
        raise AudioError(f"{label}: not a readable audio file ({detail}).")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), SAMPLE_RATE


def _label(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return "audio"


def _fmt(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"
