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
from typing import Any, Callable, Protocol, runtime_checkable

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


DECODING_MODES = ("greedy", "speculative", "speculative-exact")


@dataclass(frozen=True)
class DecodingOptions:
    """How to decode (faster-whisper style: one typed group of options, passed with every call).

    decoding: `greedy` (the model card's); `speculative` (IBM's self-speculative decoding: the CTC head's
    draft is accepted when its max frame entropy is at most `ctc_threshold`, else the LLM checks it in one
    forward pass and accepts it when every draft token has probability >= `confidence_threshold`, else greedy
    decoding); `speculative-exact` (the longest draft prefix that greedy decoding would produce is accepted from
    one forward pass, then greedy decoding continues: the output equals greedy's). Translation always decodes
    greedily (a transcript draft is no translation).
    word_timestamps: align the final text to the CTC emissions (ASR only) and give every word its times."""

    max_new_tokens: int = 200
    num_beams: int = 1
    min_new_tokens: int = 0  # > 0 forces a fixed length (benchmarks)
    decoding: str = "greedy"
    ctc_threshold: float = 0.7  # IBM's default
    confidence_threshold: float = 0.1  # IBM's default
    word_timestamps: bool = False

    def __post_init__(self) -> None:
        if self.decoding not in DECODING_MODES:
            raise ValueError(f"Unknown decoding {self.decoding!r}. Choose one of: {', '.join(DECODING_MODES)}.")


@dataclass
class Generation:
    """One request's answer and what it cost."""

    text: str
    path: str = "greedy"  # greedy | ctc (draft accepted as is) | verified (draft checked by the LLM) | fallback
    llm_passes: int = 0  # forward passes of the language model this answer needed (alone)
    words: list | None = None  # ctc.Word list (seconds into the request's audio), when asked for
    note: str | None = None  # e.g. why speculative decoding was not used


PATHS = ("greedy", "ctc", "verified", "fallback")


def add_paths(total: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    """Sum path counts (chunks per path, and `llm_passes`) into `total`; returns it."""
    for k, v in counts.items():
        total[k] = total.get(k, 0) + v
    return total


def describe_paths(counts: dict[str, int]) -> str:
    """'4 chunks: ctc 50%, verified 25%, fallback 25%; 9 LLM forward passes' from path counts."""
    chunks = sum(counts.get(p, 0) for p in PATHS)
    if not chunks:
        return "no chunks decoded"
    shares = ", ".join(f"{p} {100 * counts[p] / chunks:.0f}%" for p in PATHS if counts.get(p))
    return f"{chunks} chunk{'s' * (chunks != 1)}: {shares}; {counts.get('llm_passes', 0)} LLM forward passes"


@runtime_checkable
class Engine(Protocol):
    def generate(self, batch: list[Request], options: DecodingOptions) -> list[Generation]:
        """One answer per request, in order. A batch uses one adapter."""

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

    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[Generation]:
        self.calls.append(len(batch))
        for r in batch:
            if r.clip in self.fail_on:
                raise RuntimeError(f"fake failure on {r.clip}")
        return [Generation(self.fn(r)) for r in batch]

    def describe(self) -> str:
        return "fake engine"

    def adapter_names(self) -> list[str]:
        return []


@dataclass
class AudioPass:
    """One clip through the encoder: its hidden states, the projector's embeddings, the CTC head's logits."""

    embeds: "object"  # (1, n_audio_tokens, lm hidden)
    ctc_logits: "object"  # (frames, labels)
    seconds: float


class LocalEngine:
    """A loaded model in this process, with its adapters. The decoding strategies live in decoding.py; this
    class gives them the model's three primitives: the audio pass, one LLM forward over given tokens, and
    greedy generation after given tokens."""

    def __init__(self, lm: LoadedModel):
        self.lm = lm
        self.adapters = AdapterRuntime(lm)

    def describe(self) -> str:
        return self.lm.describe()

    def adapter_names(self) -> list[str]:
        return self.adapters.names()

    @property
    def tokenizer(self):
        return self.lm.processor.tokenizer

    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[Generation]:
        """The answers (surrounding white space removed, nothing else) and what each cost."""
        from .decoding import decode_batch

        adapter = batch[0].adapter
        if any(r.adapter != adapter for r in batch):
            raise ValueError("One batch must use one adapter.")
        with self.adapters.use(adapter):
            return decode_batch(self, batch, options or DecodingOptions())

    def raw_generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[str]:
        """The decoded tokens that follow each prompt (special tokens dropped), exactly as greedy decoding
        generates them."""
        options = options or DecodingOptions()
        with self.adapters.use(batch[0].adapter):
            audio = [self.audio_pass(r.samples) for r in batch]
            out = self.continue_greedy([self.prompt_ids(r) for r in batch], [a.embeds for a in audio],
                                       [[] for _ in batch], options)
        return [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in out]

    # -- the primitives --------------------------------------------------------------------------------
    def prompt_ids(self, request: Request) -> list[int]:
        tok = self.tokenizer
        return tok(model_prompt(tok, request.spec, len(request.samples)), add_special_tokens=False)["input_ids"]

    def audio_pass(self, samples: np.ndarray) -> AudioPass:
        """Encoder, CTC head and projector for one clip (alone: no clip sees another's padding)."""
        import torch

        core = unwrap_peft(self.lm.model)
        feats = self.lm.processor.audio_processor([samples], device="cpu")["input_features"]
        feats = feats.to(core.device, core.dtype)
        with torch.inference_mode():
            hidden = core.model.encoder(feats).last_hidden_state
            embeds = core.model.projector(hidden)
            ctc = core.model.encoder.out(hidden)[0]
        return AudioPass(embeds, ctc, len(samples) / 16_000)

    def audio_embeddings(self, samples: np.ndarray):
        """Encoder + projector output for one clip, shape (1, n_audio_tokens, hidden)."""
        return self.audio_pass(samples).embeds

    def _merged(self, ids, embeds):
        import torch

        core = unwrap_peft(self.lm.model)
        return core.model.get_merged_audio_embeddings(input_ids=ids, audio_features=torch.cat(embeds, dim=1),
                                                      input_features_mask=None)

    @staticmethod
    def _left_padded(seqs: list[list[int]], pad: int):
        import torch

        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s):] = 1
        return ids, mask

    def continue_greedy(self, prompts: list[list[int]], embeds: list, prefixes: list[list[int]],
                        options: DecodingOptions, reuse: "Verified | None" = None) -> list[list[int]]:
        """Greedy decoding of each request after its prompt and a prefix of answer tokens (left-padded batch);
        returns the new tokens of each (eos included when generated).

        `reuse`: the verification pass these requests come from (same order, `reuse.rows`): its keys and
        values for prompt + prefix are kept, so only the tokens after them are computed."""
        import torch

        tok = self.tokenizer
        ids, mask = self._left_padded([p + x for p, x in zip(prompts, prefixes)], tok.pad_token_id)
        device = unwrap_peft(self.lm.model).device
        extra = {"min_new_tokens": options.min_new_tokens} if options.min_new_tokens else {}
        if reuse is not None:
            extra["past_key_values"] = reuse.cache_for([len(p) + len(x) for p, x in zip(prompts, prefixes)],
                                                       ids.shape[1] - 1)
        with torch.inference_mode():
            out = self.lm.model.generate(
                inputs_embeds=self._merged(ids.to(device), embeds), attention_mask=mask.to(device),
                max_new_tokens=max(1, options.max_new_tokens - min(map(len, prefixes), default=0)),
                do_sample=False, num_beams=options.num_beams, pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id, **extra)
        result = []
        for row, prefix in zip(out.tolist(), prefixes):
            row = row[: max(0, options.max_new_tokens - len(prefix))]
            if tok.eos_token_id in row:
                row = row[: row.index(tok.eos_token_id) + 1]
            result.append([t for t in row if t != tok.pad_token_id])
        return result

    def verify(self, prompts: list[list[int]], embeds: list, answers: list[list[int]]) -> "Verified":
        """One LLM forward pass over prompt + answer tokens (a left-padded batch, positions counted from each
        request's first token): for each request the next-token logits at the positions that predict each answer
        token and the token after them, shape (len(answer) + 1, vocab), divided by the model's `logits_scaling`;
        and the keys and values, so that greedy decoding can go on from any accepted prefix (`continue_greedy`)."""
        import torch

        core = unwrap_peft(self.lm.model)
        ids, mask = self._left_padded([p + a for p, a in zip(prompts, answers)], self.tokenizer.pad_token_id)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        scale = getattr(core.config.text_config, "logits_scaling", 1.0) or 1.0
        width = ids.shape[1]
        with torch.inference_mode():
            out = core.model.language_model(inputs_embeds=self._merged(ids.to(core.device), embeds),
                                            attention_mask=mask.to(core.device),
                                            position_ids=positions.to(core.device), use_cache=True)
            logits = [(core.lm_head(out.last_hidden_state[i, width - len(a) - 1:]) / scale).float()
                      for i, a in enumerate(answers)]
        return Verified(logits, out.past_key_values, [len(p) + len(a) for p, a in zip(prompts, answers)], width)


@dataclass
class Verified:
    """A verification pass: per-request logits, and the pass's key/value cache (left-padded rows of `lengths`
    real tokens in `width` positions). `rows` picks the requests that go on decoding (set by the caller)."""

    logits: list
    cache: object
    lengths: list[int]
    width: int
    rows: list[int] = field(default_factory=list)

    def cache_for(self, keep: list[int], width: int):
        """A cache for `rows`: the first `keep[j] - 1` real tokens of row `rows[j]` (prompt + accepted answer, less
        the last token, which generation feeds), right-aligned in `width` positions as left padding expects."""
        from transformers import DynamicCache

        new = DynamicCache()
        for layer_idx, layer in enumerate(self.cache.layers):
            parts = []
            for kv in (layer.keys, layer.values):
                out = kv.new_zeros((len(self.rows), kv.shape[1], width, kv.shape[3]))
                for j, (r, n) in enumerate(zip(self.rows, keep)):
                    first = self.width - self.lengths[r]  # where row r's real tokens start
                    out[j, :, width - (n - 1):] = kv[r, :, first: first + n - 1]
                parts.append(out)
            new.update(parts[0], parts[1], layer_idx)
        return new


_ENGINES: "weakref.WeakKeyDictionary[LoadedModel, LocalEngine]" = weakref.WeakKeyDictionary()
_ENGINES_LOCK = threading.Lock()


def tokenizer_of(engine) -> Any:
    """The tokenizer of a local engine's model (to check label lengths); None for a remote engine."""
    return getattr(getattr(engine, "lm", None), "tokenizer", None)


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
