"""Adapters: the checkpoints folder and the adapters loaded on the live model (workbench mode)."""

from __future__ import annotations

import gradio as gr

from ...adapters import AdapterError, display_name
from ...registry import ROW_HEADERS
from ...session import Workbench
from ..common import user_errors
from . import Tab, UIContext

LOADED_HEADERS = ["name", "checkpoint", "step", "base model"]


def available_rows(wb: Workbench) -> list[list]:
    return [e.row() for e in wb.adapters.entries()]


def loaded_rows(wb: Workbench) -> list[list]:
    return [[a["name"], a.get("id", ""), a.get("step", ""), a.get("base_model", "")] for a in wb.adapters.loaded()]


def loaded_names(wb: Workbench) -> list[str]:
    return [a["name"] for a in wb.adapters.loaded()]


def loaded_choices(wb: Workbench) -> list[tuple[str, str]]:
    """The loaded adapters as a dropdown's (short name shown, name) choices."""
    return [(display_name(n), n) for n in loaded_names(wb)]


def keep_choice(value, options: list, **update) -> dict:
    """New choices (values, or (label, value) pairs) for a dropdown that follows the adapters; its value only where
    the one shown is not offered any more (layout.wire_adapter_refresh)."""
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    if value in values:
        return gr.update(choices=options, **update)
    return gr.update(choices=options, value=values[0] if values else None, **update)


def empty_hint(wb: Workbench) -> str:
    """What to do when there is nothing to load yet."""
    if wb.adapters.entries():
        return ""
    return (
        "**No checkpoints yet.** Fine-tune one in the **Train** tab (on your own clips: build a dataset in "
        "the **Dataset** tab first) — its checkpoints appear here as they are written. Or copy an adapter "
        f"folder (adapter_config.json, adapter_model.safetensors, workbench.json) into `{wb.adapters.root}`."
    )


@user_errors(text=("adapter_id",))
def load_adapter(wb: Workbench, adapter_id: str) -> str:
    if not adapter_id:
        raise AdapterError("Pick a checkpoint in the list first, then press Load.")
    name, entry = wb.adapters.load(adapter_id)
    return f"Loaded **{name}** (step {entry.meta.get('step', '?')}). Pick it in any task tab's *Model* selector."


EXPORT_CHOICES = [
    ("zip: the adapter as it is", "zip"),
    ("vLLM LoRA (+ serve.sh)", "vllm"),
    ("merged checkpoint", "merged"),
    ("Hub folder with a model card", "hub"),
]


@user_errors(text=("adapter_id", "kind"))
def export_adapter(wb: Workbench, adapter_id: str, kind: str) -> tuple[str, str]:
    path = wb.adapters.export(adapter_id, kind)
    return str(path), f"**{path.name}** is ready to download ({path.stat().st_size / 2**20:.1f} MB)."


@user_errors(text=("name",))
def unload_adapter(wb: Workbench, name: str) -> str:
    wb.adapters.unload(name)
    return f"Unloaded **{name}**; its memory is freed."


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown(
        f"Checkpoints under `{wb.adapters.root}` appear here within seconds of being written, "
        "also while a fine-tuning run goes on. Load one to use it on the live model — no restart, "
        "the base model stays in memory."
    )
    hint = gr.Markdown(empty_hint(wb), elem_id="adapters-hint")
    available = gr.Dataframe(
        headers=ROW_HEADERS,
        value=available_rows(wb),
        label="Checkpoints",
        interactive=False,
        wrap=True,
        column_widths=["22%", "22%", "10%", "10%", "7%", "17%", "12%"],  # a long base-model path wraps in its share
        elem_id="available",
    )
    with gr.Row():
        pick = gr.Dropdown(
            [e.id for e in wb.adapters.entries()],
            label="Checkpoint",
            scale=4,
            allow_custom_value=True,
            elem_id="pick-checkpoint",
        )
        load_btn = gr.Button("Load adapter", variant="primary", scale=1)
    # the loaded adapters' table takes the whole width (names and base models are long); the picker goes below it
    loaded = gr.Dataframe(
        headers=LOADED_HEADERS,
        value=loaded_rows(wb),
        label="Loaded adapters",
        interactive=False,
        wrap=True,
        column_widths=["30%", "30%", "8%", "32%"],
        elem_id="loaded",
    )
    with gr.Row():
        unload_pick = gr.Dropdown(
            loaded_choices(wb), label="Loaded adapter", scale=4, allow_custom_value=True, elem_id="unload-pick"
        )
        unload_btn = gr.Button("Unload", scale=1)
    message = gr.Markdown(elem_id="adapter-message")
    with gr.Accordion("Download or export for serving", open=False):
        gr.Markdown(
            "vLLM serves LoRA on the language model only: an adapter that also trained the projector "
            "(the default recipe) exports as a merged checkpoint instead. A merged export loads a second "
            "copy of the base model while it runs."
        )
        with gr.Row():
            export_pick = gr.Dropdown(
                [e.id for e in wb.adapters.entries()],
                label="Checkpoint",
                scale=3,
                allow_custom_value=True,
                elem_id="export-pick",
            )
            export_kind = gr.Radio(EXPORT_CHOICES, value="zip", label="As", scale=3, elem_id="export-kind")
            export_btn = gr.Button("Export", scale=1)
        export_file = gr.File(label="Download", interactive=False, elem_id="export-file")

    def refresh(current_pick, current_unload, current_export):
        ids = [e.id for e in wb.adapters.entries()]
        return (
            available_rows(wb),
            keep_choice(current_pick, ids),
            loaded_rows(wb),
            keep_choice(current_unload, loaded_choices(wb)),
            keep_choice(current_export, ids),
            empty_hint(wb),
        )

    ctx.on_adapters_changed(
        refresh, [pick, unload_pick, export_pick], [available, pick, loaded, unload_pick, export_pick, hint]
    )

    def export_adapter_api(checkpoint, kind="zip"):
        return export_adapter(wb, checkpoint, kind)

    export_btn.click(
        export_adapter_api,
        [export_pick, export_kind],
        [export_file, message],
        api_name="export_adapter",
        concurrency_id="model",
    )

    def load_adapter_api(checkpoint):
        return load_adapter(wb, checkpoint)

    def unload_adapter_api(adapter):
        return unload_adapter(wb, adapter)

    def list_adapters_api():
        return available_rows(wb)

    def loaded_adapters_api():
        return loaded_rows(wb)

    ctx.adapter_events.append(load_btn.click(load_adapter_api, pick, message, api_name="load_adapter"))
    ctx.adapter_events.append(unload_btn.click(unload_adapter_api, unload_pick, message, api_name="unload_adapter"))
    gr.Button(visible=False).click(list_adapters_api, None, available, api_name="list_adapters")
    gr.Button(visible=False).click(loaded_adapters_api, None, loaded, api_name="loaded_adapters")


TAB = Tab(
    "adapters",
    "Adapters",
    "Fine-tuned LoRA checkpoints from the checkpoints folder: load them on the live model (no restart) and "
    "pick them in any tab.",
    build,
    modes=("workbench",),
)
