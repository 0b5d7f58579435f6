"""Transcribe: speech to text in the spoken language, with timestamps and downloads."""
from __future__ import annotations

import gradio as gr

from ...languages import ASR_LANGUAGES
from ...prompts import TaskSpec
from ...session import Workbench
from ..common import asr_language_dropdown, gpu, progress_callback, segments_table, text_or_note, user_errors
from ..panels import audio_to_text_panel
from . import Tab, UIContext


@user_errors(text=("language", "adapter"))
def transcribe(wb: Workbench, audio, language: str | None, adapter: str | None = None, progress=None):
    res = wb.run(audio, TaskSpec("asr", language=language or None), progress_callback(progress), adapter)
    return text_or_note(res), segments_table(res), wb.files_for(res)


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    examples = [[e["path"], e["language"]] for e in ctx.examples if e["language"] in ASR_LANGUAGES]
    panel = audio_to_text_panel(ctx, key="transcribe", options=lambda: [asr_language_dropdown()],
                                button="Transcribe", text_label="Transcript", text_id="transcript",
                                examples=examples, segments_id="segments", files_id="downloads")

    @gpu
    def transcribe_api(audio, language, model="base", progress=gr.Progress()):
        return transcribe(wb, audio, language, model, progress)

    panel.button.click(transcribe_api, panel.inputs, panel.outputs, api_name="transcribe",
                       concurrency_id="model")


TAB = Tab("transcribe", "Transcribe",
          "Speech to text in {asr_names}. Long recordings are split at pauses (voice activity detection) and "
          "stitched back with timestamps; download as txt, srt, vtt or json.", build)
