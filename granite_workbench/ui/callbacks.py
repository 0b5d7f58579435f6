"""What each demo action does, as plain functions of the UI's inputs (tested without a browser).

Every problem a user can cause becomes a `gr.Error` with a specific message; the server keeps
serving. The heavy functions carry `spaces.GPU` on ZeroGPU Spaces (a no-op elsewhere).
"""
from __future__ import annotations

import hashlib
import html
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ..audio import AudioError, load_audio
from ..keywords import found_keywords, keyword_spans
from ..languages import UnsupportedLanguageError, check_direction
from ..adapters import BASE, runtime_for
from ..prompts import TaskSpec, clean_keywords
from ..registry import AdapterRegistry
from ..service import ModelNotReady, ModelService
from ..training_job import TrainingJob
from ..transcribe import Result, Transcriber
from ..writers import FORMATS, write_result

try:  # ZeroGPU on Hugging Face Spaces
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:  # anywhere else: a no-op
    def gpu(fn):
        return fn

DEFAULT_MAX_AUDIO_MINUTES = 30.0


@dataclass
class Workbench:
    """The demo's state: the model service and the limits that protect the server."""

    service: ModelService
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_MINUTES * 60
    batch_size: int = 8
    max_new_tokens: int = 200
    downloads: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="granite-wb-")))
    cache: OrderedDict = field(default_factory=OrderedDict)  # lazy cache of results (examples, repeats)
    cache_size: int = 64
    registry: AdapterRegistry = field(default_factory=AdapterRegistry)
    job: TrainingJob | None = None

    def __post_init__(self) -> None:
        if self.job is None:
            self.job = TrainingJob(self.registry.root)

    def adapter_for(self, choice: str | None) -> str | None:
        """The adapter name a task tab asked for (None = base model); refuses names that are not loaded."""
        if not choice or choice == BASE:
            return None
        lm = self.service.get()
        loaded = runtime_for(lm).names()
        if choice not in loaded:
            raise gr.Error(f"Adapter {choice!r} is not loaded. Loaded: {', '.join(loaded) or 'none'}. "
                           "Load it in the Adapters tab.", title="Adapter")
        return choice

    def transcriber(self) -> Transcriber:
        try:
            lm = self.service.get()
        except ModelNotReady as exc:
            raise gr.Error(str(exc), title="Model not ready") from None
        return Transcriber(lm, batch_size=self.batch_size, max_new_tokens=self.max_new_tokens,
                           max_audio_seconds=self.max_audio_seconds)

    def clip(self, audio: Any):
        """Decode and check the clip once (a refusal names the clip's problem, not a model failure)."""
        if audio is None or (isinstance(audio, str) and not audio):
            raise gr.Error("No audio: upload a file or record with the microphone first.", title="No audio")
        try:
            return load_audio(audio, max_seconds=self.max_audio_seconds,
                              name=Path(audio).name if isinstance(audio, (str, os.PathLike)) else None)
        except AudioError as exc:
            raise gr.Error(str(exc), title="Unusable audio") from None

    def run(self, audio: Any, spec: TaskSpec, progress: gr.Progress | None = None, adapter: str | None = None
            ) -> Result:
        clip = self.clip(audio)
        tr = self.transcriber()
        if progress is not None:
            progress(0, desc="Transcribing…")

        def tick(done: int, total: int) -> None:
            if progress is not None:
                progress((done, total), desc=f"Chunk {done}/{total}", unit="chunks")

        adapter = self.adapter_for(adapter)
        key = (id(tr.lm), adapter, spec, hashlib.sha1(clip.samples.tobytes()).hexdigest())
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        res = tr.run([clip], spec, progress=tick, adapter=adapter)[0]
        if not res.ok:
            raise gr.Error(res.error or "Failed.", title="Transcription failed")
        self.cache[key] = res
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return res

    def files_for(self, res: Result) -> list[str]:
        folder = Path(tempfile.mkdtemp(dir=self.downloads))
        return [str(write_result(res, folder, fmt)) for fmt in FORMATS]


def _fmt_time(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


def segments_table(res: Result) -> list[list[str]]:
    return [[_fmt_time(s.start), _fmt_time(s.end), s.text] for s in res.segments]


def _text_or_note(res: Result) -> str:
    if res.note == "silent":
        return "(The clip is silent: nothing to transcribe.)"
    if res.note:
        return f"({res.note})"
    return res.text


def transcribe(wb: Workbench, audio, language: str | None, adapter: str | None = None, progress=None):
    spec = TaskSpec("asr", language=language or None)
    res = wb.run(audio, spec, progress, adapter)
    return _text_or_note(res), segments_table(res), wb.files_for(res)


def translate(wb: Workbench, audio, source: str, target: str, adapter: str | None = None, progress=None):
    try:
        source, target = check_direction(source, target)
    except UnsupportedLanguageError as exc:
        raise gr.Error(str(exc), title="Unsupported direction") from None
    res = wb.run(audio, TaskSpec("ast", language=source, target=target), progress, adapter)
    return _text_or_note(res), segments_table(res), wb.files_for(res)


def parse_keywords(text: str | None) -> tuple[str, ...]:
    try:
        kws = clean_keywords(text or "")
    except ValueError as exc:
        raise gr.Error(str(exc), title="Keyword list") from None
    if not kws:
        raise gr.Error("Enter at least one keyword (comma- or line-separated).", title="Keyword list")
    return kws


def highlight_html(text: str, keywords: tuple[str, ...]) -> str:
    out, pos = [], 0
    for start, end, _ in keyword_spans(text, keywords):
        out += [html.escape(text[pos:start]), f"<mark class='kw'>{html.escape(text[start:end])}</mark>"]
        pos = end
    out.append(html.escape(text[pos:]))
    body = "".join(out) or "<span class='muted'>(no speech)</span>"
    return f"<div class='transcript'>{body}</div>"


def keyword_compare(wb: Workbench, audio, keywords_text: str, adapter: str | None = None, progress=None):
    kws = parse_keywords(keywords_text)
    clip = wb.clip(audio)  # decoded once for both runs
    plain = wb.run(clip, TaskSpec("asr"), progress, adapter)
    biased = wb.run(clip, TaskSpec("asr_keywords", keywords=kws), progress, adapter)
    found_plain, found_biased = found_keywords(plain.text, kws), found_keywords(biased.text, kws)
    summary = (f"**Without keywords:** {len(found_plain)}/{len(kws)} found"
               f"{' — ' + ', '.join(found_plain) if found_plain else ''}  \n"
               f"**With keywords:** {len(found_biased)}/{len(kws)} found"
               f"{' — ' + ', '.join(found_biased) if found_biased else ''}")
    return highlight_html(plain.text, kws), highlight_html(biased.text, kws), summary


def load_model_action(wb: Workbench, model_id: str) -> str:
    model_id = (model_id or "").strip()
    if not model_id:
        raise gr.Error("Enter a hub id, a local folder, or 'tiny'.", title="Model")
    try:
        wb.service.start(model_id)
    except ModelNotReady as exc:
        raise gr.Error(str(exc), title="Model") from None
    return wb.service.status_markdown()
