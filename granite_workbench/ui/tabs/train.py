"""Train: start / stop a fine-tuning run (a separate process) and watch its curves."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from ...coerce import to_number
from ...metrics import METRIC_LABELS, format_metric
from ...session import Workbench, evaluation_settings, training_settings
from ...training_job import config_problem, config_values, shipped_configs, train_command
from ..common import manifest_inputs, user_errors
from . import Tab, UIContext

NO_EVAL = "(none: training loss only)"
SETTINGS = (("lr", "Learning rate"), ("lora_r", "LoRA rank"), ("batch_size", "Batch size"))
PLOTTED = ("wer", "cer", "bleu", "keyword_recall", "ctc_cer")
LOSS_COLORS = {"training": "#2563eb", "evaluation": "#ea580c"}
METRIC_COLORS = dict(
    zip((METRIC_LABELS.get(k, k) for k in PLOTTED), ("#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2"))
)


@user_errors(
    text=("manifest", "upload", "config", "eval_set", "run_name", "lr", "lora_r", "batch_size", "epochs"),
    flags=("train_projector",),
)
def start_training(
    wb: Workbench,
    manifest: str | None,
    upload: str | None,
    config: str,
    max_steps: float | None,
    eval_set: str | None = None,
    run_name: str | None = None,
    lr: str | None = None,
    lora_r: str | None = None,
    batch_size: str | None = None,
    epochs: str | None = None,
    train_projector: bool | None = None,
):
    settings = {
        "lr": lr,
        "lora_r": lora_r,
        "batch_size": batch_size,
        "epochs": epochs,
        "train_projector": train_projector,
    }
    run = wb.training.start(
        manifest,
        upload,
        config,
        _steps(max_steps),
        None if eval_set in (None, "", NO_EVAL) else eval_set,
        run_name,
        settings,
    )
    shown = Path(upload).name if upload else manifest
    scored = f", scored on `{eval_set}`" if eval_set and eval_set != NO_EVAL else ", no evaluation set"
    return f"Started **{run.name}** with {config} on `{shown}`{scored}; checkpoints go to `{run}`."


def _steps(value) -> float | None:
    """Steps from a number field or a text field ('' / None: the config's)."""
    return to_number(value, "steps")


@user_errors
def stop_training(wb: Workbench) -> str:
    return wb.training.stop()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def status_markdown(wb: Workbench, st: dict) -> str:
    """One line a person reads at a glance: step X of N, ETA, loss; the reason when it failed; the notice when
    it finished."""
    if st["state"] == "idle":
        return "No run yet. Pick a training set and a config, then **Start fine-tuning**."
    of = f" of {st['max_steps']}" if st["max_steps"] else ""
    pct = f" ({100 * st['step'] / st['max_steps']:.0f}%)" if st["max_steps"] else ""
    loss = f", loss {st['loss']:.4f}" if st["loss"] is not None else ""
    head = f"**{st['run']}** — {st['state']}, step {st['step']}{of}{pct}{loss}"
    if st["state"] == "running":
        eta = f", about {_duration(st['eta_s'])} left" if st["eta_s"] is not None else ", starting"
        return f"{head}{eta} ({_duration(st['elapsed_s'])} so far)"
    if st["state"] == "failed":
        return f"{head} — ✕ failed after {_duration(st['elapsed_s'])}: {wb.training.job.failure()}"
    best = st.get("best") or {}
    best_txt = (
        f"; best checkpoint {best['path']} ({best['metric'].upper()} {format_metric(best['metric'], best['value'])})"
        if best.get("path")
        else ""
    )
    return (
        f"{head} — ✓ {st['state']} in {_duration(st['elapsed_s'])}{best_txt}. Its checkpoints are in the "
        "**Adapters** tab: load one and compare."
    )


def training_view(wb: Workbench):
    """(status markdown, loss table, metric table, log tail) for the live plots."""
    st = wb.training.job.status()
    entries = wb.training.job.metrics()
    # typed even when empty, so the plots get numeric axes from the first refresh on
    loss = pd.DataFrame(
        [
            {"step": e["step"], "loss": e[k], "series": label}
            for e in entries
            for k, label in (("loss", "training"), ("eval_loss", "evaluation"))
            if k in e
        ],
        columns=["step", "loss", "series"],
    ).astype({"step": "int64", "loss": "float64", "series": "str"})
    metrics = pd.DataFrame(
        [
            {"step": e["step"], "metric": METRIC_LABELS.get(k, k), "value": _shown(k, e[k])}
            for e in entries
            for k in PLOTTED
            if k in e
        ],
        columns=["step", "metric", "value"],
    ).astype({"step": "int64", "metric": "str", "value": "float64"})
    return status_markdown(wb, st), loss, metrics, newest_first(wb.training.job.log_tail())


def newest_first(log: str) -> str:
    """The log's lines, the newest on top: how a run ended ("finished", an error) is the first thing one reads,
    not the library warnings printed when it started."""
    return "\n".join(reversed(log.splitlines()))


def _shown(metric: str, value: float) -> float:
    """Rates as percentages (as everywhere in the demo); BLEU as it is."""
    return value if metric == "bleu" else 100 * value


def config_note() -> tuple[list[str], str]:
    """(configs that run here, a note naming the others and why)."""
    usable, notes = [], []
    for c in shipped_configs():
        problem = config_problem(c)
        (notes.append(problem) if problem else usable.append(c))
    return usable, ("Not offered here: " + "; ".join(notes) + ".") if notes else "Every shipped config runs here."


def command_preview(
    wb: Workbench, manifest, upload, config, steps, eval_set, run_name, lr, lora_r, batch_size, epochs, projector
) -> str:
    """The command the Start button runs (paths as the demo passes them)."""
    import shlex

    try:
        extra = training_settings(
            config or "",
            {"lr": lr, "lora_r": lora_r, "batch_size": batch_size, "epochs": epochs, "train_projector": projector},
        )
        n = _steps(steps)
    except ValueError as exc:
        return f"# {exc}"
    if n:
        extra.pop("epochs", None)
        extra["max_steps"] = int(n)
    elif "epochs" in extra:
        extra["max_steps"] = f"<{extra.pop('epochs'):g} epochs in steps>"
    extra.update(evaluation_settings(config or "", None if eval_set == NO_EVAL else eval_set, extra))
    model = wb.inference.model_id or "tiny"
    cmd = train_command(
        Path(upload).name if upload else (manifest or "<training set>"),
        f"finetune/configs/{config}",
        f"checkpoints/{run_name.strip() if run_name else '<auto>'}",
        model,
        extra,
        python="python",
    )
    words = [c if c.startswith("<") else shlex.quote(c) for c in cmd]
    head = words.index("finetune.train") + 1
    lines = [" ".join(words[:head])] + [" ".join(words[i : i + 2]) for i in range(head, len(words), 2)]
    return " \\\n  ".join(lines)


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown(
        "Fine-tune the loaded model on a manifest with its recipe (LoRA on a language model; CTC for the 5.0 "
        "Turbo CTC model), in a separate process "
        "(`accelerate launch -m finetune.train`). Checkpoints show up in the Adapters tab as they "
        "are written. One run at a time. New data: build a manifest in the **Dataset** tab."
    )
    usable, note = config_note()
    with gr.Row(elem_classes="wb-wrap"):
        with gr.Column(scale=5, min_width=300):
            manifest, upload = manifest_inputs(wb, "train-manifest", label="Training set")
            eval_choices = [NO_EVAL, *wb.files.manifest_choices()]
            eval_set = gr.Dropdown(
                eval_choices,
                value=NO_EVAL,
                label="Evaluation set",
                elem_id="train-eval",
                allow_custom_value=True,
                info="Scored during training (WER/CER); picks the best checkpoint",
            )
            default = "cpu_smoke.yaml" if "cpu_smoke.yaml" in usable else (usable or shipped_configs())[0]
            # any name is accepted from the API; the callback refuses unknown configs and ones this machine lacks
            config = gr.Dropdown(
                usable or shipped_configs(),
                value=default,
                label="Config",
                elem_id="train-config",
                info=note,
                allow_custom_value=True,
            )
            run_name = gr.Textbox(
                "",
                label="Run name",
                placeholder="automatic: <data>-<config>-<date>-<time>",
                elem_id="train-name",
                max_lines=1,
            )
            values = config_values(default)
            with gr.Row(elem_classes="wb-wrap"):
                fields = {
                    k: gr.Textbox(
                        "",
                        label=label,
                        placeholder=f"config: {values.get(k, '')}",
                        max_lines=1,
                        elem_id=f"train-{k}",
                        min_width=100,
                    )
                    for k, label in SETTINGS
                }
            with gr.Row(elem_classes="wb-wrap"):
                steps = gr.Textbox(
                    "",
                    label="Steps",
                    placeholder=f"config: {values.get('max_steps', '')}",
                    max_lines=1,
                    elem_id="train-steps",
                    min_width=100,
                )
                epochs = gr.Textbox(
                    "", label="…or epochs", placeholder="e.g. 3", max_lines=1, elem_id="train-epochs", min_width=100
                )
            projector = gr.Checkbox(
                value=bool(values.get("train_projector", True)),
                label="Also train the projector",
                info="Better adaptation; such adapters are served by vLLM only as merged models",
                elem_id="train-projector",
            )
            with gr.Accordion("Command", open=False):
                command = gr.Code(
                    command_preview(
                        wb,
                        None,
                        None,
                        default,
                        None,
                        NO_EVAL,
                        "",
                        "",
                        "",
                        "",
                        "",
                        bool(values.get("train_projector", True)),
                    ),
                    language="shell",
                    interactive=False,
                    elem_id="train-command",
                    label="Command",
                )
            with gr.Row():
                start = gr.Button("Start fine-tuning", variant="primary", elem_id="train-start")
                stop = gr.Button("Stop", variant="stop")
        with gr.Column(scale=7, min_width=300):
            first = training_view(wb)
            status = gr.Markdown(first[0], elem_id="train-status")
            # no data until the first refresh (refresh_view): a chart drawn at page load keeps that width when a
            # phone's narrower screen comes later
            loss_plot = gr.LinePlot(
                x="step",
                y="loss",
                color="series",
                title="Loss",
                height=240,
                elem_id="loss-plot",
                y_title="loss",
                color_map=LOSS_COLORS,
            )
            eval_plot = gr.ScatterPlot(
                x="step",
                y="value",
                color="metric",
                title="Evaluation (%; BLEU as is)",
                height=280,
                elem_id="eval-plot",
                y_title="%",
                color_map=METRIC_COLORS,
            )
            log = gr.Textbox(
                label="Log (newest line first)", lines=8, max_lines=8, autoscroll=False, elem_id="train-log"
            )
            gr.Markdown(
                f"Curves in TensorBoard too: `tensorboard --logdir {wb.training.job.checkpoints}`",
                elem_id="train-tensorboard",
            )

    inputs = [manifest, upload, config, steps, eval_set, run_name, *fields.values(), epochs, projector]
    ctx.manifest_pickers += [manifest, eval_set]

    def preview(*values):
        return command_preview(wb, *values)

    def on_config(name):
        v = config_values(name)
        return [gr.update(placeholder=f"config: {v.get(k, '')}") for k, _ in SETTINGS] + [
            gr.update(placeholder=f"config: {v.get('max_steps', '')}"),
            gr.update(value=bool(v.get("train_projector", True))),
        ]

    def start_training_api(
        manifest,
        upload,
        config,
        steps,
        eval_set=NO_EVAL,
        run_name="",
        lr="",
        lora_r="",
        batch_size="",
        epochs="",
        train_projector=None,
    ):
        return start_training(
            wb, manifest, upload, config, steps, eval_set, run_name, lr, lora_r, batch_size, epochs, train_projector
        )

    def stop_training_api():
        return stop_training(wb)

    def training_status_api():
        return training_view(wb)[0]

    config.change(on_config, config, [*fields.values(), steps, projector], api_name=False)
    # what the loaded model trains: the projector only exists with a language model; the CPU smoke config of its kind
    ctx.follow_model(lambda caps, chosen: model_training_view(caps, usable, chosen), [projector, config], [config])
    for comp in inputs:
        comp.change(preview, inputs, command, api_name=False, show_progress="hidden")
    start.click(start_training_api, inputs, status, api_name="start_training")
    stop.click(stop_training_api, None, status, api_name="stop_training")
    gr.Button(visible=False).click(training_status_api, None, status, api_name="training_status")
    drawn = gr.State(None)  # the series each chart was last drawn with
    gr.Timer(2.0).tick(
        lambda seen: refresh_view(wb, seen),
        drawn,
        [status, loss_plot, eval_plot, log, drawn],
        api_name=False,
        show_progress="hidden",
    )


def model_training_view(caps, usable: list[str], chosen: str | None = None) -> list:
    """The projector checkbox and the config for the loaded model (None: no model yet): the config chosen stays
    where its recipe fits the model, else the CPU smoke config of the model's kind."""
    if caps is None:
        return [gr.update(), gr.update()]
    lm = "lm_lora" in caps.recipes
    smoke = "cpu_smoke.yaml" if lm else "ctc_smoke.yaml"
    recipe = config_values(chosen).get("recipe") if chosen in usable else None
    fits = recipe in caps.recipes or (recipe == "auto" and lm)
    return [gr.update(visible=lm), gr.update() if fits or smoke not in usable else gr.update(value=smoke)]


def refresh_view(wb: Workbench, seen: tuple | None):
    """The Train tab's periodic refresh. Gradio's chart takes its colour scale from the series in the data when
    it is drawn and afterwards only swaps the data, so a chart drawn empty (a fresh install's first run) never
    coloured the lines that came later. So the charts always carry every series they may show (`with_every_series`)
    and, when the series with data change, are sent with `colors_in_legend` naming those: Gradio draws them anew
    and the legend names only series that have data."""
    status, loss, metrics, log = training_view(wb)
    series = (sorted(loss["series"].unique()), sorted(metrics["metric"].unique()))
    loss, metrics = with_every_series(loss, "series", LOSS_COLORS), with_every_series(metrics, "metric", METRIC_COLORS)
    if series == seen:
        return status, loss, metrics, log, seen
    return (
        status,
        gr.update(value=loss, colors_in_legend=series[0]),
        gr.update(value=metrics, colors_in_legend=series[1]),
        log,
        series,
    )


def with_every_series(frame: pd.DataFrame, column: str, colors: dict[str, str]) -> pd.DataFrame:
    """`frame` and one row without a value (not drawn) for every series in `colors`: the chart's colour scale
    knows them all from the start."""
    value = next(c for c in frame.columns if c not in ("step", column))
    blank = pd.DataFrame({"step": 0, value: float("nan"), column: list(colors)})
    return pd.concat([blank.astype(frame.dtypes.to_dict()), frame], ignore_index=True)


TAB = Tab(
    "train",
    "Train",
    "Fine-tune on a manifest in a separate process and watch loss and evaluation curves; checkpoints appear "
    "in Adapters.",
    build,
    modes=("workbench",),
)
