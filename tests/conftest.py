"""Shared fixtures: offline hub, the tiny model, and real speech (espeak-ng, Asterisk prompts)."""
from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("GRANITE_WB_MODEL", None)

ASTERISK = Path("/usr/share/asterisk/sounds")
ASTERISK_DIRS = {"en": "en", "es": "es", "fr": "fr", "it": "it"}


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Every test session builds its own tiny model in a fresh cache (no state from earlier runs)."""
    cache = tmp_path_factory.mktemp("wb-cache")
    os.environ["GRANITE_WB_CACHE"] = str(cache)
    yield cache


@pytest.fixture(scope="session")
def tiny_dir(_cache_dir):
    from granite_workbench.tiny import ensure_tiny_model

    return ensure_tiny_model()


@pytest.fixture(scope="session")
def tiny_lm(tiny_dir):
    from granite_workbench.loading import load_model

    return load_model(str(tiny_dir))


@pytest.fixture(scope="session")
def out_dir():
    """Test artefacts a person may want to look at (screenshots, reports)."""
    d = Path(os.environ.get("TEST_OUTPUT_DIR", Path(__file__).resolve().parent.parent / "test-output"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def espeak(text: str, path: Path, voice: str = "en-us", speed: int = 160) -> Path:
    if not shutil.which("espeak-ng"):
        pytest.fail("espeak-ng is not installed: run `bash scripts/setup.sh --dev`")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return path


def asterisk_transcripts(lang: str = "en") -> dict[str, str]:
    """name -> transcript of Debian's asterisk-core-sounds-<lang> recorded prompts."""
    doc = Path(f"/usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz")
    if not doc.exists():
        pytest.fail(f"asterisk-core-sounds-{lang} is not installed: run `bash scripts/setup.sh --dev`")
    out = {}
    for line in gzip.open(doc, "rt", encoding="utf-8", errors="replace"):
        m = re.match(r"^([\w/-]+):\s*(.+)$", line.strip())
        if m and "[" not in m.group(2) and "(" not in m.group(2):
            out[m.group(1)] = m.group(2).strip()
    return out


def asterisk_audio(name: str, lang: str = "en") -> Path:
    base = ASTERISK / ASTERISK_DIRS[lang] / name
    for ext in (".g722", ".gsm", ".wav"):
        if base.with_suffix(ext).exists():
            return base.with_suffix(ext)
    pytest.fail(f"no audio for asterisk prompt {lang}/{name}")


def tone(seconds: float, rate: int = 16000, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


ROOT = Path(__file__).resolve().parent.parent
PHRASES = ROOT / "data" / "phrases" / "train.jsonl"


@pytest.fixture(scope="session")
def trained_adapter(tiny_dir, tmp_path_factory):
    """A LoRA adapter fine-tuned on the 16 bundled phrases (tiny model): (run folder, final checkpoint).

    Shared by the fine-tuning, adapter, demo and evaluation tests; trained once per session (~80 s).
    Checkpoints at steps 300 and 600 (the final one).
    """
    from finetune.train import main

    out = tmp_path_factory.mktemp("trained") / "run"
    rc = main(["--config", str(ROOT / "finetune/configs/cpu_smoke.yaml"), "--model", str(tiny_dir),
               "--train_manifest", str(PHRASES), "--eval_manifest", str(PHRASES), "--output_dir", str(out),
               "--eval_steps", "300", "--save_steps", "300", "--tensorboard", "true"])
    assert rc == 0
    return out, out / "step-000600"


@pytest.fixture(scope="session")
def lm_only_adapter(tiny_dir, tmp_path_factory):
    """A LoRA-only adapter (projector frozen), saved by peft through the fine-tuning pipeline: what vLLM can serve."""
    from finetune.train import main

    out = tmp_path_factory.mktemp("lmonly") / "lm-only"
    rc = main(["--config", str(ROOT / "finetune/configs/cpu_smoke.yaml"), "--model", str(tiny_dir),
               "--output_dir", str(out), "--train_projector", "false", "--max_steps", "30", "--eval_steps", "1000",
               "--save_steps", "30", "--tensorboard", "false"])
    assert rc == 0
    return out / "step-000030"


def ready_workbench(model_dir, adapter=None, **kw):
    """A Workbench on a loaded model (the demo's state without a server); `adapter`: a folder loaded as
    "phrases"."""
    from granite_workbench.service import ModelService
    from granite_workbench.session import Workbench

    service = ModelService(str(model_dir))
    service.start()
    assert service.wait(60), service.message
    wb = Workbench(service, **kw)
    if adapter is not None:
        wb.engine().adapters.load(adapter, "phrases")
    return wb
