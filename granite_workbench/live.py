"""Live transcription of a microphone stream: the text grows while the speaker talks.

Audio arrives in pieces (Gradio's streaming microphone sends one every second or so). After each piece,
silero-vad looks at the audio not decoded yet; speech followed by at least `close_after` seconds of silence is a
closed segment and is decoded at once, so each phrase appears as soon as the speaker pauses. When the recording
stops, `recording()` is the whole of it, and the caller transcribes that as one clip — the same path as an
upload — so the final text equals transcribing the recorded file (the live text is a preview of it).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .audio import SAMPLE_RATE, Audio, AudioError, load_audio
from .chunking import SPEECH_PAD, speech_regions

PENDING = " …"


class LiveTranscript:
    """One speaker's stream. `decode(audio)` turns a closed segment into text (the model, with the chosen
    language, keywords and adapter).

    The pieces are kept as they came (rate and samples); what is not decoded yet is converted to 16 kHz in one
    go at every piece, and `recording()` converts the whole — so no seam of the piecewise stream reaches the
    model, and the final clip is exactly what load_audio makes of the recorded file."""

    def __init__(self, decode: Callable[[Audio], str], *, close_after: float = 0.6, max_seconds: float = 600.0):
        self.decode = decode
        self.close_after = close_after
        self.max_seconds = max_seconds
        self.rate: int | None = None
        self.raw = np.zeros(0, dtype=np.float32)  # the stream as it came (mono), at `rate`
        self.done = 0  # raw samples decoded already (or silence before them)
        self.texts: list[str] = []

    @property
    def seconds(self) -> float:
        return len(self.raw) / self.rate if self.rate else 0.0

    def feed(self, piece) -> str:
        """Add a piece (Gradio's (rate, array)); returns the text so far, with "…" while speech waits for a
        pause."""
        rate, samples = piece if isinstance(piece, tuple) else (SAMPLE_RATE, load_audio(piece).samples)
        samples = np.asarray(samples)
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        if self.rate is None:
            self.rate, self.raw = int(rate), self.raw.astype(samples.dtype)
        elif int(rate) != self.rate:
            raise AudioError(f"The stream changed its sample rate ({self.rate} -> {rate} Hz).")
        if self.seconds + len(samples) / self.rate > self.max_seconds:
            raise AudioError(f"The live recording is limited to {self.max_seconds / 60:.0f} minutes.")
        self.raw = np.concatenate([self.raw, samples.astype(self.raw.dtype)])
        if (len(self.raw) - self.done) / self.rate < 0.5:
            return self.text()
        rest = load_audio((self.rate, self.raw[self.done:]), name="microphone")
        regions = speech_regions(rest)
        # decode up to the last pause of at least `close_after` seconds: a phrase's inner pauses stay inside it
        gaps = [(regions[i + 1][0] if i + 1 < len(regions) else rest.duration) - regions[i][1]
                for i in range(len(regions))]
        last = max((i for i, g in enumerate(gaps) if g >= self.close_after), default=-1)
        if last >= 0:
            start = max(0.0, regions[0][0] - SPEECH_PAD)
            end = min(rest.duration, regions[last][1] + SPEECH_PAD)
            clip = Audio(rest.samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)], name="microphone")
            text = self.decode(clip).strip()
            if text:
                self.texts.append(text)
            self.done += int(end * self.rate)
        return self.text() + (PENDING if len(regions) > last + 1 else "")

    def text(self) -> str:
        return " ".join(self.texts)

    def recording(self) -> Audio:
        """Everything recorded so far, as one clip (converted as a file of it would be)."""
        return load_audio((self.rate or SAMPLE_RATE, self.raw), name="microphone")
