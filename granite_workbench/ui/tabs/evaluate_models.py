"""Evaluate's "Which Granite for my data?" panel: several models over one manifest (comparison.py), with progress per
model, the cost table, the accuracy-against-speed chart and the rows the models disagree on, with players."""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from ...comparison import ModelChoice, compare_models, disagreements, parse_models, write_comparison
from ...manifest import DataError, read_manifest, validate
from ...models import BY_ARCHITECTURE, DEFAULT_MODEL_ID
from ...session import Workbench
from ..common import diff_html, gpu, user_errors
from .evaluate import MAX_ROWS, audio_player, row_limit

CTC_MODEL_ID = BY_ARCHITECTURE["granite_speech5_ctc"]
COST_HEADERS = ["model", "WER %", "CER %", "failed", "RTFx", "peak memory GiB", "parameters M", "load s"]


def model_choices(wb: Workbench, text: str) -> list[ModelChoice]:
    """One model per line (or comma-separated): a hub id, a folder or a tiny alias, `@RUN/STEP` for an adapter of
    the checkpoints folder (resolved there, never a path outside it)."""
    out = [
        ModelChoice(c.model, str(wb.registry.resolve(c.adapter).path) if c.adapter else None)
        for c in (parse_models(text.replace("\n", ",")) if (text or "").strip(" ,\n") else [])
    ]
    if len(out) < 2:
        raise ValueError("Name at least two models to compare, one per line (MODEL or MODEL@RUN/STEP).")
    return out


def loader(wb: Workbench):
    """Loads a model like the demo's (its device and dtype); the demo's own model is used as it is, not twice."""
    from ...loading import load_model

    live = getattr(wb.inference.engine(), "lm", None)  # one fetch: a model switch meanwhile cannot split the two

    def load(model: str):
        if live is not None and model in (live.model_id, wb.inference.model_id):
            return live
        return load_model(model, device=live.device if live else None, dtype="auto")

    return load


def cost_table(result, costs):
    import pandas as pd

    rows = []
    for c in costs:
        m = result.summary["all"][c.system]
        rows.append(
            [
                c.system,
                round(100 * m["wer"], 1) if "wer" in m else None,
                round(100 * m["cer"], 1) if "cer" in m else None,
                m["failed"],
                round(c.rtfx, 1),
                round(c.peak_memory_bytes / 2**30, 2),
                round(c.parameters / 1e6, 1),
                c.load_seconds,
            ]
        )
    return pd.DataFrame(rows, columns=COST_HEADERS)


def disagreement_html(result, n: int = 5) -> str:
    items = disagreements(result, n)
    if not items:
        return "<p class='muted'>The models make the same errors on every row.</p>"
    parts = ["<h4>Where the models disagree most</h4>"]
    for u in items:
        parts.append(
            f"<div class='worst'><b>{html.escape(Path(u['audio']).name)}</b> <span class='muted'>(line {u['line']})"
            f"</span> · error spread {100 * u['spread']:.0f} points{audio_player(u['audio'])}<div class='pair'>"
            f"<span class='muted'>reference</span><span>{html.escape(u['reference'])}</span>"
        )
        for system, out in u["systems"].items():
            hyp = out.get("hypothesis")
            shown = diff_html(u["reference"], hyp)[1] if hyp is not None else html.escape(f"failed: {out['failed']}")
            parts.append(f"<span class='muted'>{html.escape(system)}</span>{shown}")
        parts.append("</div></div>")
    return "".join(parts)


@user_errors(text=("manifest", "upload", "models"))
def compare_models_action(wb: Workbench, manifest, upload, models: str, limit, progress=None):
    wb.policy.require_workbench("Comparing models on the server")
    choices = model_choices(wb, models)
    with wb.files.manifest(manifest, upload) as (path, roots, label, _):
        rows = read_manifest(path, label=label, confine_to=roots)
        limit = row_limit(limit)
        rows = rows[:limit] if limit else rows
        if len(rows) > MAX_ROWS:
            raise DataError(f"{len(rows)} rows: the demo compares at most {MAX_ROWS}; set a limit.")
        good, report = validate(
            rows, None, source=label, max_audio_seconds=wb.limits.max_audio_seconds, max_label_tokens=0
        )
        if not good:
            raise DataError("No usable rows:\n" + report.summary())

        def tick(k: int, n: int, name: str) -> None:
            if progress is not None:
                progress((k, n), desc=f"Model {min(k + 1, n)} of {n}: {name}", unit="models")

        result, costs = compare_models(
            choices,
            good,
            loader(wb),
            progress=tick,
            batch_size=wb.limits.batch_size,
            max_new_tokens=wb.limits.max_new_tokens,
        )
    paths = write_comparison(result, costs, wb.files.output_folder(), f"Which Granite for {Path(label).name}?")
    note = f"{len(good)} utterances × {len(costs)} models, one in memory at a time (the demo's own stays)."
    return (
        note,
        cost_table(result, costs),
        str(paths["speed_accuracy"]),
        disagreement_html(result),
        [str(paths[k]) for k in ("report", "models", "utterances", "disagreements")],
    )


def default_models(wb: Workbench) -> str:
    """The demo's model and one of another kind (the CTC model, or the first LLM model when the CTC one is loaded);
    miniatures when a miniature runs."""
    try:
        lm = wb.inference.engine().lm
    except Exception:  # no model yet, or a server's
        return ""
    ctc = lm.architecture == "granite_speech5_ctc"
    other = ("tiny" if ctc else "tiny-ctc") if lm.tiny else (DEFAULT_MODEL_ID if ctc else CTC_MODEL_ID)
    return f"{lm.model_id}\n{other}"


def build_panel(ctx, manifest, upload, limit) -> None:
    """The panel, inside the Evaluate tab (it shares the manifest and the row limit)."""
    wb = ctx.wb
    with gr.Accordion("Which Granite for my data? Compare models", open=False, elem_id="models-panel"):
        gr.Markdown(
            "Each model runs over the same rows, loaded one at a time: accuracy, speed on this machine (RTFx), "
            "peak memory and size side by side. Same as `python -m granite_workbench evaluate MANIFEST --models ...`."
        )
        with gr.Row(elem_classes="wb-wrap"):
            with gr.Column(scale=4, min_width=280):
                models = gr.Textbox(
                    default_models(wb),
                    lines=3,
                    label="Models, one per line (hub id, folder or tiny alias; MODEL@RUN/STEP adds an adapter)",
                    elem_id="models-list",
                )
                go = gr.Button("Compare models", variant="primary", elem_id="models-go")
            with gr.Column(scale=8, min_width=300):
                note = gr.Markdown(elem_id="models-note")
                table = gr.Dataframe(headers=COST_HEADERS, interactive=False, wrap=True, elem_id="models-table")
                chart = gr.Image(type="filepath", show_label=False, height=380, elem_id="models-chart")
                spread = gr.HTML(elem_id="models-disagree")
                files = gr.File(label="Report files", file_count="multiple", interactive=False)

    # the list starts from the model the demo has loaded (it loads after the page is built, and may change)
    ctx.follow_model(lambda caps: [gr.update(value=default_models(wb)) if caps else gr.update()], [models])

    @gpu
    def compare_api(manifest, upload, models, limit, progress=gr.Progress()):
        return compare_models_action(wb, manifest, upload, models, limit, progress)

    go.click(
        compare_api,
        [manifest, upload, models, limit],
        [note, table, chart, spread, files],
        show_progress_on=note,
        api_name="compare_models",
        concurrency_id="model",
    )
