"""CTC fine-tuning of the 5.0 Turbo CTC architecture (tiny-ctc): learning proofs for ctc_lora and ctc_full, the same
recipes broken on purpose, refusals, exact resume, and the adapter through hot-load, Compare and export."""

import json
from pathlib import Path

import pytest
import torch
from conftest import PHRASES, ROOT

pytestmark = pytest.mark.slow
CONFIG = str(ROOT / "finetune/configs/ctc_smoke.yaml")
# Thresholds of the proof. Measured on an AMD EPYC (AVX512-BF16, no AMX): from random weights the miniature's CER on
# the 16 phrases is ~100 %; after 600 steps it is 0 with both recipes (ctc_full from step 300, ctc_lora from step
# 600; 2.5 % at step 500). Broken runs (labels shifted by one unit, LoRA scaled to zero) stay at ~100 %.
ADAPTED_CER, BASE_CER = 0.05, 0.90


def train(out: Path, *extra: str) -> Path:
    from finetune.train import main

    args = ["--config", CONFIG, "--output_dir", str(out), "--tensorboard", "false", *extra]
    assert main(args) == 0
    return out


def phrase_cer(adapter: Path | None) -> tuple[float, list[str]]:
    """CER of tiny-ctc's transcripts of the 16 training phrases through the CTC engine, base or with `adapter`."""
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model
    from granite_workbench.metrics import cer
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    rows = [json.loads(l) for l in PHRASES.read_text().splitlines()]
    lm = load_model("tiny-ctc", dtype="float32")
    name = engine_for(lm).adapters.load(adapter) if adapter else None
    clips = [str(PHRASES.parent / r["audio"]) for r in rows]
    out = [r.text for r in Transcriber(lm).run(clips, TaskSpec("asr"), adapter=name)]
    return cer([r["text"] for r in rows], out), out


@pytest.fixture(scope="module")
def base_cer(_cache_dir):
    value, texts = phrase_cer(None)
    assert value >= BASE_CER, f"premise: the random miniature does not already write the phrases ({texts})"
    return value


@pytest.fixture(scope="module", params=["ctc_lora", "ctc_full"])
def ctc_run(request, tmp_path_factory, base_cer):
    out = tmp_path_factory.mktemp(request.param) / "run"
    return request.param, train(out, "--recipe", request.param)


def evals(run: Path) -> list[dict]:
    return [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "cer" in m]


def test_ctc_learning_proof(ctc_run):
    """600 steps on the 16 spoken phrases: the adapted model writes them (CER <= 5 %), the base model does not."""
    recipe, run = ctc_run
    adapted, texts = phrase_cer(run / "step-000600")
    assert adapted <= ADAPTED_CER, (recipe, texts)
    last = evals(run)[-1]
    assert last["step"] == 600 and last["cer"] == pytest.approx(adapted, abs=1e-9)  # the logged number is this one
    meta = json.loads((run / "step-000600" / "workbench.json").read_text())
    assert meta["signature"]["architecture"] == "GraniteSpeech5ForCTC" and meta["config"]["recipe"] == recipe
    losses = [m["loss"] for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in m]
    assert losses[-1] < losses[0] / 10
    # the run's folder as for the language-model recipe: curves, validation report, best checkpoint
    assert (run / "curves.png").stat().st_size > 10_000
    report = json.loads((run / "validation_report.json").read_text())
    assert report["train"]["total"] == 16 and report["train"]["usable"] == 16
    best = min(evals(run), key=lambda m: (m["cer"], m["step"]))
    assert json.loads((run / "best.json").read_text())["path"] == f"step-{best['step']:06d}"


@pytest.mark.parametrize("recipe,breakage", [("ctc_lora", "labels shifted"), ("ctc_lora", "LoRA off")])
def test_ctc_learning_proof_fails_when_broken(recipe, breakage, tmp_path, monkeypatch, base_cer):
    """The same runs, broken on purpose, fail the proof: units shifted by one (the model learns the wrong
    letters), LoRA scaled to zero (nothing it learns reaches the output)."""
    from finetune import ctc

    extra = ["--recipe", recipe, "--eval_steps", "0", "--save_steps", "0"]
    if breakage == "LoRA off":
        extra += ["--lora_alpha", "0"]
    else:
        labels = ctc.CTCExampleBuilder.labels

        def shifted(self, text):
            n = len(self.tokenizer)
            return [1 + (i % (n - 1)) for i in labels(self, text)]  # i -> i + 1, never the blank (0)

        monkeypatch.setattr(ctc.CTCExampleBuilder, "labels", shifted)
    run = train(tmp_path / "run", *extra)
    broken, texts = phrase_cer(run / "step-000600")
    assert broken > 0.5, (recipe, breakage, texts)


def test_recipe_that_does_not_fit_the_model_is_refused(tmp_path, capsys):
    from finetune.train import main

    common = ["--train_manifest", str(PHRASES), "--output_dir", str(tmp_path / "r"), "--max_steps", "1"]
    assert main([*common, "--model", "tiny", "--recipe", "ctc_lora"]) == 2
    err = capsys.readouterr().err
    assert "Granite 4.0 1B Speech (granite_speech) is fine-tuned with lm_lora; ctc_lora is for" in err
    assert main([*common, "--model", "tiny-ctc", "--train_ctc", "head"]) == 2
    err = capsys.readouterr().err
    assert "train_ctc=head" in err and "has no language model" in err
    assert main([*common, "--model", "tiny-ctc", "--recipe", "lm_lora"]) == 2
    assert "is fine-tuned with ctc_lora or ctc_full" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_rows_the_ctc_model_cannot_learn_are_reported(tmp_path):
    """Bad rows for the CTC recipe are named with the reason; punctuation and capitals become what the model
    writes (its vocabulary has neither), digits do not."""
    from finetune.config import load_config
    from finetune.data import load_rows
    from finetune.recipes import recipe_for

    clip = str(PHRASES.parent / "phrase00.flac")
    rows = [
        {"audio": clip, "text": "Turn on the kitchen, lights!"},  # 1 good once written in its units
        {"audio": clip, "text": "turn on 10 lights"},  # 2 digits
        {"audio": clip, "text": "hello", "task": "ast", "language": "en", "target_language": "fr"},  # 3
        {"audio": clip, "text": "abcdefghij " * 4},  # 4 more units than frames
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(["--model", "tiny-ctc", "--train_manifest", str(tmp_path / "m.jsonl")])
    recipe = recipe_for(cfg)
    lm, _ = recipe.setup_model(cfg, "cpu")
    good, report = load_rows(cfg, lm.processor.tokenizer, "train", recipe.row_checker(lm))
    kinds = {p.line: p.problem for p in report.problems}
    assert [r.line for r in good] == [1] and kinds == {
        2: "characters the model cannot write",
        3: "task the model cannot learn",
        4: "transcript too long for the clip",
    }, report.summary()
    builder = recipe.builder(lm, cfg, good)
    assert lm.processor.tokenizer.decode(builder.labels(good[0].text)) == "turn on the kitchen lights"


def test_ctc_resume_is_exact(tmp_path):
    from safetensors.torch import load_file

    common = ["--max_steps", "8", "--save_steps", "0", "--eval_steps", "0", "--batch_size", "3"]
    common += ["--lora_dropout", "0.1"]  # dropout on, stop mid-epoch
    train(tmp_path / "whole", *common)
    train(tmp_path / "parts", *common, "--stop_after_steps", "4")
    train(tmp_path / "parts", *common, "--resume_from", "latest")
    a = load_file(tmp_path / "whole" / "step-000008" / "adapter_model.safetensors")
    b = load_file(tmp_path / "parts" / "step-000008" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ctc_adapter_in_the_demo_compare_and_export(ctc_run, tmp_path):
    """A CTC adapter is listed and hot-loaded by the demo's Adapters part, changes Compare's right side only, and
    exports as a merged model that writes what base + adapter writes; vLLM export is refused with the reason."""
    from conftest import ready_workbench

    from granite_workbench.export import ExportError, export
    from granite_workbench.registry import AdapterRegistry
    from granite_workbench.ui.tabs.compare import compare

    recipe, run = ctc_run
    wb = ready_workbench("tiny-ctc", registry=AdapterRegistry(run.parent))
    entry = next(e for e in wb.registry.scan() if e.path.name == "step-000600")
    name, _ = wb.adapters.load(entry.id)
    clip = str(PHRASES.parent / "phrase05.flac")
    base, adapted, summary = compare(wb, clip, name, "en")
    assert "book a table for two" in adapted.replace("<ins class='diff'>", "").replace("</ins>", "")
    assert "book a table for two" not in base and "changed" in summary
    merged = export(run / "step-000600", "merged", tmp_path / "merged")
    _, merged_texts = phrase_cer_with_model(merged)
    _, adapter_texts = phrase_cer(run / "step-000600")
    assert merged_texts == adapter_texts
    with pytest.raises(ExportError, match="vLLM serves no CTC speech model"):
        export(run / "step-000600", "vllm", tmp_path / "vllm")


def phrase_cer_with_model(folder: Path) -> tuple[float, list[str]]:
    from granite_workbench.loading import load_model
    from granite_workbench.metrics import cer
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    rows = [json.loads(l) for l in PHRASES.read_text().splitlines()]
    lm = load_model(str(folder), dtype="float32")
    out = [r.text for r in Transcriber(lm).run([str(PHRASES.parent / r["audio"]) for r in rows], TaskSpec("asr"))]
    return cer([r["text"] for r in rows], out), out


def test_train_tab_trains_the_ctc_model_and_refuses_a_config_for_another(tmp_path):
    """The demo's Train path on the CTC model: a real run in its own process writes a CTC adapter the Adapters tab
    lists; ctc_smoke.yaml on a model with a language model is refused before anything starts, with the reason;
    the Train tab hides the projector and picks the CTC smoke config for the CTC model."""
    import time

    from conftest import ready_workbench

    from granite_workbench.registry import AdapterRegistry
    from granite_workbench.ui.tabs.train import model_training_view, start_training

    wb = ready_workbench("tiny-ctc", registry=AdapterRegistry(tmp_path))
    wb.training.job.checkpoints = tmp_path
    msg = start_training(wb, "data/phrases/train.jsonl", None, "ctc_smoke.yaml", 4, None, "ctc-ui")
    assert "Started **ctc-ui**" in msg
    deadline = time.time() + 240
    while wb.training.job.status()["state"] == "running" and time.time() < deadline:
        time.sleep(1)
    meta = json.loads((tmp_path / "ctc-ui" / "step-000004" / "workbench.json").read_text())
    assert meta["config"]["recipe"] == "ctc_lora" and meta["signature"]["architecture"] == "GraniteSpeech5ForCTC"
    assert "ctc-ui/step-000004" in [e.id for e in wb.registry.scan()]
    projector, config = model_training_view(wb.inference.capabilities(), ["cpu_smoke.yaml", "ctc_smoke.yaml"])
    assert projector["visible"] is False and config["value"] == "ctc_smoke.yaml"

    lm_wb = ready_workbench("tiny")
    lm_wb.training.job.checkpoints = tmp_path / "lm"
    with pytest.raises(Exception, match="is fine-tuned with lm_lora; ctc_lora is for"):
        start_training(lm_wb, "data/phrases/train.jsonl", None, "ctc_smoke.yaml", 4, None, "wrong")
    assert not (tmp_path / "lm" / "wrong").exists()
