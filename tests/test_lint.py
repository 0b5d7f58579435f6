"""The code stays ruff clean (lint and format, settings in pyproject.toml), in CI as here."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    ruff = shutil.which("ruff")
    assert ruff, "ruff is not installed: pip install -r requirements-dev.txt"
    p = subprocess.run([ruff, *command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"ruff {' '.join(command)} found problems:\n{p.stdout[-3000:]}{p.stderr[-1000:]}"
