"""Exports for serving (tiny model): vLLM LoRA naming, merged checkpoints, Hub model cards, the CLI."""

import json
import re
import subprocess

import pytest
from conftest import ROOT
from safetensors import safe_open

VLLM_KEY = re.compile(
    r"^base_model\.model\.language_model\.model\.layers\.\d+\."
    r"(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.lora_(A|B)\.weight$"
)


def keys(path):
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def test_vllm_export_renames_every_lora_key(lm_only_adapter, tmp_path, tiny_dir):
    from granite_workbench.export import VLLM_RENAMES, export

    out = export(lm_only_adapter, "vllm", tmp_path / "vllm", name="domain")
    before = keys(lm_only_adapter / "adapter_model.safetensors")
    after = keys(out / "adapter_model.safetensors")
    # peft on transformers >= 5.10 saves model.language_model.layers.N...: every key is under that prefix
    assert all(k.startswith("base_model.model.model.language_model.layers.") for k in before)
    assert len(after) == len(before) and all(VLLM_KEY.match(k) for k in after), sorted(after)[:3]
    old, new = VLLM_RENAMES[0]
    for k, t in before.items():
        assert (after[new + k[len(old) :]] == t).all()
    modules = {k.split(".lora_")[0].rsplit(".", 1)[1] for k in after}
    assert modules == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}  # not packed
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["modules_to_save"] is None and sorted(config["target_modules"]) == sorted(modules)
    assert config["base_model_name_or_path"] == str(tiny_dir) and config["r"] == 16  # the base it was trained on
    serve = (out / "serve.sh").read_text()
    assert f"vllm serve {tiny_dir}" in serve and "--enable-lora --max-lora-rank 16" in serve
    assert '--lora-modules domain="$HERE"' in serve and "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in serve
    assert subprocess.run(["bash", "-n", str(out / "serve.sh")]).returncode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_vllm_export_refuses_what_vllm_would_drop(trained_adapter, tmp_path):
    """The default recipe trains the projector too: vLLM would serve the adapter without it, silently."""
    from granite_workbench.export import ExportError, export

    with pytest.raises(ExportError, match=r"also trained projector .*--to merged"):
        export(trained_adapter[1], "vllm", tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_merged_export_equals_base_plus_adapter(tiny_lm, trained_adapter, tmp_path):
    from transformers import AutoModelForSpeechSeq2Seq

    from granite_workbench.engine import engine_for
    from granite_workbench.export import export
    from granite_workbench.loading import load_model
    from granite_workbench.manifest import read_manifest
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    out = export(trained_adapter[1], "merged", tmp_path / "merged")
    plain = AutoModelForSpeechSeq2Seq.from_pretrained(out)
    assert type(plain).__name__ == "GraniteSpeechForConditionalGeneration"
    assert not any("lora" in n or "modules_to_save" in n for n, _ in plain.named_parameters())
    clips = [r.audio for r in read_manifest(ROOT / "data/phrases/train.jsonl")[:8]]
    spec = TaskSpec("asr", language="en")
    engine = engine_for(tiny_lm)
    name = engine.adapters.load(trained_adapter[1])
    try:
        adapted = [r.text for r in Transcriber(engine, max_new_tokens=24).run(clips, spec, adapter=name)]
    finally:
        engine.adapters.unload(name)
    merged = [r.text for r in Transcriber(load_model(str(out)), max_new_tokens=24).run(clips, spec)]
    assert merged == adapted
    rows = read_manifest(ROOT / "data/phrases/train.jsonl")[:8]
    assert sum(m == r.text for m, r in zip(merged, rows)) >= 7  # the merged model knows the phrases


def test_hub_export_has_a_model_card(trained_adapter, tmp_path):
    from huggingface_hub import ModelCard

    from granite_workbench.export import export
    from granite_workbench.loading import DEFAULT_MODEL_ID

    out = export(trained_adapter[1], "hub", tmp_path / "hub")
    assert {"adapter_config.json", "adapter_model.safetensors", "workbench.json", "README.md"} <= {
        p.name for p in out.iterdir()
    }
    card = ModelCard.load(out / "README.md")
    assert card.data.base_model == DEFAULT_MODEL_ID and card.data.library_name == "peft"
    assert card.data.pipeline_tag == "automatic-speech-recognition" and card.data.language == ["en"]
    assert "lora" in card.data.tags and "smoke-test" in card.data.tags and card.data.license == "apache-2.0"
    assert "wer" in card.data.metrics
    meta = json.loads((out / "workbench.json").read_text())
    assert re.search(r"\| WER \| 0(\.0+)?% \|", card.text) and meta["metrics"]["wer"] == 0
    assert "train.jsonl` — 16 of 16 rows usable" in card.text and '"max_steps": 600' in card.text
    # written for publication: no path of this machine in any file (the training data, the base's folder)
    source = json.loads((trained_adapter[1] / "workbench.json").read_text())
    assert source["data"]["train"]["source"].startswith("/"), "premise: the run recorded an absolute path"
    for f in out.iterdir():
        if f.suffix in (".json", ".md"):
            text = f.read_text()
            assert str(ROOT) not in text and str(trained_adapter[1].parent) not in text, f.name
            assert not re.findall(r'["`(\s](/(?:tmp|work|root|home)/[^"`)\s]*)', text), (f.name, text[:400])
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == DEFAULT_MODEL_ID
    assert meta["base_model"] == DEFAULT_MODEL_ID and meta["data"]["train"]["source"] == "train.jsonl"


def test_export_command_line(lm_only_adapter, trained_adapter, tmp_path, capsys):
    from granite_workbench.cli import main

    assert main(["export", str(trained_adapter[1]), "--to", "vllm", "--out", str(tmp_path / "a")]) == 2
    assert "also trained projector" in capsys.readouterr().err
    assert main(["export", str(lm_only_adapter), "--to", "vllm", "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "serve it on a GPU machine: bash" in err and (tmp_path / "b" / "serve.sh").exists()
    assert main(["export", str(lm_only_adapter), "--to", "vllm", "--out", str(tmp_path / "b")]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["export", str(lm_only_adapter), "--to", "hub", "--out", str(tmp_path / "c")]) == 0
    assert "hf upload you/c" in capsys.readouterr().err


def test_adapters_tab_exports_to_a_zip(tiny_dir, trained_adapter, lm_only_adapter):
    """The Adapters tab's download/export (workbench mode): a zip of the adapter or of an export; refusals as
    messages."""
    import zipfile

    import gradio as gr

    from granite_workbench.registry import AdapterRegistry
    from granite_workbench.service import ModelService
    from granite_workbench.session import Workbench
    from granite_workbench.ui.tabs.adapters import export_adapter

    service = ModelService(str(tiny_dir))
    service.start()
    assert service.wait(60), service.message
    wb = Workbench(service, registry=AdapterRegistry(trained_adapter[1].parent.parent))
    ids = {e.path.resolve(): e.id for e in wb.registry.scan()}
    lm_only = AdapterRegistry(lm_only_adapter.parent.parent)
    lm_only.scan()
    wb_lm = Workbench(service, registry=lm_only)
    path, note = export_adapter(wb, ids[trained_adapter[1].resolve()], "zip")
    assert (
        set(zipfile.ZipFile(path).namelist()) >= {"adapter_config.json", "adapter_model.safetensors", "workbench.json"}
        and "ready to download" in note
    )
    path, _ = export_adapter(wb_lm, lm_only.entries()[0].id, "vllm")
    assert "serve.sh" in zipfile.ZipFile(path).namelist()
    with pytest.raises(gr.Error, match="also trained projector"):
        export_adapter(wb, ids[trained_adapter[1].resolve()], "vllm")
    with pytest.raises(gr.Error, match="Unknown export 'tar'"):
        export_adapter(wb, ids[trained_adapter[1].resolve()], "tar")
