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
    rc = main(
        [
            "--config",
            str(ROOT / "finetune/configs/cpu_smoke.yaml"),
            "--model",
            str(tiny_dir),
            "--train_manifest",
            str(PHRASES),
            "--eval_manifest",
            str(PHRASES),
            "--output_dir",
            str(out),
            "--eval_steps",
            "300",
            "--save_steps",
            "300",
            "--tensorboard",
            "true",
        ]
    )
    assert rc == 0
    return out, out / "step-000600"


ROTATED_STEPS = 300


@pytest.fixture(scope="session")
def rotated_adapter(tiny_dir, tmp_path_factory):
    """A second adapter that answers differently from `trained_adapter` by construction, on any CPU: the same 16
    clips, each trained to say the NEXT clip's transcript (row i's text is row i+1's). Two checkpoints of one run
    differ only as long as the run has not converged, which depends on the CPU's kernels; two different targets
    differ always. Returns the checkpoint folder (step 300)."""
    import json

    from finetune.train import main

    work = tmp_path_factory.mktemp("rotated")
    rows = [json.loads(line) for line in PHRASES.read_text().splitlines()]
    texts = [r["text"] for r in rows]
    manifest = work / "rotated.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({**r, "audio": str(PHRASES.parent / r["audio"]), "text": texts[(i + 1) % len(rows)]}) + "\n"
            for i, r in enumerate(rows)
        )
    )
    out = work / "run"
    rc = main(
        [
            "--config",
            str(ROOT / "finetune/configs/cpu_smoke.yaml"),
            "--model",
            str(tiny_dir),
            "--train_manifest",
            str(manifest),
            "--eval_manifest",
            str(manifest),
            "--output_dir",
            str(out),
            "--max_steps",
            str(ROTATED_STEPS),
            "--eval_steps",
            "100000",
            "--save_steps",
            str(ROTATED_STEPS),
            "--tensorboard",
            "false",
        ]
    )
    assert rc == 0
    return out / f"step-{ROTATED_STEPS:06d}"


def assert_premise_differ(outputs: dict, clips_label: str = "the clips") -> None:
    """A test's premise: each system (base model, adapters) answers differently from every other on the clips.
    Checked first, so that a failed premise says so instead of looking like a failure of what the test tests."""
    names = list(outputs)
    same = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :] if list(outputs[a]) == list(outputs[b])]
    assert not same, (
        f"test premise failed: {' and '.join(f'{a!r} = {b!r}' for a, b in same)} give the same texts "
        f"on {clips_label} ({list(outputs[same[0][0]])}); the test needs systems that answer "
        "differently, so it cannot tell one from another"
    )


@pytest.fixture(scope="session")
def lm_only_adapter(tiny_dir, tmp_path_factory):
    """A LoRA-only adapter (projector frozen), saved by peft through the fine-tuning pipeline: what vLLM can serve."""
    from finetune.train import main

    out = tmp_path_factory.mktemp("lmonly") / "lm-only"
    rc = main(
        [
            "--config",
            str(ROOT / "finetune/configs/cpu_smoke.yaml"),
            "--model",
            str(tiny_dir),
            "--output_dir",
            str(out),
            "--train_projector",
            "false",
            "--max_steps",
            "30",
            "--eval_steps",
            "1000",
            "--save_steps",
            "30",
            "--tensorboard",
            "false",
        ]
    )
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
        wb.inference.engine().load_adapter(adapter, "phrases")
    return wb
