"""Generation backends: turn a batch of (audio, prompt) requests into texts.

`ModelBackend` runs a loaded Granite Speech model (optionally with a peft adapter). Each
clip's audio goes through the encoder and projector on its own, so no clip sees another's
padding; the language model then decodes the whole batch at once with left padding. That
makes batched output equal to one-at-a-time output.

`FakeBackend` is for fast tests of everything around the model (chunking, stitching,
batching, error handling): it answers with a function of the request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from .prompts import TaskSpec, model_prompt


@dataclass
class Request:
    samples: np.ndarray  # 16 kHz mono float32
    spec: TaskSpec
    clip: str = ""  # name of the clip it comes from
    offset: float = 0.0  # seconds into that clip
    adapter: str | None = None  # peft adapter name; None = base model

    @property
    def duration(self) -> float:
        return len(self.samples) / 16_000


class Backend(Protocol):
    def generate(self, batch: list[Request]) -> list[str]: ...


@dataclass
class FakeBackend:
    """Answers `fn(request)` for each request; raises for requests whose clip is in `fail_on`."""

    fn: Callable[[Request], str] = lambda r: f"{r.spec.task} {r.duration:.1f}s"
    fail_on: set[str] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)  # batch sizes seen

    def generate(self, batch: list[Request]) -> list[str]:
        self.calls.append(len(batch))
        for r in batch:
            if r.clip in self.fail_on:
                raise RuntimeError(f"fake failure on {r.clip}")
        return [self.fn(r) for r in batch]


class ModelBackend:
    def __init__(self, lm, *, max_new_tokens: int = 200, num_beams: int = 1, min_new_tokens: int = 0):
        self.lm = lm
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.min_new_tokens = min_new_tokens  # > 0 forces a fixed length (benchmarks)

    def generate(self, batch: list[Request]) -> list[str]:
        """The answers, with surrounding white space removed (nothing else)."""
        return [t.strip() for t in self.raw_generate(batch)]

    def raw_generate(self, batch: list[Request]) -> list[str]:
        """The decoded tokens that follow each prompt (special tokens dropped), exactly as generated."""
        adapter = batch[0].adapter
        if any(r.adapter != adapter for r in batch):
            raise ValueError("One batch must use one adapter.")
        runtime = getattr(self.lm, "adapters", None)  # AdapterRuntime: serialises adapter switches
        if runtime is not None:
            with runtime.use(adapter):
                return self._generate(batch)
        if adapter:
            raise ValueError(f"Adapter {adapter!r} requested, but no adapters are loaded.")
        return self._generate(batch)

    def _generate(self, batch: list[Request]) -> list[str]:
        import torch

        lm = self.lm
        core = unwrap_peft(lm.model)
        tok = lm.processor.tokenizer
        texts = [model_prompt(tok, r.spec, len(r.samples)) for r in batch]
        enc = tok(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        device = core.device
        input_ids = enc["input_ids"].to(device)
        attention_mask = enc["attention_mask"].to(device)
        with torch.inference_mode():
            audio_embeds = [self.audio_embeddings(core, r.samples) for r in batch]
            embeds = core.model.get_merged_audio_embeddings(
                input_ids=input_ids, audio_features=torch.cat(audio_embeds, dim=1), input_features_mask=None)
            out = lm.model.generate(
                inputs_embeds=embeds, attention_mask=attention_mask, max_new_tokens=self.max_new_tokens,
                do_sample=False, num_beams=self.num_beams, pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, **({"min_new_tokens": self.min_new_tokens} if self.min_new_tokens else {}),
            )
        return tok.batch_decode(out, skip_special_tokens=True)

    def audio_embeddings(self, core, samples: np.ndarray):
        """Encoder + projector output for one clip, shape (1, n_audio_tokens, hidden)."""
        feats = self.lm.processor.audio_processor([samples], device="cpu")["input_features"]
        feats = feats.to(core.device, core.dtype)
        return core.get_audio_features(feats, return_dict=True).pooler_output


def unwrap_peft(model):
    """The GraniteSpeechForConditionalGeneration inside a peft wrapper (adapters stay active)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model
