"""The model behind the demo and running clips through it: which model is loaded, switching it, its status and
what it can do, and one clip → one result (through a bounded cache)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..adapters import BASE, AdapterError
from ..audio import Audio, AudioError, load_audio
from ..engine import Capabilities, DecodingOptions, Engine
from ..models import timed_by_the_model
from ..prompts import TaskSpec
from ..service import ModelService
from ..transcribe import Result, Transcriber
from .base import Limits, Mode, TranscriptionError

Progress = Callable[[int, int], None]


class ResultCache:
    """Recent results, keyed by (model generation, adapter, task spec, decoding, audio hash); thread-safe, bounded.

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


class Inference:
    """The model service seen by the tabs: its engine, status and capabilities, switching models, and runs."""

    def __init__(self, service: ModelService, mode: Mode, limits: Limits, cache: ResultCache | None = None):
        self.service = service
        self.mode = mode
        self.limits = limits
        self.cache = cache if cache is not None else ResultCache()

    # -- the model ------------------------------------------------------------------------------------
    def engine(self, wait: bool = False) -> Engine:
        """The model's engine (service.ModelNotReady while there is none); `wait`: a request to run the model waits
        up to `limits.model_wait` seconds for a model that is loading (views that only look do not wait)."""
        return self.service.engine(self.limits.model_wait if wait else 0.0)

    @property
    def ready(self) -> bool:
        return self.service.state == "ready"

    @property
    def loading(self) -> bool:
        return self.service.state == "loading"

    @property
    def failed(self) -> bool:
        return self.service.state == "error"

    @property
    def model_id(self) -> str | None:
        return self.service.model_id

    def status(self) -> str:
        """The status line (markdown)."""
        return self.service.status_markdown()

    def capabilities(self) -> Capabilities | None:
        """What the loaded model can do here; None while no model is ready."""
        try:
            return self.engine().capabilities
        except Exception:  # loading or failed: nothing to offer yet
            return None

    def tokenizer(self) -> Any:
        """The loaded model's tokenizer (None while none is ready, or where the engine has none)."""
        return self.engine().tokenizer if self.ready else None

    def load_model(self, model_id: str) -> None:
        """Switch to `model_id`; it is resolved first, so a typo does not cost the working model."""
        self.mode.require_workbench("Loading another model")
        model_id = (model_id or "").strip()
        if not model_id:
            raise ValueError("Enter a hub id, a local folder, or 'tiny'.")
        self.service.check(model_id)
        self.cache.clear()
        self.service.start(model_id)

    def adapter_for(self, choice: str | None) -> str | None:
        """The adapter a request asked for (None = base model); refuses names that are not loaded."""
        if not choice or choice == BASE:
            return None
        loaded = self.engine(wait=True).adapter_names()
        if choice not in loaded:
            raise AdapterError(
                f"Adapter {choice!r} is not loaded. Loaded: {', '.join(loaded) or 'none'}. Load it in the Adapters tab."
            )
        return choice

    # -- running the model ----------------------------------------------------------------------------
    def clip(self, audio: Any) -> Audio:
        """Decode and check the clip once (a refusal names the clip's problem, not a model failure)."""
        if isinstance(audio, Audio):
            return audio
        if audio is None or (isinstance(audio, str) and not audio):
            raise AudioError("No audio: upload a file or record with the microphone first.")
        return load_audio(
            audio,
            max_seconds=self.limits.max_audio_seconds,
            name=Path(audio).name if isinstance(audio, (str, os.PathLike)) else None,
        )

    def transcriber(
        self, decoding: str = "greedy", word_timestamps: bool = False, engine: Engine | None = None
    ) -> Transcriber:
        """A transcriber with the demo's limits on `engine` (default: the loaded model's)."""
        options = DecodingOptions(
            max_new_tokens=self.limits.max_new_tokens,
            decoding=decoding or "greedy",
            word_timestamps=bool(word_timestamps),
        )
        return Transcriber(
            engine=engine or self.engine(wait=True),
            batch_size=self.limits.batch_size,
            decoding=options,
            max_audio_seconds=self.limits.max_audio_seconds,
        )

    def run(
        self,
        audio: Any,
        spec: TaskSpec,
        progress: Progress | None = None,
        adapter: str | None = None,
        decoding: str = "greedy",
        word_timestamps: bool = False,
    ) -> Result:
        """One clip through the model (or the cache), with `adapter` (a loaded name, BASE or None), decoded as
        `decoding` (engine.DECODING_MODES), with word times when asked."""
        clip = self.clip(audio)
        engine = self.engine(wait=True)  # once: a model switch meanwhile must not split the task from its model
        spec, word_timestamps = timed_by_the_model(engine.capabilities, spec, bool(word_timestamps))
        tr = self.transcriber(decoding, word_timestamps, engine)
        adapter = self.adapter_for(adapter)
        key = (self.service.generation, adapter, spec, tr.decoding, hashlib.sha1(memoryview(clip.samples)).hexdigest())
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        res = tr.run([clip], spec, progress=progress, adapter=adapter)[0]
        if not res.ok:
            raise TranscriptionError(res.error or "Failed.")
        self.cache.put(key, res)
        return res
