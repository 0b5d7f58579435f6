"""The demo's shared state, outside the UI: a thin `Workbench` holding parts with one job each (parts/).

    wb.inference  the model (load, switch, status, capabilities) and clips through it, with the result cache
    wb.adapters   the checkpoints folder and the adapters loaded on the model (load, unload, export)
    wb.files      scratch folders and the manifests a request may name or upload
    wb.training   fine-tuning runs started from the demo (wb.training.job: status, log, metrics)
    wb.second_pass  the text model of the second pass (summary, questions, ...): None unless the operator gave one

Their methods speak the domain (they raise `AudioError`, `AdapterError`, `ModelNotReady`,
`TranscriptionError`, ...); the UI turns those into messages in one place (ui/common.py). Everything shared
is guarded: the result cache by its own lock, adapters by the engine, the model by `ModelService`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .parts.adapters import Adapters
from .parts.base import DEFAULT_MAX_AUDIO_MINUTES, MODES, Limits, Mode, NotInThisMode, TranscriptionError
from .parts.files import DataFiles
from .parts.inference import Inference, ResultCache
from .parts.training import Training, evaluation_settings, evaluation_steps, training_settings
from .registry import AdapterRegistry
from .second_pass import SecondPass
from .service import ModelService
from .training_job import TrainingJob

__all__ = [
    "Workbench",
    "NotInThisMode",
    "TranscriptionError",
    "MODES",
    "training_settings",
    "evaluation_settings",
    "evaluation_steps",
]


@dataclass
class Workbench:
    """The demo's settings, and its parts built from them."""

    service: ModelService
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_MINUTES * 60
    max_upload_bytes: int | None = None  # --max-upload-size: Gradio's uploads and the /v1 routes alike
    batch_size: int = 8
    max_new_tokens: int = 200
    downloads: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="granite-wb-")))
    registry: AdapterRegistry = field(default_factory=AdapterRegistry)
    job: TrainingJob | None = None
    mode: str = "workbench"  # showcase: visitors use the model and the preloaded adapters, change nothing
    data_roots: list[Path] = field(default_factory=list)  # folders manifests may come from, beside data/
    preload: list[tuple[str, Path]] = field(default_factory=list)  # (name, folder): loaded with every model
    model_wait: float = 120.0  # seconds a request waits for a model that is loading (a restarted Space)
    second_pass: SecondPass | None = None  # --text-model / --text-server: offered only when given

    def __post_init__(self) -> None:
        self.policy = Mode(self.mode)
        self.limits = Limits(
            self.max_audio_seconds, self.max_upload_bytes, self.batch_size, self.max_new_tokens, self.model_wait
        )
        self.files = DataFiles(self.downloads, self.data_roots)
        self.inference = Inference(self.service, self.policy, self.limits, ResultCache())
        self.adapters = Adapters(self.inference, self.registry, self.files, self.policy, self.preload)
        self.training = Training(self.inference, self.files, self.job or TrainingJob(self.registry.root), self.policy)

    @property
    def showcase(self) -> bool:
        return self.policy.showcase
