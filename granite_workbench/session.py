"""The demo's shared state, outside the UI: the model service, adapters, results cache, training job, limits.

`Workbench` is what every tab works with. Its methods speak the domain (they raise `AudioError`,
`AdapterError`, `ModelNotReady`, `TranscriptionError`, ...); the UI turns those into messages in one
place (ui/common.py). Everything shared is guarded: the result cache by its own lock, adapters by the
engine's `AdapterRuntime`, the model by `ModelService`.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .adapters import BASE, AdapterError
from .audio import Audio, AudioError, load_audio
from .engine import LocalEngine
from .prompts import TaskSpec
from .registry import AdapterEntry, AdapterRegistry
from .service import ModelService
from .training_job import TrainingJob
from .transcribe import Result, Transcriber
from .writers import FORMATS, write_result

DEFAULT_MAX_AUDIO_MINUTES = 30.0
Progress = Callable[[int, int], None]


class TranscriptionError(RuntimeError):
    """The model could not produce a result for a clip (the message says why)."""


class ResultCache:
    """Recent results, keyed by (model generation, adapter, task spec, audio hash); thread-safe, bounded.

    A model switch changes the generation, and `clear()` empties the cache then: a result of an earlier model
    is never returned. Unloading an adapter drops its entries (a new adapter may take the name)."""

    def __init__(self, size: int = 64):
        self.size = size
        self._items: OrderedDict[tuple, Result] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: tuple) -> Result | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: tuple, result: Result) -> None:
        with self._lock:
            self._items[key] = result
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def drop_adapter(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[1] == name]:
                del self._items[key]


@dataclass
class Workbench:
    """The demo's state: the model service, the adapters folder, the training job and the limits."""

    service: ModelService
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_MINUTES * 60
    batch_size: int = 8
    max_new_tokens: int = 200
    downloads: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="granite-wb-")))
    cache: ResultCache = field(default_factory=ResultCache)
    registry: AdapterRegistry = field(default_factory=AdapterRegistry)
    job: TrainingJob | None = None

    def __post_init__(self) -> None:
        if self.job is None:
            self.job = TrainingJob(self.registry.root)

    # -- the model ------------------------------------------------------------------------------------
    def engine(self) -> LocalEngine:
        return self.service.engine()

    def load_model(self, model_id: str) -> None:
        model_id = (model_id or "").strip()
        if not model_id:
            raise ValueError("Enter a hub id, a local folder, or 'tiny'.")
        self.cache.clear()
        self.service.start(model_id)

    # -- adapters -------------------------------------------------------------------------------------
    def adapter_for(self, choice: str | None) -> str | None:
        """The adapter a request asked for (None = base model); refuses names that are not loaded."""
        if not choice or choice == BASE:
            return None
        loaded = self.engine().adapters.names()
        if choice not in loaded:
            raise AdapterError(f"Adapter {choice!r} is not loaded. Loaded: {', '.join(loaded) or 'none'}. "
                               "Load it in the Adapters tab.")
        return choice

    def loaded_adapters(self) -> list[dict[str, Any]]:
        """The loaded adapters (empty while no model is ready)."""
        try:
            return self.engine().adapters.info()
        except Exception:  # no model: nothing is loaded
            return []

    def load_adapter(self, adapter_id: str) -> tuple[str, AdapterEntry]:
        entry = self.registry.resolve(adapter_id)
        return self.engine().adapters.load(entry.path, entry.name, source_id=entry.id), entry

    def unload_adapter(self, name: str) -> None:
        if not name or name == BASE:
            raise AdapterError("Pick a loaded adapter to unload.")
        self.engine().adapters.unload(name)
        self.cache.drop_adapter(name)

    # -- running the model ----------------------------------------------------------------------------
    def clip(self, audio: Any) -> Audio:
        """Decode and check the clip once (a refusal names the clip's problem, not a model failure)."""
        if isinstance(audio, Audio):
            return audio
        if audio is None or (isinstance(audio, str) and not audio):
            raise AudioError("No audio: upload a file or record with the microphone first.")
        return load_audio(audio, max_seconds=self.max_audio_seconds,
                          name=Path(audio).name if isinstance(audio, (str, os.PathLike)) else None)

    def transcriber(self) -> Transcriber:
        return Transcriber(engine=self.engine(), batch_size=self.batch_size, max_new_tokens=self.max_new_tokens,
                           max_audio_seconds=self.max_audio_seconds)

    def run(self, audio: Any, spec: TaskSpec, progress: Progress | None = None, adapter: str | None = None
            ) -> Result:
        """One clip through the model (or the cache), with `adapter` (a loaded name, BASE or None)."""
        clip = self.clip(audio)
        tr = self.transcriber()
        adapter = self.adapter_for(adapter)
        key = (self.service.generation, adapter, spec, hashlib.sha1(clip.samples.tobytes()).hexdigest())
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        res = tr.run([clip], spec, progress=progress, adapter=adapter)[0]
        if not res.ok:
            raise TranscriptionError(res.error or "Failed.")
        self.cache.put(key, res)
        return res

    def files_for(self, res: Result) -> list[str]:
        folder = Path(tempfile.mkdtemp(dir=self.downloads))
        return [str(write_result(res, folder, fmt)) for fmt in FORMATS]
