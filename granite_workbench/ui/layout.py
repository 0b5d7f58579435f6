"""The demo's layout: model panel, Transcribe / Translate / Keyword biasing / About tabs."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from ..languages import ASR_LANGUAGES, LANGUAGES, TRANSLATION_DIRECTIONS, sources, targets_for
from ..loading import DEFAULT_MODEL_ID
from ..paths import EXAMPLES_DIR
from . import callbacks as cb
from .adapter_tabs import build_adapters_tab, build_train_tab, model_selector
from .evaluate_tab import build_evaluate_tab

LANG_CHOICES = [(f"{LANGUAGES[c].name} ({c})", c) for c in ASR_LANGUAGES]


def _examples() -> list[dict]:
    index = EXAMPLES_DIR / "examples.json"
    if not index.exists():
        return []
    return [{**e, "path": str(EXAMPLES_DIR / e["audio"])} for e in json.loads(index.read_text())
            if (EXAMPLES_DIR / e["audio"]).exists()]


def about_markdown(wb: cb.Workbench) -> str:
    directions = ", ".join(f"{s}→{t}" for s, t in TRANSLATION_DIRECTIONS)
    return f"""
### About this demo
**Model:** [{DEFAULT_MODEL_ID}](https://huggingface.co/{DEFAULT_MODEL_ID}) — a 2 B-parameter speech-language
model (conformer encoder, Q-Former projector, Granite 4.0 1B language model), Apache-2.0.

| Tab | What it does |
|---|---|
| **Transcribe** | Speech to text in {", ".join(LANGUAGES[c].name for c in ASR_LANGUAGES)}. Long recordings are split at pauses (voice activity detection) and stitched back with timestamps; download as txt, srt, vtt or json. |
| **Translate** | Speech in one language to text in another: {directions}. |
| **Keyword biasing** | Give the names and jargon you expect; the same clip is transcribed without and with the list, side by side, with the keywords highlighted and counted. |
| **Adapters** | Fine-tuned LoRA checkpoints from the checkpoints folder: load them on the live model, pick them in any tab, compare with the base model. |
| **Train** | Fine-tune on a manifest in a separate process and watch loss and evaluation curves; checkpoints appear in Adapters. |
| **Evaluate** | Base vs adapters on a manifest: WER / CER, BLEU, keyword recall, charts and the worst utterances. |

Audio longer than {wb.max_audio_seconds / 60:.0f} minutes is refused in this demo (the CLI takes up to 3 hours).
Notebooks in this project's `notebooks/` folder walk through the same steps in code:
`01_quickstart` (transcribe, translate, keyword-bias, long audio), `02_domain_adaptation` (validate data,
baseline, LoRA fine-tuning, evaluation, hot-loading into this demo) and `03_keyword_biasing`.
"""


def build_demo(wb: cb.Workbench) -> gr.Blocks:
    examples = _examples()
    with gr.Blocks(title="Granite Speech Workbench") as demo:
        gr.HTML("<div id='hero'><h1>Granite Speech Workbench</h1><p>Speech recognition, translation and "
                "keyword-biased transcription with IBM Granite 4.0 1B Speech.</p></div>")
        status = gr.Markdown(wb.service.status_markdown(), elem_id="status")
        with gr.Accordion("Model settings", open=False) as model_panel:
            with gr.Row():
                model_box = gr.Textbox(label="Model (hub id, local folder, or 'tiny')",
                                       value=wb.service.model_id or DEFAULT_MODEL_ID, scale=4)
                load_btn = gr.Button("Load model", scale=1)
                tiny_btn = gr.Button("Use tiny smoke model", scale=1, variant="secondary")
        timer = gr.Timer(1.0, active=wb.service.state == "loading")  # polls the status only while loading
        timer.tick(lambda: (wb.service.status_markdown(), gr.Timer(active=wb.service.state == "loading")),
                   outputs=[status, timer], api_name=False, show_progress="hidden")

        with gr.Tabs():
            with gr.Tab("Transcribe", id="transcribe", elem_id="tab-transcribe"):
                with gr.Row():
                    with gr.Column(scale=5):
                        t_audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
                        with gr.Row():
                            t_lang = gr.Dropdown([("Detect automatically", "")] + LANG_CHOICES, value="",
                                                 label="Spoken language")
                            t_model = model_selector(wb, "model-transcribe")
                        t_btn = gr.Button("Transcribe", variant="primary")
                        if examples:
                            gr.Examples([[e["path"], e["language"] if e["language"] in ASR_LANGUAGES else ""]
                                         for e in examples if e["language"] in ASR_LANGUAGES],
                                        inputs=[t_audio, t_lang], label="Examples")
                    with gr.Column(scale=7):
                        t_text = gr.Textbox(label="Transcript", lines=6, buttons=["copy"], elem_id="transcript")
                        t_segs = gr.Dataframe(headers=["start", "end", "text"], label="Segments", wrap=True,
                                              column_widths=["12%", "12%", "76%"], interactive=False,
                                              elem_id="segments")
                        t_files = gr.File(label="Download", file_count="multiple", interactive=False,
                                          elem_id="downloads")

            with gr.Tab("Translate", id="translate", elem_id="tab-translate"):
                with gr.Row():
                    with gr.Column(scale=5):
                        s_audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
                        with gr.Row():
                            s_src = gr.Dropdown([(f"{LANGUAGES[c].name} ({c})", c) for c in sources()],
                                                value="en", label="Spoken language", elem_id="src-lang")
                            s_tgt = gr.Dropdown([(f"{LANGUAGES[c].name} ({c})", c) for c in targets_for("en")],
                                                value="fr", label="Translate to", elem_id="tgt-lang",
                                                # choices follow the source; the API may send any target and
                                                # an unsupported one gets the callback's clear refusal
                                                allow_custom_value=True)
                        s_model = model_selector(wb, "model-translate")
                        s_btn = gr.Button("Translate", variant="primary")
                        if examples:
                            gr.Examples([[e["path"], e["language"]] for e in examples if e["language"] in sources()],
                                        inputs=[s_audio, s_src], label="Examples")
                    with gr.Column(scale=7):
                        s_text = gr.Textbox(label="Translation", lines=6, buttons=["copy"], elem_id="translation")
                        s_segs = gr.Dataframe(headers=["start", "end", "text"], label="Segments", wrap=True,
                                              column_widths=["12%", "12%", "76%"], interactive=False)
                        s_files = gr.File(label="Download", file_count="multiple", interactive=False)

            with gr.Tab("Keyword biasing", id="keywords", elem_id="tab-keywords"):
                with gr.Row():
                    with gr.Column(scale=5):
                        k_audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
                        k_words = gr.Textbox(label="Keywords", elem_id="keywords-input", placeholder="metoprolol, atorvastatin, ...",
                                             info="Names and terms you expect, comma-separated (up to 50).")
                        k_model = model_selector(wb, "model-keywords")
                        k_btn = gr.Button("Compare without / with keywords", variant="primary")
                        kw_examples = [[e["path"], ", ".join(e["keywords"])] for e in examples if e["keywords"]]
                        if kw_examples:
                            gr.Examples(kw_examples, inputs=[k_audio, k_words], label="Examples")
                    with gr.Column(scale=7):
                        k_summary = gr.Markdown("Keywords found will be counted here.", elem_id="kw-summary")
                        with gr.Row():
                            with gr.Column():
                                gr.Markdown("**Without keywords**")
                                k_plain = gr.HTML(elem_id="kw-plain", value="<div class='transcript muted'>—</div>")
                            with gr.Column():
                                gr.Markdown("**With keywords**")
                                k_biased = gr.HTML(elem_id="kw-biased", value="<div class='transcript muted'>—</div>")

            build_adapters_tab(wb, [t_model, s_model, k_model])
            build_train_tab(wb)
            build_evaluate_tab(wb)

            with gr.Tab("About", id="about", elem_id="tab-about"):
                gr.Markdown(about_markdown(wb))

        def do_transcribe(audio, language, model=cb.BASE, progress=gr.Progress()):
            return cb.transcribe(wb, audio, language, model, progress)

        def do_translate(audio, source, target, model=cb.BASE, progress=gr.Progress()):
            return cb.translate(wb, audio, source, target, model, progress)

        def do_keywords(audio, keywords, model=cb.BASE, progress=gr.Progress()):
            return cb.keyword_compare(wb, audio, keywords, model, progress)

        def update_targets(source):
            choices = [(f"{LANGUAGES[c].name} ({c})", c) for c in targets_for(source)]
            return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

        t_btn.click(cb.gpu(do_transcribe), [t_audio, t_lang, t_model], [t_text, t_segs, t_files], api_name="transcribe")
        s_btn.click(cb.gpu(do_translate), [s_audio, s_src, s_tgt, s_model], [s_text, s_segs, s_files], api_name="translate")
        s_src.change(update_targets, s_src, s_tgt, api_name=False)
        k_btn.click(cb.gpu(do_keywords), [k_audio, k_words, k_model], [k_plain, k_biased, k_summary],
                    api_name="keyword_compare")
        poll = dict(fn=lambda: gr.Timer(active=True), outputs=timer, api_name=False)
        load_btn.click(lambda m: cb.load_model_action(wb, m), model_box, status, api_name="load_model").then(**poll)
        tiny_btn.click(lambda: ("tiny", cb.load_model_action(wb, "tiny")), None, [model_box, status],
                       api_name=False).then(**poll)
        gr.Button(visible=False).click(lambda: wb.service.status_markdown(), None, status, api_name="model_status")
        demo.load(lambda: (gr.Accordion(open=wb.service.state == "error"), wb.service.status_markdown(),
                           gr.Timer(active=wb.service.state == "loading")), None, [model_panel, status, timer],
                  api_name=False)
    return demo
