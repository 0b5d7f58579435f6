"""The Adapters and Train tabs (built inside the demo's gr.Tabs)."""
from __future__ import annotations

import gradio as gr

from ..languages import ASR_LANGUAGES, LANGUAGES
from ..training_job import shipped_configs
from . import adapter_actions as aa
from . import training_actions as ta
from .callbacks import BASE, Workbench


def model_choices(wb: Workbench) -> list[tuple[str, str]]:
    return [("Base model", BASE)] + [(f"Adapter: {n}", n) for n in aa.loaded_names(wb)]


def model_selector(wb: Workbench, elem_id: str) -> gr.Dropdown:
    # any loaded adapter name is accepted from the API; the callback refuses names that are not loaded
    return gr.Dropdown(model_choices(wb), value=BASE, label="Model", elem_id=elem_id, allow_custom_value=True,
                       info="The base model or a loaded adapter (Adapters tab).")


def build_adapters_tab(wb: Workbench, selectors: list[gr.Dropdown]):
    with gr.Tab("Adapters", id="adapters", elem_id="tab-adapters"):
        gr.Markdown(f"Checkpoints under `{wb.registry.root}` appear here within seconds of being written, "
                    "also while a fine-tuning run goes on. Load one to use it on the live model — no restart, "
                    "the base model stays in memory.")
        available = gr.Dataframe(headers=aa.AVAILABLE_HEADERS, value=aa.available_rows(wb), label="Checkpoints",
                                 interactive=False, wrap=True, elem_id="available")
        with gr.Row():
            pick = gr.Dropdown([e.id for e in wb.registry.entries()], label="Checkpoint", scale=4,
                               allow_custom_value=True, elem_id="pick-checkpoint")
            load_btn = gr.Button("Load adapter", variant="primary", scale=1)
        with gr.Row():
            loaded = gr.Dataframe(headers=aa.LOADED_HEADERS, value=aa.loaded_rows(wb), label="Loaded adapters",
                                  interactive=False, scale=4, elem_id="loaded")
            with gr.Column(scale=1):
                unload_pick = gr.Dropdown(aa.loaded_names(wb), label="Loaded adapter", allow_custom_value=True,
                                          elem_id="unload-pick")
                unload_btn = gr.Button("Unload")
        message = gr.Markdown(elem_id="adapter-message")
        gr.Markdown("### Compare base and adapter")
        with gr.Row():
            with gr.Column(scale=5):
                c_audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
                c_adapter = gr.Dropdown(aa.loaded_names(wb), label="Adapter", allow_custom_value=True,
                                        elem_id="compare-adapter")
                c_lang = gr.Dropdown([("Detect automatically", "")] + [(f"{LANGUAGES[c].name} ({c})", c)
                                                                      for c in ASR_LANGUAGES],
                                     value="", label="Spoken language")
                c_btn = gr.Button("Compare", variant="primary")
            with gr.Column(scale=7):
                c_summary = gr.Markdown(elem_id="compare-summary")
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**Base model**")
                        c_base = gr.HTML("<div class='transcript muted'>—</div>", elem_id="compare-base")
                    with gr.Column():
                        gr.Markdown("**Adapter**")
                        c_adapted = gr.HTML("<div class='transcript muted'>—</div>", elem_id="compare-adapted")

        def refresh(current_pick, current_unload, current_compare, *current_selectors):
            names = aa.loaded_names(wb)
            ids = [e.id for e in wb.registry.entries()]
            sel = [gr.Dropdown(choices=model_choices(wb), value=v if v in [BASE, *names] else BASE)
                   for v in current_selectors]
            keep = lambda v, opts: v if v in opts else (opts[0] if opts else None)  # noqa: E731
            return (aa.available_rows(wb), gr.Dropdown(choices=ids, value=keep(current_pick, ids)),
                    aa.loaded_rows(wb), gr.Dropdown(choices=names, value=keep(current_unload, names)),
                    gr.Dropdown(choices=names, value=keep(current_compare, names)), *sel)

        outputs = [available, pick, loaded, unload_pick, c_adapter, *selectors]
        inputs = [pick, unload_pick, c_adapter, *selectors]
        load_btn.click(lambda i: aa.load_adapter(wb, i), pick, message, api_name="load_adapter").then(
            refresh, inputs, outputs, api_name=False)
        unload_btn.click(lambda n: aa.unload_adapter(wb, n), unload_pick, message, api_name="unload_adapter").then(
            refresh, inputs, outputs, api_name=False)

        def do_compare(audio, adapter, language, progress=gr.Progress()):
            return aa.compare(wb, audio, adapter, "asr", language, None, progress)

        c_btn.click(do_compare, [c_audio, c_adapter, c_lang], [c_base, c_adapted, c_summary], api_name="compare")
        gr.Button(visible=False).click(lambda: aa.available_rows(wb), None, available, api_name="list_adapters")
        gr.Button(visible=False).click(lambda: aa.loaded_rows(wb), None, loaded, api_name="loaded_adapters")
        timer = gr.Timer(2.0)
        timer.tick(refresh, inputs, outputs, api_name=False, show_progress="hidden")


def build_train_tab(wb: Workbench):
    with gr.Tab("Train", id="train", elem_id="tab-train"):
        gr.Markdown("Fine-tune the loaded model on a manifest with LoRA, in a separate process "
                    "(`accelerate launch -m finetune.train`). Checkpoints show up in the Adapters tab as they "
                    "are written. One run at a time.")
        with gr.Row():
            with gr.Column(scale=5):
                manifest, upload = ta.manifest_inputs("train-manifest")
                configs = shipped_configs()
                config = gr.Dropdown(configs, value="cpu_smoke.yaml" if "cpu_smoke.yaml" in configs else configs[0],
                                     label="Config", elem_id="train-config")
                steps = gr.Number(value=None, label="Steps (empty: the config's)", precision=0)
                with gr.Row():
                    start = gr.Button("Start fine-tuning", variant="primary")
                    stop = gr.Button("Stop", variant="stop")
            with gr.Column(scale=7):
                status = gr.Markdown(ta.training_view(wb)[0], elem_id="train-status")
                loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss", height=240, elem_id="loss-plot")
                eval_plot = gr.LinePlot(x="step", y="value", color="metric", title="Evaluation", height=240,
                                        elem_id="eval-plot")
                log = gr.Textbox(label="Log", lines=6, max_lines=6, elem_id="train-log")
        start.click(lambda m, u, c, s: ta.start_training(wb, m, u, c, s), [manifest, upload, config, steps], status,
                    api_name="start_training")
        stop.click(lambda: ta.stop_training(wb), None, status, api_name="stop_training")
        gr.Button(visible=False).click(lambda: ta.training_view(wb)[0], None, status, api_name="training_status")
        timer = gr.Timer(2.0)
        timer.tick(lambda: ta.training_view(wb), None, [status, loss_plot, eval_plot, log], api_name=False,
                   show_progress="hidden")
