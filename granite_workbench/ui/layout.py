"""The demo's layout: header, model status and settings, then every tab of the registry (ui/tabs)."""

from __future__ import annotations

import json

import gradio as gr

from ..adapters import BASE
from ..loading import DEFAULT_MODEL_ID
from ..paths import EXAMPLES_DIR
from ..session import Workbench
from .common import model_choices, user_errors
from .tabs import UIContext, all_tabs


def examples() -> list[dict]:
    index = EXAMPLES_DIR / "examples.json"
    if not index.exists():
        return []
    return [
        {**e, "path": str(EXAMPLES_DIR / e["audio"])}
        for e in json.loads(index.read_text())
        if (EXAMPLES_DIR / e["audio"]).exists()
    ]


@user_errors(text=("model_id",))
def load_model_action(wb: Workbench, model_id: str) -> str:
    wb.inference.load_model(model_id)
    return wb.inference.status()


def build_demo(wb: Workbench) -> gr.Blocks:
    ctx = UIContext(wb, examples())
    # the example clips (these files, not their folder) are served as they are, wherever the demo is started from
    gr.set_static_paths([e["path"] for e in ctx.examples])
    # every half hour, the files Gradio keeps for answers and uploads are deleted once an hour old (bounded disk)
    with gr.Blocks(title="Granite Speech Workbench", delete_cache=(1800, 3600)) as demo:
        gr.HTML(
            "<div id='hero'><h1>Granite Speech Workbench</h1><p>Speech recognition, translation, keyword biasing "
            "and who spoke when, with IBM's Granite Speech models.</p></div>"
        )
        status = gr.Markdown(wb.inference.status(), elem_id="status")
        timer = gr.Timer(1.0, active=wb.inference.loading)  # polls the status only while loading
        model_panel = None if wb.showcase else model_settings(wb, status, timer)

        with gr.Tabs(overflow_behavior="wrap"):  # every tab visible on a phone, in rows (no "…" menu)
            tabs = all_tabs(wb.mode)
            for tab in tabs:
                with gr.Tab(tab.title, id=tab.id, elem_id=f"tab-{tab.id}") as component:
                    tab.build(ctx)
                if tab.needs:
                    ctx.follow_model(
                        lambda caps, task=tab.needs: [gr.Tab(visible=caps is None or caps.can(task))], [component]
                    )
        # Gradio hides a tab's content on `visible=False` but keeps its button: a style hides the buttons too
        offers = gr.HTML(tab_offer_style(tabs, None), elem_id="model-offers", padding=False)
        ctx.follow_model(lambda caps: [tab_offer_style(tabs, caps)], [offers])

        # the status polls while a model loads; the tick that sees it ready shows what the new model offers
        def model_state(*chosen):
            """The status line, the poll (on while a model loads) and what the loaded model offers."""
            return (wb.inference.status(), gr.Timer(active=wb.inference.loading), *ctx.model_views(*chosen))

        timer.tick(
            model_state,
            inputs=ctx.follower_inputs,
            outputs=[status, timer, *ctx.follower_outputs],
            api_name=False,
            show_progress="hidden",
        )

        wire_adapter_refresh(ctx)
        wire_manifest_refresh(ctx)

        def model_status_api():
            return wb.inference.status()

        gr.Button(visible=False).click(model_status_api, None, status, api_name="model_status")
        if model_panel is not None:
            demo.load(
                lambda *chosen: (gr.Accordion(open=wb.inference.failed), *model_state(*chosen)),
                ctx.follower_inputs,
                [model_panel, status, timer, *ctx.follower_outputs],
                api_name=False,
            )
        else:
            demo.load(
                model_state,
                ctx.follower_inputs,
                [status, timer, *ctx.follower_outputs],
                api_name=False,
            )
    return demo


def tab_offer_style(tabs, caps) -> str:
    """A style that hides the tab buttons of tasks the loaded model does not do (none while no model is ready)."""
    hidden = [f"#tab-{t.id}-button" for t in tabs if t.needs and caps is not None and not caps.can(t.needs)]
    return f"<style>{', '.join(hidden)} {{ display: none !important; }}</style>" if hidden else ""


def model_picker_choices() -> list[tuple[str, str]]:
    """The model table's members, then the offline miniatures (models.py, tiny.py)."""
    from ..models import MODELS
    from ..tiny import TINY_BUILDERS

    family = [(f"{m.short} — {m.summary}", m.id) for m in MODELS.values()]
    return family + [(f"{alias} — offline miniature, meaningless text", alias) for alias in TINY_BUILDERS]


def model_settings(wb: Workbench, status: gr.Markdown, timer: gr.Timer) -> gr.Accordion:
    """Load another model without a restart (workbench mode: it changes the demo for everyone)."""
    with gr.Accordion("Model settings", open=False) as panel:
        with gr.Row():
            model_box = gr.Dropdown(
                model_picker_choices(),
                label="Model",
                value=wb.inference.model_id or DEFAULT_MODEL_ID,
                allow_custom_value=True,
                info="A Granite Speech family member, another hub id, or a model folder on this machine",
                elem_id="model-id",
                scale=4,
            )
            load_btn = gr.Button("Load model", scale=1)
            tiny_btn = gr.Button("Use tiny smoke model", scale=1, variant="secondary")

    def load_model_api(model):
        return load_model_action(wb, model)

    poll = dict(fn=lambda: gr.Timer(active=True), outputs=timer, api_name=False)
    load_btn.click(load_model_api, model_box, status, api_name="load_model").then(**poll)
    tiny_btn.click(lambda: ("tiny", load_model_action(wb, "tiny")), None, [model_box, status], api_name=False).then(
        **poll
    )
    return panel


def wire_manifest_refresh(ctx: UIContext) -> None:
    """The manifest choosers list a dataset as soon as the Dataset tab saved it."""
    pickers = ctx.manifest_pickers
    if not pickers or not ctx.manifest_events:
        return

    def refresh():
        names = list(ctx.wb.files.manifest_choices())
        return [
            gr.update(  # the value stays the user's (a refresh that sent it back could undo a newer choice)
                choices=[c for c in picker.choices if c[1] not in names and c[1].startswith("(")]
                + [(n, n) for n in names]
            )
            for picker in pickers
        ]

    for event in ctx.manifest_events:
        event.then(refresh, None, pickers, api_name=False)


def adapters_seen(wb: Workbench) -> str:
    """What every adapter view is drawn from (the checkpoints folder and the loaded adapters), as one string."""
    return json.dumps([[e.row() for e in wb.adapters.entries()], wb.adapters.loaded()], default=str)


def wire_adapter_refresh(ctx: UIContext) -> None:
    """Every model selector and every registered adapter view follows the loaded adapters: every 2 s and
    right after a load or unload.

    A tick sends what the browser showed when it fired, which can be older than a choice the user made since:
    so an update is sent only when the adapters changed (per session: `shown`), and a selector's value only when
    the one it has is not offered any more — a refresh never takes back what the user just picked."""
    wb = ctx.wb
    shown = gr.State(None)
    inputs = [shown, *ctx.selectors] + [c for _, ins, _ in ctx.refreshers for c in ins]
    outputs = [shown, *ctx.selectors] + [c for _, _, outs in ctx.refreshers for c in outs]

    def refresh(seen, *values):
        now = adapters_seen(wb)
        if now == seen:
            return [gr.skip()] * len(outputs)
        choices = model_choices(wb)
        names = [v for _, v in choices]
        out = [now] + [
            gr.update(choices=choices) if v in names else gr.update(choices=choices, value=BASE)
            for v in values[: len(ctx.selectors)]
        ]
        pos = len(ctx.selectors)
        for fn, ins, _ in ctx.refreshers:
            res = fn(*values[pos : pos + len(ins)])
            out.extend(res if isinstance(res, tuple) else (res,))
            pos += len(ins)
        return out

    for event in ctx.adapter_events:
        event.then(lambda _seen, *values: refresh(None, *values), inputs, outputs, api_name=False)
    gr.Timer(2.0).tick(refresh, inputs, outputs, api_name=False, show_progress="hidden")
