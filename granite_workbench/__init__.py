"""Granite Speech Workbench: transcription, translation and keyword-biased ASR with Granite 4.0 1B Speech."""

from . import optional  # noqa: F401  first: defers bitsandbytes before anything imports peft (optional.py)
from .audio import Audio, AudioError, load_audio
from .languages import ASR_LANGUAGES, TRANSLATION_DIRECTIONS, UnsupportedLanguageError
from .loading import DEFAULT_MODEL_ID, LoadedModel, ModelLoadError, load_model
from .prompts import TaskSpec
from .second_pass import Answer, SecondPass, ask
from .text_engine import open_text_engine
from .transcribe import Result, Segment, Transcriber

__all__ = [
    "ASR_LANGUAGES",
    "Answer",
    "SecondPass",
    "ask",
    "open_text_engine",
    "Audio",
    "AudioError",
    "DEFAULT_MODEL_ID",
    "LoadedModel",
    "ModelLoadError",
    "Result",
    "Segment",
    "TRANSLATION_DIRECTIONS",
    "TaskSpec",
    "Transcriber",
    "UnsupportedLanguageError",
    "load_audio",
    "load_model",
]
__version__ = "0.1.0"
