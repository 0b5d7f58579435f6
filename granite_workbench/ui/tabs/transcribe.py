"""Transcribe: speech to text in the spoken language, with timestamps and downloads."""

from __future__ import annotations

import gradio as gr

from ...engine import DECODING_MODES
from ...languages import ASR_LANGUAGES
from ...prompts import TaskSpec
from ...session import Workbench
from ..ask import ask_panel
from ..common import (
    asr_language_dropdown,
    decoding_line,
    gpu,
    language_line,
    progress_callback,
    segments_table,
    text_or_note,
    user_errors,
    words_html,
)
from ..panels import audio_to_text_panel
from . import Tab, UIContext

DECODING_CHOICES = [
    ("greedy (the model card's)", "greedy"),
    ("speculative (IBM: CTC draft, fastest, may differ)", "speculative"),
    ("speculative-exact (CTC draft, same text as greedy)", "speculative-exact"),
]
assert [v for _, v in DECODING_CHOICES] == list(DECODING_MODES)


@user_errors(text=("language", "adapter", "decoding"))
def transcribe(
    wb: Workbench,
    audio,
    language: str | None,
    adapter: str | None = None,
    progress=None,
    decoding: str = "greedy",
    word_timestamps: bool = False,
    speakers: bool = False,
):
    if decoding not in DECODING_MODES:
        raise ValueError(f"Unknown decoding {decoding!r}. Choose one of: {', '.join(DECODING_MODES)}.")
    res = wb.inference.run(
        audio,
        TaskSpec("asr_speakers" if speakers else "asr", language=language or None),
        progress_callback(progress),
        adapter,
        decoding=decoding,
        word_timestamps=bool(word_timestamps),
    )
    return (
        text_or_note(res),
        segments_table(res),
        wb.files.files_for(res),
        language_line(res) + words_html(res) + decoding_line(res),
    )


def decoding_dropdown(caps) -> gr.Dropdown:
    """The decoding modes the loaded model allows (a CTC-only or remote model: greedy only)."""
    allowed = [c for c in DECODING_CHOICES if caps is None or c[1] in caps.decoding]
    return gr.Dropdown(choices=allowed, value="greedy", interactive=len(allowed) > 1)


def decoding_settings() -> list:
    return [
        gr.Dropdown(
            DECODING_CHOICES,
            value="greedy",
            label="Decoding",
            elem_id="decoding",
            info="Speculative decoding drafts the text with the encoder's CTC head and lets the language "
            "model check it in one pass.",
        ),
        gr.Checkbox(False, label="Word timestamps (click a word to play from there)", elem_id="word-timestamps"),
        gr.Checkbox(False, label="Who spoke when (speaker labels)", elem_id="speakers", visible=False),
    ]


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    examples = [[e["path"], e["language"]] for e in ctx.examples if e["language"] in ASR_LANGUAGES]
    panel = audio_to_text_panel(
        ctx,
        key="transcribe",
        options=lambda: [asr_language_dropdown(elem_id="transcribe-lang")],
        button="Transcribe",
        text_label="Transcript",
        text_id="transcript",
        examples=examples,
        segments_id="segments",
        files_id="downloads",
        settings=decoding_settings,
        words_id="words",
    )

    by_id = {getattr(c, "elem_id", None): c for c in panel.inputs}
    ctx.follow_model(
        lambda caps: [decoding_dropdown(caps), gr.Checkbox(visible=bool(caps and caps.can("asr_speakers")))],
        [by_id["decoding"], by_id["speakers"]],
    )

    @gpu
    def transcribe_api(
        audio, language, model="base", decoding="greedy", word_timestamps=False, speakers=False, progress=gr.Progress()
    ):
        return transcribe(wb, audio, language, model, progress, decoding, word_timestamps, speakers)

    panel.button.click(
        transcribe_api,
        panel.inputs,
        panel.outputs,
        api_name="transcribe",
        show_progress_on=panel.text,
        concurrency_id="model",
    )
    ask_panel(wb, "transcribe", panel.text, panel.segments, api=True)


TAB = Tab(
    "transcribe",
    "Transcribe",
    "Speech to text in {asr_names}. Long recordings are split at pauses (voice activity detection) and "
    "stitched back with timestamps; word timestamps from the encoder's CTC head, and speculative decoding "
    "with its draft; download as txt, srt, vtt or json.",
    build,
)
