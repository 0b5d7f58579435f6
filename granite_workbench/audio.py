"""Audio input: anything a user hands us (a path, bytes, an array, Gradio's (rate, array)) -> 16 kHz mono float32.

Decoding goes through libsndfile (wav, flac, ogg/opus, mp3) and falls back to ffmpeg for
containers it does not read (m4a, webm from a browser microphone, ...). Every failure is an
`AudioError` that names the clip and the problem; callers fail that clip only.

Memory stays bounded by the 16 kHz result: files are read in blocks, mixed to mono and resampled as
they stream (`StreamResampler` computes exactly what torchaudio's sinc resampler computes on the whole
signal), and ffmpeg's output is read into one growing buffer. A 3-hour 8 kHz file needs the 0.7 GB of its
16 kHz samples, not the many GB of whole-file intermediates.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
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


def load_audio(
    source: Any, sample_rate: int | None = None, *, name: str | None = None, max_seconds: float = MAX_SECONDS
) -> Audio:
    """Load and normalize one clip.

    `source` is a path, raw file bytes, an `Audio`, a numpy array / torch tensor (then give
    `sample_rate`), or a `(sample_rate, array)` tuple as Gradio hands it over.
    """
    if isinstance(source, Audio):
        return source
    label = name or _label(source)
    if isinstance(source, tuple) and len(source) == 2 and np.isscalar(source[0]):
        sample_rate, source = int(source[0]), source[1]
    if isinstance(source, (str, Path)):  # streamed: already 16 kHz mono, checked and scaled
        return _checked(_decode_file(Path(source), label, max_seconds), label, max_seconds)
    if isinstance(source, (bytes, bytearray)):
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
    return _checked(resample(samples, rate), label, max_seconds)


def _checked(samples: np.ndarray, label: str, max_seconds: float) -> Audio:
    if len(samples) < MIN_SECONDS * SAMPLE_RATE:
        raise AudioError(
            f"{label}: too short ({len(samples) / SAMPLE_RATE:.3f} s; at least {MIN_SECONDS} s of audio is needed)."
            if len(samples)
            else f"{label}: empty audio (no samples)."
        )
    if len(samples) / SAMPLE_RATE > max_seconds:
        raise AudioError(f"{label}: too long ({_fmt(len(samples) / SAMPLE_RATE)}; the limit is {_fmt(max_seconds)}).")
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


MIN_FILE_RATE, MAX_FILE_RATE = 1_000, 384_000  # sample rates audio files are recorded at
BLOCK_FRAMES = 1 << 18  # frames read, mixed and resampled at a time (about 16 s at 16 kHz)


class StreamResampler:
    """Resample a stream of blocks to 16 kHz with torchaudio's sinc kernel, block by block.

    The whole-signal method pads with `width` zeros on the left and `width + orig` on the right and slides the
    kernel with stride `orig`; here the same windows are taken from a small carry-over buffer, so the output
    equals `torchaudio.functional.resample` (to float rounding) while holding only one block at a time."""

    def __init__(self, rate: int):
        import torchaudio.transforms as T

        t = T.Resample(rate, SAMPLE_RATE)
        self.kernel, self.width = t.kernel, t.width
        self.orig, self.new = rate // t.gcd, SAMPLE_RATE // t.gcd
        self.buf = np.zeros(self.width, dtype=np.float32)  # the left padding
        self.seen = 0

    def _frames(self, final: bool) -> np.ndarray:
        import torch

        span = 2 * self.width + self.orig
        if len(self.buf) < span:
            return np.zeros(0, dtype=np.float32)
        n = (len(self.buf) - span) // self.orig + 1
        seg = torch.from_numpy(self.buf[: (n - 1) * self.orig + span])
        out = torch.nn.functional.conv1d(seg[None, None], self.kernel, stride=self.orig)  # (1, new, n)
        self.buf = self.buf[n * self.orig :]
        return out[0].T.reshape(-1).numpy()

    def push(self, block: np.ndarray) -> np.ndarray:
        """Resampled output that the samples so far fully determine."""
        self.seen += len(block)
        self.buf = np.concatenate([self.buf, block.astype(np.float32, copy=False)])
        return self._frames(final=False)

    def finish(self) -> np.ndarray:
        """The rest of the output (right padding applied)."""
        self.buf = np.concatenate([self.buf, np.zeros(self.width + self.orig, dtype=np.float32)])
        return self._frames(final=True)

    def output_length(self, frames: int) -> int:
        return -(-self.new * frames // self.orig)


def release_freed_memory() -> None:
    """Hand memory that was freed back to the OS (glibc keeps freed block-sized buffers otherwise: seen as
    0.6 GB of extra RSS after streaming a 3-hour file). A no-op where glibc is not the allocator."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            import ctypes

            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM = None
TRIM_EVERY = 32  # blocks between releases of freed memory while streaming


def resample_blocks(blocks, rate: int, frames: int) -> np.ndarray:
    """Mono float32 blocks at `rate` (`frames` in all) -> one 16 kHz array, one block in memory at a time."""
    if rate == SAMPLE_RATE:
        out = np.empty(frames, dtype=np.float32)
        pos = 0
        for block in blocks:
            out[pos : pos + len(block)] = block
            pos += len(block)
        return out[:pos]
    rs = StreamResampler(rate)
    out = np.empty(rs.output_length(frames) + rs.new, dtype=np.float32)
    pos = 0

    def parts():
        for i, block in enumerate(blocks, 1):
            yield rs.push(block)
            if i % TRIM_EVERY == 0:
                release_freed_memory()
        yield rs.finish()

    for part in parts():
        n = min(len(part), len(out) - pos)
        out[pos : pos + n] = part[:n]
        pos += n
    release_freed_memory()
    return out[: rs.output_length(rs.seen)]


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples
    blocks = (samples[i : i + BLOCK_FRAMES] for i in range(0, len(samples), BLOCK_FRAMES))
    return resample_blocks(blocks, rate, len(samples))


def _decode_file(path: Path, label: str, max_seconds: float) -> np.ndarray:
    """16 kHz mono float32 in [-1, 1] from a file, streamed (libsndfile, else ffmpeg)."""
    if not path.exists():
        raise AudioError(f"{label}: file not found.")
    if path.is_dir():
        raise AudioError(f"{label}: is a folder, not an audio file.")
    if path.stat().st_size == 0:
        raise AudioError(f"{label}: empty file (0 bytes).")
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as sf_error:  # not a format libsndfile reads: try ffmpeg
        return _scaled(_ffmpeg_decode(["-i", str(path)], None, label, max_seconds, sf_error)[0], label)
    if not MIN_FILE_RATE <= info.samplerate <= MAX_FILE_RATE:  # the header is the writer's word: bound it
        raise AudioError(
            f"{label}: sample rate {info.samplerate:,} Hz is not an audio rate "
            f"({MIN_FILE_RATE:,}-{MAX_FILE_RATE:,} Hz)."
        )
    if info.frames / max(info.samplerate, 1) > max_seconds:
        raise AudioError(
            f"{label}: too long ({_fmt(info.frames / info.samplerate)}; the limit is {_fmt(max_seconds)})."
        )
    try:
        return _stream_file(path, info, label)
    except AudioError:
        raise
    except Exception as sf_error:  # a file whose header reads but whose data does not: try ffmpeg
        return _scaled(_ffmpeg_decode(["-i", str(path)], None, label, max_seconds, sf_error)[0], label)


def _scaled(samples: np.ndarray, label: str) -> np.ndarray:
    """Refuse NaN/inf and scale float audio beyond [-1, 1] back, block by block (no whole-array temporaries)."""
    peak = 0.0
    for i in range(0, len(samples), BLOCK_FRAMES):
        block = samples[i : i + BLOCK_FRAMES]
        if not np.all(np.isfinite(block)):
            raise AudioError(f"{label}: audio contains NaN or infinite samples.")
        peak = max(peak, float(np.max(np.abs(block))) if len(block) else 0.0)
    if peak > 1.0:
        samples /= peak
    return samples


def _stream_file(path: Path, info, label: str) -> np.ndarray:
    """Read, mix to mono and resample block by block; then scale float audio beyond [-1, 1] back."""
    import soundfile as sf

    def mono_blocks():
        for block in sf.blocks(str(path), blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
            yield block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]

    out = resample_blocks(mono_blocks(), info.samplerate, info.frames)
    if not len(out):
        raise AudioError(f"{label}: empty audio (no samples).")
    return _scaled(out, label)


def _decode_bytes(blob: bytes, label: str, max_seconds: float) -> tuple[np.ndarray, int]:
    if not blob:
        raise AudioError(f"{label}: empty file (0 bytes).")
    import soundfile as sf

    try:
        data, rate = sf.read(io.BytesIO(blob), dtype="float32", always_2d=True)
        return data, rate
    except Exception as sf_error:
        return _ffmpeg_decode(["-i", "pipe:0"], blob, label, max_seconds, sf_error)


def _ffmpeg_decode(
    args: list[str], stdin: bytes | None, label: str, max_seconds: float, first_error: Exception
) -> tuple[np.ndarray, int]:
    """Decode, mix and resample with ffmpeg; its 16 kHz output is read into one growing buffer."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        detail = str(first_error)
        for arg in args[1::2]:
            detail = detail.replace(arg, label)
        raise AudioError(f"{label}: not a readable audio file ({detail}).")
    cmd = [
        ffmpeg,
        "-nostdin",
        "-v",
        "error",
        *args,
        "-t",
        str(max_seconds + 1),
        "-f",
        "f32le",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "pipe:1",
    ]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        if stdin is not None:  # feed from a thread so a full stdout pipe cannot block the writer
            import threading

            def feed():
                try:
                    proc.stdin.write(stdin)
                except (BrokenPipeError, OSError):
                    pass
                finally:
                    proc.stdin.close()

            threading.Thread(target=feed, daemon=True).start()
        data = bytearray()
        while chunk := proc.stdout.read(1 << 20):
            data += chunk
        proc.wait(timeout=600)
        errors.seek(0)
        reason = errors.read().decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not data:
        detail = reason[-1] if reason else "no audio stream"
        for arg in args[1::2]:  # ffmpeg names its input by its path: say the clip's name instead
            detail = detail.replace(f"{arg}: ", "").replace(arg, label)
        raise AudioError(f"{label}: not a readable audio file ({detail}).")
    return np.frombuffer(data[: len(data) // 4 * 4], dtype=np.float32), SAMPLE_RATE


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
