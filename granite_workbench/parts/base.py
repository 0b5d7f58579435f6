"""What the demo's parts share: its mode, its limits and the errors the UI turns into messages."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_AUDIO_MINUTES = 30.0
MODES = ("showcase", "workbench")


class NotInThisMode(PermissionError):
    """An action that changes what every visitor sees; only the workbench mode has it."""


class TranscriptionError(RuntimeError):
    """The model could not produce a result for a clip (the message says why)."""


@dataclass(frozen=True)
class Mode:
    """showcase: visitors use the model and the preloaded adapters and change nothing; workbench: everything."""

    name: str = "workbench"

    def __post_init__(self) -> None:
        if self.name not in MODES:
            raise ValueError(f"Unknown mode {self.name!r}; choose {' or '.join(MODES)}.")

    @property
    def showcase(self) -> bool:
        return self.name == "showcase"

    def require_workbench(self, what: str) -> None:
        """Refuse an action that changes the demo for everyone, in showcase mode (defence in depth: the UI and
        the API do not even offer it there)."""
        if self.showcase:
            raise NotInThisMode(f"{what} is not available in this demo (showcase mode).")


@dataclass(frozen=True)
class Limits:
    """What one request may cost: audio length, upload size, batch, answer length, wait for a loading model."""

    max_audio_seconds: float = DEFAULT_MAX_AUDIO_MINUTES * 60
    max_upload_bytes: int | None = None  # --max-upload-size: Gradio's uploads and the /v1 routes alike
    batch_size: int = 8
    max_new_tokens: int = 200
    model_wait: float = 120.0  # seconds a request waits for a model that is loading (a restarted Space)
