"""Evaluate: base vs loaded adapters on a manifest — table, charts, worst utterances with diffs."""

from __future__ import annotations

import html
import math
from pathlib import Path

import gradio as gr

from ...adapters import BASE, AdapterError, display_name
from ...evaluation import run_evaluation, write_report
from ...manifest import DataError, read_manifest, validate
from ...session import Workbench
from ..common import diff_html, gpu, manifest_inputs, progress_callback, user_errors
from . import Tab, UIContext
from .adapters import loaded_choices, loaded_names

MAX_ROWS = 500  # the demo evaluates at most this many rows; the CLI has no limit
SUMMARY_HEADERS = ["group", "system", "WER %", "CER %", "BLEU", "keyword recall %", "utterances", "failed"]


def summary_table(result):
    """One row per group and system — the `all` group only when there are several groups (else it repeats the
    one group) — and only the metric columns that have a value. Rates in percent, as everywhere in the demo."""
    import pandas as pd

    groups = [g for g in result.summary if g != "all"]
    shown = groups + ["all"] if len(groups) > 1 else (groups or ["all"])
    rows = []
    for group in shown:
        for system, m in result.summary[group].items():
            rows.append(
                [group, display_name(system)]
                + [round(100 * m[k], 1) if k in m else None for k in ("wer", "cer")]
                + [round(m["bleu"], 1) if "bleu" in m else None]
                + [round(100 * m["keyword_recall"], 1) if "keyword_recall" in m else None, m["utterances"], m["failed"]]
            )
    df = pd.DataFrame(rows, columns=SUMMARY_HEADERS)
    return df[[c for c in SUMMARY_HEADERS if df[c].notna().any() or c in ("group", "system", "utterances")]]


def audio_player(source, max_seconds: float = 30.0) -> str:
    """An inline player for a clip (Ogg Vorbis, embedded: nothing on the server is exposed); empty when the clip
    is long or unreadable."""
    import base64
    import io

    import soundfile as sf

    from ...audio import load_audio

    try:
        clip = load_audio(source, max_seconds=max_seconds)
        buf = io.BytesIO()
        sf.write(buf, clip.samples, clip.sample_rate, format="OGG", subtype="VORBIS")
    except Exception:
        return ""
    return (
        f"<audio controls preload='none' src='data:audio/ogg;base64,{base64.b64encode(buf.getvalue()).decode()}'"
        " style='width:100%;max-width:420px;height:32px'></audio>"
    )


def worst_html(result, n: int = 5) -> str:
    parts = []
    for system in result.systems:
        items = result.worst(system, n)
        if not items:
            parts.append(f"<h4>{html.escape(display_name(system))}: no errors</h4>")
            continue
        parts.append(f"<h4>{html.escape(display_name(system))}: worst utterances</h4>")
        for u in items:
            ref_html, hyp_html, *_ = diff_html(u["reference"], u["systems"][system]["hypothesis"])
            name = html.escape(Path(u["audio"]).name)
            parts.append(
                f"<div class='worst'><b>{name}</b> <span class='muted'>(line {u['line']})</span> · error "
                f"{100 * u['systems'][system]['error']:.1f}%{audio_player(u['audio'])}"
                f"<div class='pair'><span class='muted'>reference</span>{ref_html}"
                f"<span class='muted'>hypothesis</span>{hyp_html}</div></div>"
            )
    return "".join(parts) or "<p class='muted'>Nothing to show.</p>"


def row_limit(limit) -> int | None:
    """'Only the first N rows': empty (or 0) is every row; otherwise a whole number of at least 1."""
    if limit is None or (isinstance(limit, str) and not limit.strip()):
        return None
    try:
        value = float(limit)
    except (TypeError, ValueError):
        raise ValueError(f"Only the first N rows: {limit!r} is not a number (leave it empty for all rows).") from None
    if not math.isfinite(value) or value != int(value) or value < 0:
        raise ValueError(f"Only the first N rows: {limit!r} is not a whole number of rows.")
    return int(value) or None


@user_errors(text=("manifest", "upload"), lists=("systems",))
def evaluate_action(
    wb: Workbench,
    manifest: str | None,
    upload: str | None,
    systems: list[str],
    limit: str | float | None,
    progress=None,
):
    wb.policy.require_workbench("Evaluation on the server")
    engine = wb.inference.engine()
    if not systems:
        raise ValueError("Pick at least one system (the base model and/or loaded adapters).")
    for s in systems:
        if s != BASE and s not in engine.adapter_names():
            raise AdapterError(f"Adapter {s!r} is not loaded; load it in the Adapters tab.")
    with wb.files.manifest(manifest, upload) as (path, roots, label, _):  # an upload is deleted when this ends
        rows = read_manifest(path, label=label, confine_to=roots)
        limit = row_limit(limit)
        rows = rows[:limit] if limit else rows
        if len(rows) > MAX_ROWS:
            raise DataError(
                f"{len(rows)} rows: the demo evaluates at most {MAX_ROWS}; set a limit or use "
                "`python -m granite_workbench evaluate`."
            )
        good, report = validate(
            rows, engine.tokenizer, source=label, max_audio_seconds=wb.limits.max_audio_seconds, max_label_tokens=10_000
        )
        if not good:
            raise DataError("No usable rows:\n" + report.summary())
        result = run_evaluation(
            engine,
            good,
            systems,
            batch_size=wb.limits.batch_size,
            max_new_tokens=wb.limits.max_new_tokens,
            progress=progress_callback(progress, "Evaluating", "utterances"),
        )
    out = wb.files.output_folder()
    paths = write_report(result, out, title=f"Evaluation of {Path(label).name}")
    note = f"{len(good)} utterances × {len(systems)} systems."
    if report.problems:
        note += f" {len(report.problems)} row problem(s) skipped: " + "; ".join(
            f"line {p.line}: {p.problem}" for p in report.problems[:5]
        )
    return (
        note,
        summary_table(result),
        str(paths["metrics"]),
        str(paths["deltas"]) if "deltas" in paths else None,
        worst_html(result),
        [str(paths[k]) for k in ("report", "summary", "utterances")],
    )


def system_choices(wb: Workbench) -> list[tuple[str, str]]:
    return [("Base model", BASE)] + loaded_choices(wb)


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown(
        "Run the base model and loaded adapters over a manifest in one go: WER / CER, BLEU and "
        "keyword recall side by side, with charts and the worst utterances. The same numbers as "
        "`python -m granite_workbench evaluate` and the fine-tuning logs."
    )
    with gr.Row(elem_classes="wb-wrap"):
        with gr.Column(scale=4, min_width=300):
            manifest, upload = manifest_inputs(wb, "eval-manifest", prefer="test")
            ctx.manifest_pickers.append(manifest)
            # a multiselect that accepts any name from the API; the callback refuses adapters not loaded
            systems = gr.Dropdown(
                system_choices(wb),
                value=[BASE],
                multiselect=True,
                allow_custom_value=True,
                label="Systems",
                elem_id="eval-systems",
            )
            # a text box: an empty number field would show "0" (Gradio), which reads as "no rows"
            limit = gr.Textbox("", label="Only the first N rows", placeholder="all", max_lines=1, elem_id="eval-limit")
            go = gr.Button("Evaluate", variant="primary")
        with gr.Column(scale=8, min_width=300):
            note = gr.Markdown(elem_id="eval-note")
            # long system names wrap inside their cells instead of pushing the metric columns out of view
            table = gr.Dataframe(
                headers=SUMMARY_HEADERS,
                label="Summary",
                interactive=False,
                elem_id="eval-table",
                wrap=True,
                max_height=640,
            )
            chart = gr.Image(
                label="Metric per system", type="filepath", elem_id="eval-chart", show_label=False, height=380
            )
            deltas = gr.Image(
                label="Per-utterance change vs the first system",
                type="filepath",
                show_label=False,
                height=380,
                elem_id="eval-deltas",
            )
            worst = gr.HTML(elem_id="eval-worst")
            files = gr.File(label="Report files", file_count="multiple", interactive=False)

    @gpu
    def evaluate_api(manifest, upload, systems, limit, progress=gr.Progress()):
        return evaluate_action(wb, manifest, upload, systems, limit, progress)

    go.click(
        evaluate_api,
        [manifest, upload, systems, limit],
        [note, table, chart, deltas, worst, files],
        show_progress_on=note,
        api_name="evaluate",
        concurrency_id="model",
    )
    from .evaluate_models import build_panel

    build_panel(ctx, manifest, upload, limit)
    offered = gr.State([])  # the adapters offered so far: one loaded since is selected once, then left to the user
    ctx.on_adapters_changed(
        lambda current, seen: follow_adapters(wb, current, seen), [systems, offered], [systems, offered]
    )


def follow_adapters(wb: Workbench, current: list[str] | None, seen: list[str] | None):
    """The Systems selector after the loaded adapters changed: unloaded ones leave it, newly loaded ones join it
    (an adapter someone loads is usually the one to evaluate), and a deselected one stays deselected."""
    loaded = loaded_names(wb)
    kept = [v for v in (current or []) if v == BASE or v in loaded]
    new = [n for n in loaded if n not in (seen or []) and n not in kept]
    if kept + new == list(current or []):  # nothing to change: the user's selection stays as the browser has it
        return gr.update(choices=system_choices(wb)), loaded
    return gr.update(choices=system_choices(wb), value=kept + new), loaded


TAB = Tab(
    "evaluate",
    "Evaluate",
    "Base vs adapters on a manifest: WER / CER, BLEU, keyword recall, charts and the worst utterances.",
    build,
    modes=("workbench",),
)
