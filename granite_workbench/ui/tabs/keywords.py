"""Keyword biasing: the same clip without and with a keyword list, side by side, keywords highlighted."""

from __future__ import annotations

import gradio as gr

from ...keywords import found_keywords
from ...prompts import TaskSpec, clean_keywords
from ...session import Workbench
from ..ask import keyword_suggester
from ..common import example_picker, gpu, highlight_html, progress_callback, user_errors
from ..panels import comparison_panel
from . import Tab, UIContext


def parse_keywords(text: str | None) -> tuple[str, ...]:
    kws = clean_keywords(text or "")
    if not kws:
        raise ValueError("Enter at least one keyword (comma- or line-separated).")
    return kws


@user_errors(text=("keywords_text", "adapter"))
def keyword_compare(wb: Workbench, audio, keywords_text: str, adapter: str | None = None, progress=None):
    kws = parse_keywords(keywords_text)
    clip = wb.inference.clip(audio)  # decoded once for both runs
    tick = progress_callback(progress)
    plain = wb.inference.run(clip, TaskSpec("asr"), tick, adapter)
    biased = wb.inference.run(clip, TaskSpec("asr_keywords", keywords=kws), tick, adapter)
    found_plain, found_biased = found_keywords(plain.text, kws), found_keywords(biased.text, kws)
    summary = (
        f"**Without keywords:** {len(found_plain)}/{len(kws)} found"
        f"{' — ' + ', '.join(found_plain) if found_plain else ''}  \n"
        f"**With keywords:** {len(found_biased)}/{len(kws)} found"
        f"{' — ' + ', '.join(found_biased) if found_biased else ''}"
    )
    return highlight_html(plain.text, kws), highlight_html(biased.text, kws), summary


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    with gr.Row():
        with gr.Column(scale=5):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio", elem_id="keywords-audio")
            words = gr.Textbox(
                label="Keywords",
                elem_id="keywords-input",
                placeholder="metoprolol, atorvastatin, ...",
                info="Names and terms you expect, comma-separated (up to 50).",
            )
            keyword_suggester(wb, words)
            model = ctx.model_selector("model-keywords")
            btn = gr.Button("Compare without / with keywords", variant="primary")
            examples = [[e["path"], ", ".join(e["keywords"])] for e in ctx.examples if e["keywords"]]
            if examples:
                example_picker(examples, [audio, words])
        with gr.Column(scale=7):
            summary, plain, biased = comparison_panel(
                "Keywords found will be counted here.",
                "kw-summary",
                ("Without keywords", "kw-plain"),
                ("With keywords", "kw-biased"),
            )

    @gpu
    def keyword_compare_api(audio, keywords, model="base", progress=gr.Progress()):
        return keyword_compare(wb, audio, keywords, model, progress)

    btn.click(
        keyword_compare_api,
        [audio, words, model],
        [plain, biased, summary],
        api_name="keyword_compare",
        show_progress_on=summary,
        concurrency_id="model",
    )


TAB = Tab(
    "keywords",
    "Keyword biasing",
    "Give the names and jargon you expect; the same clip is transcribed without and with the list, side by "
    "side, with the keywords highlighted and counted.",
    build,
    needs="asr_keywords",
)
