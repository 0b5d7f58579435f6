"""Engines: the seam between the workbench and whatever runs the model.

An engine turns a batch of requests (16 kHz audio + a task spec + an adapter name) into texts. The
transcription core, the demo and evaluation only talk to an `Engine`:

- `LocalEngine` runs a loaded Granite Speech model in this process (transformers + peft). It owns the
  model's `AdapterRuntime` (adapters loaded on the live model; generation holds its lock, so a request
  always runs with the adapter it asked for). Each clip goes through the encoder and projector on its own,
  so no clip sees another's padding; the language model decodes the batch together with left padding:
  batched output equals one-at-a-time output.
- `FakeEngine` answers with a function of the request: fast tests of everything around the model.

A remote OpenAI-compatible server or another decoding strategy is one more class with `generate`.
Decoding options travel with each call (`DecodingOptions`), so one engine serves callers with different
limits. `engine_for(lm)` returns the one engine of a loaded model (there is exactly one per model: two
would hold two locks over the same peft state).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from .adapters import AdapterRuntime
from .loading import LoadedModel, unwrap_peft
from .prompts import TaskSpec, model_prompt


@dataclass
class Request:
    samples: np.ndarray  # 16 kHz mono float32
    spec: TaskSpec
    clip: str = ""  # name of the clip it comes from
    offset: float = 0.0  # seconds into that clip
    adapter: str | None = None  # adapter name; None = base model

    @property
    def duration(self) -> float:
        return len(self.samples) / 16_000


@dataclass(frozen=True)
class DecodingOptions:
    """How to decode: the model card's greedy decoding by default."""

    max_new_tokens: int = 200
    num_beams: int = 1
    min_new_tokens: int = 0  # > 0 forces a fixed length (benchmarks)


@runtime_checkable
class Engine(Protocol):
    def generate(self, batch: list[Request], options: DecodingOptions) -> list[str]:
        """One text per request, in order. A batch uses one adapter."""

    def describe(self) -> str:
        """The model and where it runs, for status lines."""

    def adapter_names(self) -> list[str]:
        """Adapters a request may name."""


@dataclass
class FakeEngine:
    """Answers `fn(request)` for each request; raises for requests whose clip is in `fail_on`."""

    fn: Callable[[Request], str] = lambda r: f"{r.spec.task} {r.duration:.1f}s"
    fail_on: set[str] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)  # batch sizes seen

    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[str]:
        self.calls.append(len(batch))
        for r in batch:
            if r.clip in self.fail_on:
                raise RuntimeError(f"fake failure on {r.clip}")
        return [self.fn(r) for r in batch]

    def describe(self) -> str:
        return "fake engine"

    def adapter_names(self) -> list[str]:
        return []


class LocalEngine:
    """A loaded model in this process, with its adapters."""

    def __init__(self, lm: LoadedModel):
        self.lm = lm
        self.adapters = AdapterRuntime(lm)

    def describe(self) -> str:
        return self.lm.describe()

    def adapter_names(self) -> list[str]:
        return self.adapters.names()

    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[str]:
        """The answers, with surrounding white space removed (nothing else)."""
        return [t.strip() for t in self.raw_generate(batch, options)]

    def raw_generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[str]:
        """The decoded tokens that follow each prompt (special tokens dropped), exactly as generated."""
        adapter = batch[0].adapter
        if any(r.adapter != adapter for r in batch):
            raise ValueError("One batch must use one adapter.")
        with self.adapters.use(adapter):
            return self._generate(batch, options or DecodingOptions())

    def _generate(self, batch: list[Request], options: DecodingOptions) -> list[str]:
        import torch

        lm = self.lm
        core = unwrap_peft(lm.model)
        tok = lm.processor.tokenizer
        texts = [model_prompt(tok, r.spec, len(r.samples)) for r in batch]
        enc = tok(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        device = core.device
        input_ids = enc["input_ids"].to(device)
        attention_mask = enc["attention_mask"].to(device)
        extra = {"min_new_tokens": options.min_new_tokens} if options.min_new_tokens else {}
        with torch.inference_mode():
            audio_embeds = [self.audio_embeddings(r.samples) for r in batch]
            embeds = core.model.get_merged_audio_embeddings(
                input_ids=input_ids, audio_features=torch.cat(audio_embeds, dim=1), input_features_mask=None)
            out = lm.model.generate(
                inputs_embeds=embeds, attention_mask=attention_mask, max_new_tokens=options.max_new_tokens,
                do_sample=False, num_beams=options.num_beams, pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, **extra)
        return tok.batch_decode(out, skip_special_tokens=True)

    def audio_embeddings(self, samples: np.ndarray):
        """Encoder + projector output for one clip, shape (1, n_audio_tokens, hidden)."""
        core = unwrap_peft(self.lm.model)
        feats = self.lm.processor.audio_processor([samples], device="cpu")["input_features"]
        feats = feats.to(core.device, core.dtype)
        return core.get_audio_features(feats, return_dict=True).pooler_output


_ENGINES: "weakref.WeakKeyDictionary[LoadedModel, LocalEngine]" = weakref.WeakKeyDictionary()
_ENGINES_LOCK = threading.Lock()


def engine_for(model: LoadedModel | Engine) -> Engine:
    """The engine of a loaded model (created once per model), or the engine given."""
    if not isinstance(model, LoadedModel):
        if not isinstance(model, Engine):
            raise TypeError(f"Expected a loaded model (load_model(...)) or an engine, got {type(model).__name__}.")
        return model
    with _ENGINES_LOCK:
        engine = _ENGINES.get(model)
        if engine is None:
            engine = _ENGINES[model] = LocalEngine(model)
        return engine
