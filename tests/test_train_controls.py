"""The Train tab's controls, called directly: sets, settings, hardware-filtered configs, the command, the status."""

import re

import pytest
from conftest import ready_workbench

gr = pytest.importorskip("gradio")

from granite_workbench.session import training_settings
from granite_workbench.training_job import config_problem
from granite_workbench.ui.common import diff_html, diff_summary
from granite_workbench.ui.tabs.train import NO_EVAL, command_preview, config_note, start_training, status_markdown


@pytest.fixture(scope="module")
def wb(tiny_dir, tmp_path_factory):
    w = ready_workbench(tiny_dir, max_new_tokens=8)
    w.training.job.checkpoints = tmp_path_factory.mktemp("runs")
    return w


def test_cuda_only_configs_are_not_offered_on_a_cpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert "needs a CUDA GPU" in config_problem("qlora_4bit.yaml")
    assert config_problem("cpu_smoke.yaml") is None
    usable, note = config_note()
    assert "cpu_smoke.yaml" in usable and "qlora_4bit.yaml" not in usable and "multi_gpu.yaml" not in usable
    assert "qlora_4bit.yaml needs a CUDA GPU" in note


def test_settings_are_checked_and_config_values_left_out():
    assert training_settings("cpu_smoke.yaml", {"lr": "5e-4", "lora_r": "", "epochs": None}) == {"lr": 5e-4}
    with pytest.raises(ValueError, match="lora r must be between 1 and 256"):
        training_settings("cpu_smoke.yaml", {"lora_r": "1000"})
    with pytest.raises(ValueError, match="is not a number"):
        training_settings("cpu_smoke.yaml", {"lr": "fast"})


def test_start_passes_eval_set_name_settings_and_epochs(wb, monkeypatch):
    seen = {}

    def fake_start(manifest, config, model, run_name=None, extra=None, owned=None):
        seen.update(manifest=manifest, config=config, run_name=run_name, extra=extra)
        return wb.training.job.checkpoints / run_name

    monkeypatch.setattr(wb.training.job, "start", fake_start)
    msg = start_training(
        wb,
        "data/phrases/train.jsonl",
        None,
        "cpu_smoke.yaml",
        None,
        "data/domain/test.jsonl",
        "my-run",
        "1e-3",
        "8",
        "",
        "3",
        False,
    )
    assert "Started **my-run**" in msg and "scored on `data/domain/test.jsonl`" in msg
    extra = seen["extra"]
    assert extra["eval_manifest"].endswith("data/domain/test.jsonl") and extra["lr"] == 1e-3
    assert extra["lora_r"] == 8 and extra["train_projector"] is False
    assert extra["max_steps"] == 3 * 16 // 8  # 3 epochs of 16 rows, batch 8 (the config's)
    start_training(wb, "data/phrases/train.jsonl", None, "cpu_smoke.yaml", "", NO_EVAL, "", "", "", "", "", True)
    # "none" declines the config's own evaluation set too (cpu_smoke.yaml names one)
    assert seen["extra"]["eval_manifest"] == "" and "max_steps" not in seen["extra"]
    preview = command_preview(
        wb, "data/phrases/train.jsonl", None, "cpu_smoke.yaml", "", NO_EVAL, "", "", "", "", "", True
    )
    assert "--eval_manifest ''" in preview
    start_training(wb, "data/phrases/train.jsonl", None, "cpu_smoke.yaml", "", NO_EVAL, "", "", "", "", "", "false")
    assert seen["extra"]["train_projector"] is False  # an API client's "false" is false
    assert re.fullmatch(r"phrases-cpu_smoke-\d{4}-\d{4}", seen["run_name"])  # readable automatic name
    with pytest.raises(gr.Error, match="Run name"):
        start_training(wb, "data/phrases/train.jsonl", None, "cpu_smoke.yaml", None, NO_EVAL, "../x")


def test_cuda_config_is_refused_with_the_reason(wb):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(gr.Error, match="needs a CUDA GPU"):
        start_training(wb, "data/phrases/train.jsonl", None, "qlora_4bit.yaml", 5)


def test_command_preview_is_the_command():
    class W:
        class inference:
            model_id = "tiny"

    text = command_preview(
        W,
        "data/phrases/train.jsonl",
        None,
        "cpu_smoke.yaml",
        "50",
        "data/domain/test.jsonl",
        "my-run",
        "1e-3",
        "",
        "",
        "",
        True,
    )
    assert "-m finetune.train" in text and "--train_manifest data/phrases/train.jsonl" in text
    assert "--max_steps 50" in text and "--lr 0.001" in text and "--eval_manifest data/domain/test.jsonl" in text
    assert "--output_dir checkpoints/my-run" in text and "--train_projector" not in text  # the config's value


def test_status_reads_at_a_glance(wb, monkeypatch):
    base = {"run": "r", "step": 150, "max_steps": 600, "loss": 0.25, "elapsed_s": 75.0, "best": {}}
    running = status_markdown(wb, {**base, "state": "running", "eta_s": 225.0})
    assert "step 150 of 600 (25%)" in running and "about 3 min 45 s left" in running
    monkeypatch.setattr(wb.training.job, "failure", lambda: "RuntimeError: needs a CUDA GPU")
    failed = status_markdown(wb, {**base, "state": "failed", "step": 0, "eta_s": None})
    assert "failed" in failed and "needs a CUDA GPU" in failed
    done = status_markdown(
        wb,
        {
            **base,
            "state": "finished",
            "step": 600,
            "eta_s": None,
            "best": {"path": "step-000450", "metric": "wer", "value": 0.05},
        },
    )
    assert "finished, step 600 of 600" in done and "step-000450 (WER 5.0%)" in done and "Adapters" in done


def test_diff_summary_never_exceeds_the_words():
    *_, changed, total = diff_html("a b c d", "d e f g")
    assert changed <= total and diff_summary(changed, total) == f"{changed} of {total} words changed"
    *_, changed, total = diff_html("turn on the lights", "turn off the lights")
    assert diff_summary(changed, total) == "1 of 4 words changed"


def test_a_short_run_with_an_evaluation_set_is_evaluated_along_the_way():
    """A config that would evaluate only at the end of this run (a 'curve' of one point) evaluates 4 times instead;
    a config whose own schedule gives several points keeps it."""
    from granite_workbench.session import evaluation_steps

    assert evaluation_steps("cpu_smoke.yaml", {"max_steps": 40}) == {"eval_steps": 10}
    assert evaluation_steps("cpu_smoke.yaml", {}) == {}  # 600 steps, every 150: the config's schedule
    assert evaluation_steps("cpu_smoke.yaml", {"max_steps": 2}) == {}


def test_the_log_reads_newest_first():
    from granite_workbench.ui.tabs.train import newest_first

    assert newest_first("warning: mixed precision\nstep 10\nfinished") == "finished\nstep 10\nwarning: mixed precision"


@pytest.mark.parametrize(
    "recipes,chosen,shown",
    [
        (("lm_lora",), "lora_1gpu.yaml", None),  # a config for this kind of model: kept
        (("lm_lora",), "cpu_smoke.yaml", None),
        (("lm_lora",), "ctc_smoke.yaml", "cpu_smoke.yaml"),  # the CTC config on a language model: replaced
        (("ctc_lora", "ctc_full"), "cpu_smoke.yaml", "ctc_smoke.yaml"),
        (("ctc_lora", "ctc_full"), "ctc_smoke.yaml", None),
        (("lm_lora",), None, "cpu_smoke.yaml"),  # nothing chosen yet
    ],
)
def test_a_model_switch_keeps_a_config_that_fits(recipes, chosen, shown):
    """When the loaded model changes, the Train tab keeps the config the person chose where its recipe fits the new
    model (it went back to the smoke config on every switch), and shows the projector only with a language model."""
    from types import SimpleNamespace

    from granite_workbench.ui.tabs.train import model_training_view

    usable = ["cpu_smoke.yaml", "ctc_smoke.yaml", "lora_1gpu.yaml"]
    projector, config = model_training_view(SimpleNamespace(recipes=recipes), usable, chosen)
    assert config.get("value") == shown and projector["visible"] == ("lm_lora" in recipes)
