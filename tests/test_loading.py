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
    assert pick_dtype("cuda") == "bfloat16" and pick_dtype("cpu") == "float32" and pick_dtype("mps") == "float16"
    assert pick_dtype("cpu", "bfloat16") == "bfloat16"
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        pick_dtype("cpu", "int3")


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
