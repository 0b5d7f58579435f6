"""The demo's tabs: one module per tab, each exposing `TAB`; `TABS` is the order they appear in.

A tab module holds its actions (plain functions of the Workbench and the UI's inputs, tested without a
browser) and `build(ctx)`, which lays the tab out and wires its events. To add a tab: write
`ui/tabs/<name>.py` with a `TAB = Tab(...)` and add it to `TABS`; the About tab lists it, and a model
selector made with `ctx.model_selector(...)` follows the loaded adapters without more wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ...session import Workbench


@dataclass
class UIContext:
    """What a tab builder gets: the shared state, the example clips, and hooks into the adapter refresh."""

    wb: Workbench
    examples: list[dict[str, Any]] = field(default_factory=list)
    selectors: list[gr.Dropdown] = field(default_factory=list)  # model selectors of the task tabs
    # (function of current values -> updates, inputs, outputs): run on every adapter refresh
    refreshers: list[tuple[Callable, list, list]] = field(default_factory=list)
    adapter_events: list[Any] = field(default_factory=list)  # events after which adapters changed
    manifest_pickers: list[gr.Dropdown] = field(default_factory=list)  # manifest choosers (Train, Evaluate)
    manifest_events: list[Any] = field(default_factory=list)  # events after which a manifest was saved
    # (function of the loaded model's Capabilities (None: no model yet) and the inputs' values -> updates, outputs,
    # inputs): run when the model changes, so that what a model cannot do is not offered (models.py)
    followers: list[tuple[Callable, list, list]] = field(default_factory=list)

    def model_selector(self, elem_id: str) -> gr.Dropdown:
        """Base model or a loaded adapter; kept in step with the Adapters tab."""
        from ..common import model_choices

        # any loaded adapter name is accepted from the API; the callback refuses names that are not loaded
        dd = gr.Dropdown(
            model_choices(self.wb),
            value="base",
            label="Model",
            elem_id=elem_id,
            allow_custom_value=True,
            info="The base model or a loaded adapter (Adapters tab).",
        )
        self.selectors.append(dd)
        return dd

    def on_adapters_changed(self, fn: Callable, inputs: list, outputs: list) -> None:
        self.refreshers.append((fn, inputs, outputs))

    def follow_model(self, fn: Callable, outputs: list, inputs: list | None = None) -> None:
        """`fn(capabilities, *values of inputs)` -> one update per output, whenever the loaded model changes (the
        inputs: what the person chose, kept where it suits the new model)."""
        self.followers.append((fn, outputs, list(inputs or [])))

    def model_views(self, *values) -> list:
        """Every follower's updates for the model loaded now (in `follower_outputs` order); `values`: those of
        `follower_inputs`."""
        caps, views, at = self.wb.inference.capabilities(), [], 0
        for fn, _, inputs in self.followers:
            views += fn(caps, *values[at : at + len(inputs)])
            at += len(inputs)
        return views

    @property
    def follower_outputs(self) -> list:
        return [c for _, outs, _ in self.followers for c in outs]

    @property
    def follower_inputs(self) -> list:
        return [c for _, _, ins in self.followers for c in ins]


@dataclass(frozen=True)
class Tab:
    id: str
    title: str
    summary: str  # one line for the About tab (may use {placeholders} filled by about.py)
    build: Callable[[UIContext], None]
    # showcase: what a visitor of a public demo may use; workbench: also what changes the demo for everyone
    modes: tuple[str, ...] = ("showcase", "workbench")
    needs: str | None = None  # a task (task table) the model must do for the tab to be offered


def all_tabs(mode: str | None = None) -> list[Tab]:
    """The tabs in display order; with `mode`, only those that mode has."""
    from . import about, adapters, compare, dataset, evaluate, keywords, live, train, transcribe, translate

    tabs = [
        transcribe.TAB,
        live.TAB,
        translate.TAB,
        keywords.TAB,
        compare.TAB,
        adapters.TAB,
        dataset.TAB,
        train.TAB,
        evaluate.TAB,
        about.TAB,
    ]
    return [t for t in tabs if mode is None or mode in t.modes]
