"""Engines: the seam between the workbench and whatever runs the model.

An engine turns a batch of requests (16 kHz audio + a task spec + an adapter name) into texts, and answers
what callers need to know around that: which model it runs and what that model can do (`capabilities`),
its adapters (load, unload, names, details), and its tokenizer (None where label lengths cannot be counted
here). Callers — the CLI, the demo's parts, the OpenAI routes, evaluation — only use these calls, never the
engine's class or its internals. The engines:

- `LocalEngine` (local_engine.py): a Granite Speech model with a language model, in this process
  (transformers + peft); its decoding strategies live in decoding.py.
- `CTCEngine` (ctc_engine.py): a CTC-only model (Granite Speech 5.0 Turbo CTC), in this process.
- `OpenAIEngine` (remote.py): an OpenAI-compatible server (vLLM, another workbench).
- `FakeEngine` (here): answers with a function of the request — fast tests of everything around the model.

Decoding options travel with each call (`DecodingOptions`), so one engine serves callers with different
limits. `engine_for(lm)` returns the one engine of a loaded model (exactly one per model: two would hold two
locks over the same peft state).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .chunking import DEFAULT_MAX_SECONDS
from .prompts import TaskSpec
from .tasks import TASKS


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


@dataclass(frozen=True)
class Capabilities:
    """What an engine's model can do here: the callers offer or refuse by this, never by the engine's class.

    tasks: task-table names it runs (`asr`, `asr_keywords`, `ast`, ...); decoding: the `DECODING_MODES` it
    allows; word_timestamps: words with times can be given; trains_here: fine-tuning runs in this process on
    this model; languages: ASR languages (codes); chunk_seconds: the longest chunk long audio is cut into."""

    tasks: frozenset[str] = frozenset(TASKS)
    decoding: tuple[str, ...] = ("greedy",)
    word_timestamps: bool = False
    trains_here: bool = False
    recipes: tuple[str, ...] = ()  # fine-tuning recipes (finetune/recipes.py) for this model, from the model table
    languages: tuple[str, ...] = ()
    chunk_seconds: float = DEFAULT_MAX_SECONDS  # long audio is split into chunks of at most this (chunking.py)
    word_times: str = ""  # where word times come from, in words (said in each result's info)

    def can(self, task: str) -> bool:
        return task in self.tasks


@runtime_checkable
class Engine(Protocol):
    model_id: str  # the model's id or folder (for a server: the served base model's name)
    capabilities: Capabilities
    tokenizer: Any  # the model's tokenizer, to check label lengths; None where there is none here

    def generate(self, batch: list[Request], options: DecodingOptions) -> list[Generation]:
        """One answer per request, in order. A batch uses one adapter."""

    def describe(self) -> str:
        """The model and where it runs, for status lines."""

    def adapter_names(self) -> list[str]:
        """Adapters a request may name."""

    def adapter_info(self) -> list[dict[str, Any]]:
        """One dict per loaded adapter: name, id, path, and what its folder records (step, base_model, metrics)."""

    def load_adapter(self, source: str | Path, name: str | None = None, source_id: str | None = None) -> str:
        """Load an adapter folder (for a server also a name it already serves) as `name`; returns the name used.
        Raises adapters.AdapterError saying why not."""

    def unload_adapter(self, name: str) -> None:
        """Unload a loaded adapter (adapters.AdapterError if it is not loaded)."""


@dataclass
class FakeEngine:
    """Answers `fn(request)` for each request; raises for requests whose clip is in `fail_on`. Adapters are
    names only (nothing is read)."""

    fn: Callable[[Request], str] = lambda r: f"{r.spec.task} {r.duration:.1f}s"
    fail_on: set[str] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)  # batch sizes seen
    model_id: str = "fake"
    capabilities: Capabilities = field(default_factory=Capabilities)
    tokenizer: Any = None
    adapters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[Generation]:
        self.calls.append(len(batch))
        for r in batch:
            if r.clip in self.fail_on:
                raise RuntimeError(f"fake failure on {r.clip}")
        return [Generation(self.fn(r)) for r in batch]

    def describe(self) -> str:
        return "fake engine"

    def adapter_names(self) -> list[str]:
        return list(self.adapters)

    def adapter_info(self) -> list[dict[str, Any]]:
        return [{"name": n, **m} for n, m in self.adapters.items()]

    def load_adapter(self, source: str | Path, name: str | None = None, source_id: str | None = None) -> str:
        name = name or Path(source).name
        self.adapters[name] = {"id": source_id or Path(source).name, "path": str(source)}
        return name

    def unload_adapter(self, name: str) -> None:
        from .adapters import AdapterError

        if self.adapters.pop(name, None) is None:
            raise AdapterError(f"Adapter {name!r} is not loaded.")


# A loaded model's engine is kept on the model itself: a WeakKeyDictionary would never let the model go, because
# its value (the engine) holds the model; the model <-> engine cycle is freed by the garbage collector.
_ENGINE_ATTRIBUTE = "_workbench_engine"
_ENGINES_LOCK = threading.Lock()


def engine_for(model) -> Engine:
    """The engine of a loaded model (loading.load_model: created once per model), or the engine given."""
    from .loading import LoadedModel

    if not isinstance(model, LoadedModel):
        if not isinstance(model, Engine):
            raise TypeError(f"Expected a loaded model (load_model(...)) or an engine, got {type(model).__name__}.")
        return model
    with _ENGINES_LOCK:
        engine = getattr(model, _ENGINE_ATTRIBUTE, None)
        if engine is None:
            engine = local_engine_class(model.architecture)(model)
            setattr(model, _ENGINE_ATTRIBUTE, engine)
        return engine


def local_engine_class(architecture: str):
    """The engine class for a model loaded here: the CTC engine for a model without a language model."""
    if architecture == "granite_speech5_ctc":
        from .ctc_engine import CTCEngine

        return CTCEngine
    from .local_engine import LocalEngine

    return LocalEngine
