"""Heavy optional packages are imported only when what needs them is asked for: bitsandbytes only for 8/4-bit
base weights (peft imports it eagerly when installed; on a CPU that import printed a kernel warning in every
run, and it costs the demo's cold start)."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )


def test_a_cpu_load_and_a_cpu_fine_tuning_run_do_not_import_bitsandbytes(tiny_dir, tmp_path):
    code = f"""
import sys, json
from granite_workbench.loading import load_model
from granite_workbench.engine import engine_for
lm = load_model({str(tiny_dir)!r})
import peft  # noqa: F401  (what would import it)
loaded = "bitsandbytes" in sys.modules and sys.modules["bitsandbytes"] is not None
from finetune.train import main
rc = main(["--config", "finetune/configs/cpu_smoke.yaml", "--model", {str(tiny_dir)!r}, "--max_steps", "2",
           "--eval_steps", "0", "--save_steps", "2", "--tensorboard", "false",
           "--output_dir", {str(tmp_path / "run")!r}])
trained = "bitsandbytes" in sys.modules and sys.modules["bitsandbytes"] is not None
print(json.dumps({{"rc": rc, "after_load": loaded, "after_training": trained}}))
"""
    p = run(code)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out == {"rc": 0, "after_load": False, "after_training": False}, out
    assert "gemm_4bit_forward" not in p.stderr and "kernels-community" not in p.stderr


def test_bitsandbytes_is_imported_when_asked_for():
    """The quantized path lifts the deferral: with bitsandbytes installed it imports for real (and peft finds it
    again for its 8/4-bit LoRA layers); without it, the message says what to install."""
    code = """
import granite_workbench
try:
    import bitsandbytes
    print("deferral-failed")
except ImportError:
    pass
from granite_workbench.optional import import_bitsandbytes
try:
    import_bitsandbytes()
    print("imported")
except ImportError:
    print("absent")
"""
    p = run(code)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.split()
    assert "deferral-failed" not in lines and lines[-1] in ("imported", "absent")
