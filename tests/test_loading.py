import pytest
import torch

from granite_workbench.loading import ModelLoadError, load_model, pick_device, pick_dtype, resolve_model_path
from granite_workbench.tiny import build_tiny_model, is_tiny


def test_tiny_model_builds_offline_and_reloads(tmp_path):
    folder = build_tiny_model(tmp_path / "tiny")
    assert is_tiny(folder)
    lm = load_model(str(folder))
    assert lm.tiny and lm.device == "cpu" and lm.dtype == "float32"
    assert type(lm.model).__name__ == "GraniteSpeechForConditionalGeneration"
    assert lm.model.config.encoder_config.input_dim == 160
    assert "<|audio|>" in lm.tokenizer.get_vocab() and lm.tokenizer.padding_side == "left"
    assert sum(p.numel() for p in lm.model.parameters()) < 1_000_000
    assert "meaningless" in lm.describe()


def test_tiny_build_is_deterministic(tmp_path):
    a = load_model(str(build_tiny_model(tmp_path / "a"))).model.state_dict()
    b = load_model(str(build_tiny_model(tmp_path / "b"))).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_device_and_dtype_choice():
    assert pick_device() == "cpu"  # this machine has no GPU
    assert pick_dtype("cuda")[0] == "bfloat16" and pick_dtype("mps")[0] == "float16"
    assert pick_dtype("cpu", "bfloat16") == ("bfloat16", "asked for")
    assert pick_dtype("cpu", "float32", cpu_bf16=lambda: (True, "x")) == ("float32", "asked for")
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        pick_dtype("cpu", "int3")


NATIVE = lambda: (True, "this CPU computes bfloat16 natively (amx_bf16)")  # noqa: E731
EMULATED = lambda: (False, "this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16)")  # noqa: E731


@pytest.mark.parametrize("cpu,stored,want", [
    (NATIVE, "bfloat16", "bfloat16"),  # the real model on a Sapphire Rapids / Zen 4 CPU
    (EMULATED, "bfloat16", "float32"),  # the real model on an AVX2 CPU
    (NATIVE, "float32", "float32"),  # never round float32 weights down (the tiny model)
    (EMULATED, "float32", "float32"),
    (NATIVE, None, "bfloat16"),  # unknown storage: the CPU decides
])
def test_auto_dtype_on_cpu_follows_the_cpu_and_the_weights(cpu, stored, want):
    dtype, why = pick_dtype("cpu", "auto", stored=stored, cpu_bf16=cpu)
    assert dtype == want and why.startswith("auto: ")
    assert (cpu()[1] in why) if stored != "float32" else ("stored in float32" in why or cpu()[1] in why)


@pytest.mark.parametrize("flags,machine,native", [
    ({"avx2", "avx512f", "avx512_bf16"}, "x86_64", True),  # AMD Zen 4, Intel Cooper Lake
    ({"avx2", "amx_bf16", "amx_tile"}, "x86_64", True),  # Intel Sapphire Rapids
    ({"avx2", "fma"}, "x86_64", False),  # AVX2 only
    ({"avx2", "avx512f"}, "x86_64", False),  # AVX-512 without its bf16 extension
    ({"fp", "asimd", "bf16"}, "aarch64", True),  # Graviton 3, Neoverse V1
    ({"fp", "asimd"}, "aarch64", False),
])
def test_native_bf16_detection(flags, machine, native):
    from granite_workbench.cpu import native_bf16

    got, why = native_bf16(flags, machine)
    assert got is native and ("natively" in why) is native


def test_usable_cores_honours_the_cgroup_quota(tmp_path):
    from granite_workbench.cpu import cgroup_cpus, usable_cores

    (tmp_path / "cpu.max").write_text("150000 100000\n")  # a container allowed 1.5 CPUs
    assert cgroup_cpus(tmp_path) == 1.5 and usable_cores(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpus(tmp_path) is None and usable_cores(tmp_path) >= 1


def test_the_status_line_and_cli_header_name_the_dtype(tiny_dir):
    from granite_workbench.service import ModelService

    svc = ModelService(str(tiny_dir))
    svc.start()
    assert svc.wait(60)
    status = svc.status_markdown()
    assert "(float32 — auto: " in status and ("natively" in status or "stored in float32" in status
                                               or "no native bfloat16" in status)
    lm = load_model(str(tiny_dir), dtype="bfloat16")
    assert "(bfloat16)" in lm.describe()  # asked for: no reason needed


def test_dtype_override(tiny_dir):
    lm = load_model(str(tiny_dir), dtype="bfloat16")
    assert next(lm.model.parameters()).dtype == torch.bfloat16


def test_missing_model_messages(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="not in the local cache and offline mode"):
        load_model("ibm-granite/granite-4.0-1b-speech")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="holds no config.json"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="needs a CUDA GPU"):
        load_model("tiny", quantization="8bit")
    with pytest.raises(ModelLoadError, match="Unknown quantization"):
        load_model("tiny", quantization="3bit")
    monkeypatch.setenv("GRANITE_WB_MODEL", "tiny")
    path, tiny = resolve_model_path(None)
    assert tiny and is_tiny(path)


def test_unreachable_hub_fails_fast_with_advice(monkeypatch):
    """Without network and without HF_HUB_OFFLINE, a missing model is reported at once, not after retries."""
    import time

    import granite_workbench.loading as loading

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    started = time.time()
    with pytest.raises(ModelLoadError, match="the Hugging Face Hub could not be reached.*--model tiny"):
        load_model("ibm-granite/granite-4.0-1b-speech")
    assert time.time() - started < 30


def test_hub_reachable_checks_the_endpoint(monkeypatch):
    import granite_workbench.loading as loading

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens there
    assert loading.hub_reachable(timeout=1.0) is False
