"""The audio-to-text panel shared by the Transcribe and Translate tabs.

Left: audio (upload or microphone), the tab's options, the model selector, the button, examples.
Right: the text, the timed segments and the downloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from .common import example_picker
from .tabs import UIContext


@dataclass
class AudioToTextPanel:
    audio: gr.Audio
    options: list[gr.components.Component]
    model: gr.Dropdown
    button: gr.Button
    text: gr.Textbox
    segments: gr.Dataframe
    files: gr.File
    settings: list[gr.components.Component]
    words: gr.HTML | None

    @property
    def inputs(self) -> list:
        return [self.audio, *self.options, self.model, *self.settings]

    @property
    def outputs(self) -> list:
        return [self.text, self.segments, self.files] + ([self.words] if self.words is not None else [])


def audio_to_text_panel(
    ctx: UIContext,
    *,
    key: str,
    options: Callable[[], list],
    button: str,
    text_label: str,
    text_id: str,
    examples: list[list] | None = None,
    segments_id: str | None = None,
    files_id: str | None = None,
    settings: Callable[[], list] | None = None,
    words_id: str | None = None,
) -> AudioToTextPanel:
    """`settings`: components of a collapsed "Decoding" group, passed after the model; `words_id`: a pane of
    timed words under the text (highlighted while the audio plays; a click seeks)."""
    with gr.Row():
        with gr.Column(scale=5):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio", elem_id=f"{key}-audio")
            with gr.Row():
                opts = options()
                model = ctx.model_selector(f"model-{key}")
            extra: list = []
            if settings:
                with gr.Accordion("Decoding", open=False):
                    extra = settings()
            btn = gr.Button(button, variant="primary")
            if examples:
                example_picker(examples, [audio, *opts[:1]])
        with gr.Column(scale=7):
            text = gr.Textbox(label=text_label, lines=6, buttons=["copy"], elem_id=text_id)
            words = gr.HTML("", elem_id=words_id, elem_classes=["gwb-words-pane"]) if words_id else None
            segs = gr.Dataframe(
                headers=["start", "end", "text"],
                label="Segments (click one to play from there)",
                wrap=True,
                column_widths=["12%", "12%", "76%"],  # (phones: theme.CSS widens the times)
                interactive=False,
                elem_id=segments_id,
                elem_classes=["gwb-segments"],
            )
            files = gr.File(label="Download", file_count="multiple", interactive=False, elem_id=files_id)
    return AudioToTextPanel(audio, opts, model, btn, text, segs, files, extra, words)


EMPTY = "<div class='transcript muted'>—</div>"


def comparison_panel(
    summary: str, summary_id: str, left: tuple[str, str], right: tuple[str, str]
) -> tuple[gr.Markdown, gr.HTML, gr.HTML]:
    """A summary line above two transcripts side by side, each under its title: (title, elem_id) pairs."""
    summary_md = gr.Markdown(summary, elem_id=summary_id)
    panes = []
    with gr.Row(elem_classes=["side-by-side"]):
        for title, elem_id in (left, right):
            with gr.Column(min_width=160):
                gr.Markdown(f"**{title}**")
                panes.append(gr.HTML(EMPTY, elem_id=elem_id))
    return summary_md, panes[0], panes[1]
