"""About: the model, its languages, and what each tab does (generated from the tab registry)."""

from __future__ import annotations

import gradio as gr

from ...languages import ASR_LANGUAGES, LANGUAGES, TRANSLATION_DIRECTIONS
from ...loading import DEFAULT_MODEL_ID
from ...models import MODELS
from ...session import Workbench
from . import Tab, UIContext, all_tabs


def about_markdown(wb: Workbench) -> str:
    facts = {
        "asr_names": ", ".join(LANGUAGES[c].name for c in ASR_LANGUAGES),
        "directions": ", ".join(f"{s}→{t}" for s, t in TRANSLATION_DIRECTIONS),
    }
    rows = "\n".join(f"| **{t.title}** | {t.summary.format(**facts)} |" for t in all_tabs(wb.mode) if t.id != "about")
    family = "\n".join(
        f"| [{m.id}](https://huggingface.co/{m.id}) | {m.parameters} | {m.summary} | "
        f"{'yes' if m.punctuates else 'no'} |"
        for m in MODELS.values()
    )
    return f"""
### About this demo
**Model now:** `{wb.inference.model_id or DEFAULT_MODEL_ID}` (the status line above says where it runs). Tabs a
model cannot use are not shown while it is loaded.

| Granite Speech model | parameters | what it does | punctuation |
|---|---|---|---|
{family}

| Tab | What it does |
|---|---|
{rows}

Audio longer than {wb.limits.max_audio_seconds / 60:.0f} minutes is refused in this demo (the CLI takes up to 3 hours).
Notebooks in this project's `notebooks/` folder walk through the same steps in code:
`01_quickstart` (transcribe, translate, keyword-bias, long audio), `02_keyword_biasing` and
`03_domain_adaptation` (validate data, baseline, LoRA fine-tuning, evaluation, hot-loading into this demo).
"""


def build(ctx: UIContext) -> None:
    text = gr.Markdown(about_markdown(ctx.wb))
    ctx.follow_model(lambda caps: [about_markdown(ctx.wb)], [text])


TAB = Tab("about", "About", "The model, its languages and what each tab does.", build)
