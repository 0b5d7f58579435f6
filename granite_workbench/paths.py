"""Where the project's own files are: found from this package, never from the current directory.

The workbench is used from a checkout (`python app.py`, `pip install -e .`): the data, the fine-tuning
configs and the default checkpoints folder live beside the package. A path a user types on the command
line is theirs (relative to where they are) and is made absolute at once.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"
EXAMPLES_DIR = DATA_DIR / "examples"
CONFIG_DIR = PROJECT_ROOT / "finetune" / "configs"
CHECKPOINTS_DIR = PROJECT_ROOT / "checkpoints"  # the demo's default adapter folder


def project_path(value: str | Path) -> Path:
    """A relative path from a shipped file (a config, a notebook): the project's file if the current folder
    has no such file; absolute paths and paths that exist here are kept."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve() if path.exists() else path
    candidate = PROJECT_ROOT / path
    return candidate if candidate.exists() else path
