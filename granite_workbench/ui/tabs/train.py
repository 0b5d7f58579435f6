"""Train: start / stop a fine-tuning run (a separate process) and watch its curves."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from ...session import Workbench
from ...training_job import shipped_configs
from ...session import MAX_TRAINING_STEPS
from ..common import manifest_inputs, user_errors
from . import Tab, UIContext


@user_errors(text=("manifest", "upload", "config"))
def start_training(wb: Workbench, manifest: str | None, upload: str | None, config: str, max_steps: float | None):
    run = wb.start_training(manifest, upload, config, max_steps)
    shown = Path(upload).name if upload else manifest
    return f"Started **{run.name}** with {config} on `{shown}`; checkpoints go to `{run}`."


@user_errors
def stop_training(wb: Workbench) -> str:
    return wb.stop_training()


def training_view(wb: Workbench):
    """(status markdown, loss table, eval metric table, log tail) for the live plots."""
    st = wb.job.status()
    entries = wb.job.metrics()
    # typed even when empty, so the plots get numeric axes from the first refresh on
    loss = pd.DataFrame([{"step": e["step"], "loss": e["loss"]} for e in entries if "loss" in e],
                        columns=["step", "loss"]).astype({"step": "int64", "loss": "float64"})
    evals = pd.DataFrame([{"step": e["step"], "metric": k, "value": e[k]} for e in entries
                          for k in ("eval_loss", "wer", "cer", "bleu", "keyword_recall") if k in e],
                         columns=["step", "metric", "value"]).astype({"step": "int64", "metric": "str",
                                                                     "value": "float64"})
    if st["state"] == "idle":
        status = "No run yet. Pick a manifest and a config, then **Start fine-tuning**."
    else:
        loss_txt = f", loss {st['loss']:.4f}" if st["loss"] is not None else ""
        status = f"**{st['run']}** — {st['state']}, step {st['step']}{loss_txt}, {st['elapsed_s']:.0f} s"
    return status, loss, evals, wb.job.log_tail()


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown("Fine-tune the loaded model on a manifest with LoRA, in a separate process "
                "(`accelerate launch -m finetune.train`). Checkpoints show up in the Adapters tab as they "
                "are written. One run at a time.")
    with gr.Row():
        with gr.Column(scale=5):
            manifest, upload = manifest_inputs(wb, "train-manifest")
            configs = shipped_configs()
            config = gr.Dropdown(configs, value="cpu_smoke.yaml" if "cpu_smoke.yaml" in configs else configs[0],
                                 label="Config", elem_id="train-config", allow_custom_value=True)
            steps = gr.Number(value=None, label="Steps (empty: the config's)", precision=0, minimum=1,
                              maximum=MAX_TRAINING_STEPS)
            with gr.Row():
                start = gr.Button("Start fine-tuning", variant="primary")
                stop = gr.Button("Stop", variant="stop")
        with gr.Column(scale=7):
            status = gr.Markdown(training_view(wb)[0], elem_id="train-status")
            loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss", height=240, elem_id="loss-plot")
            eval_plot = gr.LinePlot(x="step", y="value", color="metric", title="Evaluation", height=240,
                                    elem_id="eval-plot")
            log = gr.Textbox(label="Log", lines=6, max_lines=6, elem_id="train-log")

    def start_training_api(manifest, upload, config, steps):
        return start_training(wb, manifest, upload, config, steps)

    def stop_training_api():
        return stop_training(wb)

    def training_status_api():
        return training_view(wb)[0]

    start.click(start_training_api, [manifest, upload, config, steps], status, api_name="start_training")
    stop.click(stop_training_api, None, status, api_name="stop_training")
    gr.Button(visible=False).click(training_status_api, None, status, api_name="training_status")
    gr.Timer(2.0).tick(lambda: training_view(wb), None, [status, loss_plot, eval_plot, log], api_name=False,
                       show_progress="hidden")


TAB = Tab("train", "Train",
          "Fine-tune on a manifest in a separate process and watch loss and evaluation curves; checkpoints appear "
          "in Adapters.", build, modes=("workbench",))
