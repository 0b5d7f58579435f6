"""Where the project's own files are: found from this package, never from the current directory.

The workbench is used from a checkout (`python app.py`, `pip install -e .`): the data, the fine-tuning
configs and the default checkpoints folder live beside the package. A path a user types on the command
line is theirs (relative to where they are) and is made absolute at once.
"""

from __future__ import annotations

import re
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


def folder_name(name: str, what: str, error: type[ValueError] = ValueError) -> str:
    """A name the user chose for a new folder (a run, a dataset): up to 64 letters, digits, '-', '_' or '.',
    starting with a letter or digit — never a path. Refused with `error` naming `what` otherwise."""
    name = (name or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise error(f"{what} {name!r}: use up to 64 letters, digits, '-', '_' or '.', starting with a letter or digit.")
    return name
