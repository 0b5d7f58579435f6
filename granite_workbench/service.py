"""The running model behind the demo: loads in the background, reports its state, can be switched.

The UI is up at once; `ModelService.start()` loads the model on a thread. Callers ask `engine()` for the
loaded model's engine and get a `ModelNotReady` with a plain-words reason while it is loading or after it
failed. Every successful load gets a new `generation` number (caches key their entries by it).

A switch releases the old model before the new one loads. Trade-off: for the seconds of the load there is
no model (requests are told to wait), but memory never holds two models at once — on a 16 GB Space two
copies of a 2 B-parameter model would not fit.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .engine import Engine, engine_for
from .loading import LoadedModel, ModelLoadError, default_model_id, load_model


class ModelNotReady(RuntimeError):
    pass


@dataclass
class ModelService:
    model_id: str | None = None
    load_kwargs: dict[str, Any] = field(default_factory=dict)
    state: str = "idle"  # idle | loading | ready | error
    message: str = ""
    headline: str = ""  # the ready model in words (status_markdown); `message` holds the technical details
    lm: LoadedModel | None = None
    generation: int = 0  # +1 at every successful load
    started_at: float = 0.0
    ready_at: float = 0.0
    # run on the loaded model's engine before it is declared ready (e.g. preloading adapters); each returns a
    # note for the status line, or None
    on_ready: list[Callable[[Engine], str | None]] = field(default_factory=list)
    # backend "openai": the model is served by an OpenAI-compatible server (vLLM, another workbench) at `server`
    backend: str = "local"
    server: str | None = None
    server_api_key: str | None = None
    remote: Any = None  # the OpenAIEngine once connected
    # told the status line each time loading ends (the demo prints it to its log: a Space's log says when and why)
    announce: Callable[[str], None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def check(self, model_id: str) -> None:
        """Refuse a model that cannot be found before anything is let go (loading.check_model_available; a server's
        models are its own business)."""
        if self.backend == "local":
            from .loading import check_model_available

            check_model_available(model_id)

    def start(self, model_id: str | None = None, **load_kwargs) -> None:
        """Release the current model and begin loading `model_id` (or the configured one) in the background."""
        with self._lock:
            if self.state == "loading":
                raise ModelNotReady(f"Already loading {self.model_id}; wait for it to finish.")
            previous = self.model_id if self.state == "ready" and self.backend == "local" else None
            if model_id is not None:
                self.model_id = model_id
            if load_kwargs:
                self.load_kwargs = {**self.load_kwargs, **load_kwargs}
            if self.backend == "local":
                self.model_id = default_model_id(self.model_id)
            self.lm = self.remote = None  # the old model goes before the new one comes
            self.state, self.started_at = "loading", time.time()
            self.message = f"Loading {self.model_id}…" if self.backend == "local" else f"Connecting to {self.server}…"
            self._thread = threading.Thread(target=self._load, args=(self.model_id, previous), daemon=True)
            self._thread.start()
        gc.collect()

    def _load(self, model_id: str | None, previous: str | None = None) -> None:
        """Load `model_id`; if that fails and `previous` was loaded before it, load `previous` again (a switch
        that fails must not leave the demo without its working model) and say both."""
        if self.backend == "openai":
            return self._connect(model_id)
        try:
            lm = load_model(model_id, **self.load_kwargs)
        except Exception as exc:  # out of memory, broken files, ...: the UI must stay up
            reason = (
                str(exc)
                if isinstance(exc, ModelLoadError)
                else f"Could not load {model_id}: {type(exc).__name__}: {exc}"
            )
            self._fail(reason)
            if previous and previous != model_id:
                self._restore(previous, reason)
            return
        self._ready(lm)

    def _ready(self, lm: LoadedModel, note: str = "") -> None:
        notes = [n for n in (hook(engine_for(lm)) for hook in self.on_ready) if n]
        with self._lock:
            self.lm, self.model_id, self.state, self.ready_at = lm, lm.model_id, "ready", time.time()
            self.generation += 1
            self.message = (
                note
                + f"{lm.describe()} (loaded in {self.ready_at - self.started_at:.1f} s)"
                + "".join(f" {n}" for n in notes)
            )
            self.headline = note + lm.plain() + "".join(f" {n}" for n in notes)
        self._announce()

    def _restore(self, previous: str, reason: str) -> None:
        with self._lock:
            self.model_id, self.state = previous, "loading"
            self.message = f"{reason} Loading {previous} again…"
        try:
            lm = load_model(previous, **self.load_kwargs)
        except Exception as exc:
            return self._fail(f"{reason} Loading {previous} again failed too: {exc}")
        self._ready(lm, note=f"{reason.rstrip('.')}; {previous} is loaded again. ")

    def _connect(self, model_id: str | None) -> None:
        from .remote import OpenAIEngine

        try:
            engine = OpenAIEngine(self.server or "", self.server_api_key, model=model_id)
        except Exception as exc:  # unreachable, refused, not OpenAI-compatible: the UI stays up and says so
            return self._fail(f"Could not reach the server {self.server}: {exc}")
        notes = [n for n in (hook(engine) for hook in self.on_ready) if n]
        with self._lock:
            self.remote, self.model_id, self.state, self.ready_at = engine, engine.model, "ready", time.time()
            self.generation += 1
            self.message = f"{engine.describe()} (connected in {self.ready_at - self.started_at:.1f} s)" + "".join(
                f" {n}" for n in notes
            )
            self.headline = f"{engine.model}, served by {self.server}" + "".join(f" {n}" for n in notes)
        self._announce()

    def _fail(self, message: str) -> None:
        with self._lock:
            self.state, self.message, self.lm = "error", message, None
        self._announce()

    def status_line(self) -> str:
        """The status as one line of plain text (the server's log): the words and the details."""
        label = {"ready": "● Model ready", "loading": "◌ Loading", "error": "✕ Model error"}.get(self.state, "○ Idle")
        return f"{label} — {self.message or 'No model loaded.'}"

    def _announce(self) -> None:
        if self.announce is not None:
            self.announce(self.status_line())

    def wait(self, timeout: float | None = None) -> bool:
        t = self._thread
        if t is not None:
            t.join(timeout)
        return self.state == "ready"

    def engine(self, wait: float = 0.0) -> Engine:
        """The loaded model's engine, or ModelNotReady saying why there is none. `wait`: while the model is
        loading, wait up to that many seconds for it (a request that comes in during a restart is answered once
        the model is there, instead of being told to try again)."""
        thread = self._thread
        if wait > 0 and self.state == "loading" and thread is not None:
            thread.join(wait)
        with self._lock:
            if self.state == "ready" and self.remote is not None:
                return self.remote
            if self.state == "ready" and self.lm is not None:
                return engine_for(self.lm)
            if self.state == "loading":
                raise ModelNotReady(
                    f"The model is still loading ({time.time() - self.started_at:.0f} s so far); try again in a moment."
                )
            if self.state == "error":
                raise ModelNotReady(
                    f"No model is loaded: {self.message} Use the Model panel to load a local "
                    "folder or the tiny smoke model."
                )
            raise ModelNotReady("No model is loaded yet.")

    def status_markdown(self) -> str:
        label, _, message = self.status_line().partition(" — ")
        if self.state == "ready" and self.headline:  # the technical details (folder, dtype and why) a click away
            return f"**{label}** — {self.headline}\n<details><summary>Details</summary>{self.message}</details>"
        return f"**{label}** — {message}"
