"""Translate: speech in one language to text in another, in the supported directions only."""

from __future__ import annotations

import gradio as gr

from ...languages import check_direction, sources
from ...prompts import TaskSpec
from ...session import Workbench
from ..common import direction_dropdowns, gpu, progress_callback, segments_table, text_or_note, user_errors
from ..panels import audio_to_text_panel
from . import Tab, UIContext


@user_errors(text=("source", "target", "adapter"))
def translate(wb: Workbench, audio, source: str, target: str, adapter: str | None = None, progress=None):
    source, target = check_direction(source, target)
    res = wb.inference.run(audio, TaskSpec("ast", language=source, target=target), progress_callback(progress), adapter)
    return text_or_note(res), segments_table(res), wb.files.files_for(res)


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    examples = [[e["path"], e["language"]] for e in ctx.examples if e["language"] in sources()]
    panel = audio_to_text_panel(
        ctx,
        key="translate",
        options=lambda: list(direction_dropdowns()),
        button="Translate",
        text_label="Translation",
        text_id="translation",
        examples=examples,
    )

    @gpu
    def translate_api(audio, source, target, model="base", progress=gr.Progress()):
        return translate(wb, audio, source, target, model, progress)

    panel.button.click(
        translate_api,
        panel.inputs,
        panel.outputs,
        api_name="translate",
        show_progress_on=panel.text,
        concurrency_id="model",
    )


TAB = Tab("translate", "Translate", "Speech in one language to text in another: {directions}.", build, needs="ast")
