"""Live transcription of a microphone stream: the text grows while the speaker talks.

Audio arrives in pieces (Gradio's streaming microphone sends one every half second; it leaves out the piece
not complete when Stop is clicked, so up to half a second at the very end never arrives). silero-vad looks at the
audio not decoded yet; speech followed by at least `close_after` seconds of silence is a closed segment and is
decoded, so each phrase appears as soon as the speaker pauses. When the recording stops, `recording()` is the
whole of it, and the caller transcribes that as one clip — the same path as an upload — so the final text equals
transcribing the recorded file (the live text is a preview of it).

Taking a piece must be quick: Gradio's microphone drops the audio it records while the server has not answered
the previous piece. So with an `executor`, `feed` only keeps the piece and hands the looking and decoding to
the executor (one job per stream at a time); the text of the closed segments shows on the next piece. Without
one, `feed` decodes before it returns (tests, scripts).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future

import numpy as np

from .audio import SAMPLE_RATE, Audio, AudioError, _int_to_float, load_audio
from .chunking import SPEECH_PAD, speech_regions

PENDING = " …"
# A streamed piece says its own sample rate (the WAV header its client wrote): only rates microphones record at
# are taken, so a forged rate cannot make many samples look like a few milliseconds.
MIN_RATE, MAX_RATE = 8_000, 48_000
MAX_PIECE_SECONDS = 10.0  # Gradio's microphone sends half a second at a time


class LiveBudget:
    """Memory held by all live recordings of the process together (bytes of samples): a stream that would take
    more is refused. Counted from the streams themselves (weakly held), so a stream that is dropped — its
    session closed — frees its share without any bookkeeping."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._streams: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    def held(self) -> int:
        with self._lock:
            return sum(s.raw.nbytes for s in list(self._streams))

    def admit(self, stream: LiveTranscript, extra: int) -> None:
        with self._lock:
            self._streams.add(stream)
        if self.held() + extra > self.max_bytes:
            raise AudioError(
                "The demo is holding as many live recordings as it can right now; stop yours and try again in a moment."
            )


class LiveTranscript:
    """One speaker's stream. `decode(audio)` turns a closed segment into text (the model, with the chosen
    language, keywords and adapter).

    The pieces are kept as they came (rate and samples); what is not decoded yet is converted to 16 kHz in one
    go at every look, and `recording()` converts the whole — so no seam of the piecewise stream reaches the
    model, and the final clip is exactly what load_audio makes of the recorded file."""

    def __init__(
        self,
        decode: Callable[[Audio], str],
        *,
        close_after: float = 0.6,
        max_seconds: float = 600.0,
        executor: Executor | None = None,
        budget: LiveBudget | None = None,
    ):
        self.decode = decode
        self.budget = budget
        self.close_after = close_after
        self.max_seconds = max_seconds
        self.executor = executor
        self.rate: int | None = None
        self.raw = np.zeros(0, dtype=np.int16)  # the stream as it came (mono, 16-bit), at `rate`
        self.done = 0  # raw samples decoded already (or silence before them)
        self.texts: list[str] = []
        self.waiting = False  # speech after the last closed segment, waiting for a pause
        self.error: str | None = None  # a decoding failure in the background, reported on the next piece
        self.note = ""  # who writes the text, in words (a translation: which model), shown beside it
        self._lock = threading.Lock()
        self._job: Future | None = None

    @property
    def seconds(self) -> float:
        return len(self.raw) / self.rate if self.rate else 0.0

    def feed(self, piece) -> str:
        """Add a piece (Gradio's (rate, array)); returns the text so far, with "…" while speech waits for a
        pause (or is being decoded)."""
        rate, samples = self._checked(piece)
        with self._lock:
            if self.error:
                raise AudioError(self.error)
            if self.rate is None:
                self.rate = rate
            elif rate != self.rate:
                raise AudioError(f"The stream changed its sample rate ({self.rate} -> {rate} Hz).")
            if len(self.raw) + len(samples) > self.max_seconds * self.rate:
                limit = (
                    f"{self.max_seconds / 60:g} minutes" if self.max_seconds >= 60 else f"{self.max_seconds:g} seconds"
                )
                raise AudioError(f"The live recording is limited to {limit}.")
            if self.budget is not None:
                self.budget.admit(self, samples.nbytes)
            self.raw = np.concatenate([self.raw, samples])
            due = (len(self.raw) - self.done) / self.rate >= 0.5
            busy = self._job is not None and not self._job.done()
            if due and not busy and self.executor is not None:
                self._job, busy = self.executor.submit(self._advance), True
        if due and self.executor is None:
            self._step()
        return self.text() + (PENDING if self.waiting or busy else "")

    @staticmethod
    def _checked(piece) -> tuple[int, np.ndarray]:
        """(rate, mono 16-bit samples) of a piece, refused before it is kept when its rate or length is not one a
        microphone sends. Kept as 16-bit, what the recording's file holds: half the memory of float."""
        rate, samples = piece if isinstance(piece, tuple) else (SAMPLE_RATE, load_audio(piece).samples)
        try:
            rate = int(rate)
        except (TypeError, ValueError, OverflowError):
            raise AudioError(f"The stream's sample rate {rate!r} is not a number.") from None
        if not MIN_RATE <= rate <= MAX_RATE:
            raise AudioError(
                f"The stream's sample rate ({rate:,} Hz) is outside what microphones record "
                f"({MIN_RATE:,}-{MAX_RATE:,} Hz)."
            )
        samples = np.asarray(samples)
        if samples.ndim == 2:
            samples = samples.mean(axis=1).astype(samples.dtype)
        if samples.ndim != 1 or len(samples) > MAX_PIECE_SECONDS * rate:
            raise AudioError(f"A streamed piece holds at most {MAX_PIECE_SECONDS:g} seconds of mono or stereo audio.")
        if samples.dtype != np.int16:
            floats = _int_to_float(samples) if np.issubdtype(samples.dtype, np.integer) else samples.astype(np.float32)
            samples = (np.clip(np.nan_to_num(floats), -1.0, 1.0) * 32767).round().astype(np.int16)
        return rate, samples

    def close(self) -> None:
        """Free the recording (the session is gone, or the final pass has been made)."""
        with self._lock:
            self.raw = np.zeros(0, dtype=np.int16)

    def _advance(self) -> None:
        """Decode the audio not decoded yet up to its last pause, if it has one."""
        try:
            self._step()
        except Exception as exc:  # the stream goes on failing with the reason, the server goes on
            self.error = f"Live transcription stopped: {exc}"

    def _step(self) -> None:
        with self._lock:
            rate, done, rest_raw = self.rate, self.done, self.raw[self.done :]
        rest = load_audio((rate, rest_raw), name="microphone")
        regions = speech_regions(rest)
        # decode up to the last pause of at least `close_after` seconds: a phrase's inner pauses stay inside it
        gaps = [
            (regions[i + 1][0] if i + 1 < len(regions) else rest.duration) - regions[i][1] for i in range(len(regions))
        ]
        last = max((i for i, g in enumerate(gaps) if g >= self.close_after), default=-1)
        self.waiting = len(regions) > last + 1
        if last < 0:
            return
        start = max(0.0, regions[0][0] - SPEECH_PAD)
        end = min(rest.duration, regions[last][1] + SPEECH_PAD)
        text = self.decode(
            Audio(rest.samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], name="microphone")
        ).strip()
        with self._lock:
            if text:
                self.texts.append(text)
            self.done = done + int(end * rate)  # the audio that came meanwhile waits for the next look

    def finish(self) -> None:
        """Wait for the background work of this stream (before the final pass uses the model)."""
        job = self._job
        if job is not None:
            job.result()

    def text(self) -> str:
        return " ".join(self.texts)

    def recorded(self) -> tuple[int, np.ndarray]:
        """Everything recorded so far as it came: (rate, 16-bit samples) — what a WAV file of it holds."""
        with self._lock:
            return self.rate or SAMPLE_RATE, self.raw

    def recording(self) -> Audio:
        """Everything recorded so far, as one clip: exactly what load_audio makes of `recorded()` saved as a file."""
        return load_audio(self.recorded(), name="microphone")
