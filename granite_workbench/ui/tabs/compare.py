"""Compare: one clip through the base model and through an adapter, side by side, with the changed words marked."""

from __future__ import annotations

import gradio as gr

from ...adapters import BASE, AdapterError
from ...prompts import TaskSpec
from ...session import Workbench
from ..common import asr_language_dropdown, diff_html, diff_summary, gpu, progress_callback, user_errors
from ..panels import comparison_panel
from . import Tab, UIContext
from .adapters import keep_choice, loaded_choices, loaded_names


@user_errors(text=("adapter", "language"))
def compare(wb: Workbench, audio, adapter: str, language: str | None = None, progress=None):
    """The clip through the base model and through `adapter`, with the words that differ marked."""
    if not adapter or adapter == BASE:
        raise AdapterError(
            "Pick an adapter to compare with the base model"
            + ("." if loaded_names(wb) else ": none is loaded yet — load one in the Adapters tab.")
        )
    spec = TaskSpec("asr", language=language or None)
    clip = wb.inference.clip(audio)  # decoded once for both runs
    tick = progress_callback(progress)
    base = wb.inference.run(clip, spec, tick, None)
    adapted = wb.inference.run(clip, spec, tick, adapter)
    left, right, changed, total = diff_html(base.text, adapted.text)
    summary = (
        f"**{diff_summary(changed, total)}** between the base model and **{adapter}**."
        if changed
        else f"The base model and **{adapter}** give the same text."
    )
    return left, right, summary


def adapter_hint(names: list[str]) -> str:
    return "A loaded adapter." if names else "No adapter is loaded: load one in the Adapters tab first."


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown(
        "The same clip through the base model and through a fine-tuned adapter; the words that differ are marked."
    )
    with gr.Row():
        with gr.Column(scale=5):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
            adapter = gr.Dropdown(
                loaded_choices(wb),
                label="Adapter",
                allow_custom_value=True,
                elem_id="compare-adapter",
                info=adapter_hint(loaded_names(wb)),
            )
            language = asr_language_dropdown()
            btn = gr.Button("Compare", variant="primary")
        with gr.Column(scale=7):
            summary, base, adapted = comparison_panel(
                "", "compare-summary", ("Base model", "compare-base"), ("Adapter", "compare-adapted")
            )

    def refresh(current):
        return keep_choice(current, loaded_choices(wb), info=adapter_hint(loaded_names(wb)))

    ctx.on_adapters_changed(refresh, [adapter], [adapter])

    @gpu
    def compare_api(audio, adapter, language, progress=gr.Progress()):
        return compare(wb, audio, adapter, language, progress)

    btn.click(
        compare_api,
        [audio, adapter, language],
        [base, adapted, summary],
        api_name="compare",
        show_progress_on=summary,
        concurrency_id="model",
    )


TAB = Tab(
    "compare",
    "Compare",
    "The same clip through the base model and a fine-tuned adapter, side by side, with the changed words marked.",
    build,
)
