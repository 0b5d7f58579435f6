"""Adapters tab and compare view: load / unload checkpoints on the live model, base vs adapter side by side."""
from __future__ import annotations

import difflib
import html

import gradio as gr

from ..adapters import AdapterError, runtime_for
from ..prompts import TaskSpec
from ..registry import ROW_HEADERS
from ..service import ModelNotReady
from .callbacks import BASE, Workbench


def _runtime(wb: Workbench):
    try:
        return runtime_for(wb.service.get())
    except ModelNotReady as exc:
        raise gr.Error(str(exc), title="Model not ready") from None


def available_rows(wb: Workbench) -> list[list]:
    return [e.row() for e in wb.registry.entries()]


def loaded_rows(wb: Workbench) -> list[list]:
    try:
        rt = runtime_for(wb.service.get())
    except ModelNotReady:
        return []
    return [[name, meta.get("id", ""), meta.get("step", ""), meta.get("base_model", "")]
            for name, meta in list(rt.loaded.items())]


def loaded_names(wb: Workbench) -> list[str]:
    return [r[0] for r in loaded_rows(wb)]


def load_adapter(wb: Workbench, adapter_id: str) -> str:
    try:
        entry = wb.registry.resolve(adapter_id)
        rt = _runtime(wb)
        name = rt.load(entry.path, entry.name)
        rt.loaded[name]["id"] = entry.id
    except AdapterError as exc:
        raise gr.Error(str(exc), title="Adapter refused") from None
    return f"Loaded **{name}** (step {entry.meta.get('step', '?')}). Pick it in any task tab's *Model* selector."


def unload_adapter(wb: Workbench, name: str) -> str:
    if not name or name == BASE:
        raise gr.Error("Pick a loaded adapter to unload.", title="Adapter")
    try:
        _runtime(wb).unload(name)
    except AdapterError as exc:
        raise gr.Error(str(exc), title="Adapter") from None
    wb.cache.clear()
    return f"Unloaded **{name}**; its memory is freed."


def diff_html(base: str, adapted: str) -> tuple[str, str, int]:
    """Word-level diff: removed words marked on the base side, new words on the adapter side."""
    a, b = base.split(), adapted.split()
    left, right, changed = [], [], 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        wa, wb_ = html.escape(" ".join(a[i1:i2])), html.escape(" ".join(b[j1:j2]))
        if op == "equal":
            left.append(wa)
            right.append(wb_)
            continue
        changed += max(i2 - i1, j2 - j1)
        if wa:
            left.append(f"<del class='diff'>{wa}</del>")
        if wb_:
            right.append(f"<ins class='diff'>{wb_}</ins>")

    def wrap(parts):
        body = " ".join(p for p in parts if p) or "<span class='muted'>(no speech)</span>"
        return f"<div class='transcript'>{body}</div>"

    return wrap(left), wrap(right), changed


def compare(wb: Workbench, audio, adapter: str, task: str = "asr", language: str | None = None,
            target: str | None = None, progress=None):
    if not adapter or adapter == BASE:
        raise gr.Error("Pick an adapter to compare with the base model.", title="Compare")
    spec = TaskSpec("ast", language=language or "en", target=target) if task == "ast" else \
        TaskSpec("asr", language=language or None)
    clip = wb.clip(audio)  # decoded once for both runs
    base = wb.run(clip, spec, progress, None)
    adapted = wb.run(clip, spec, progress, adapter)
    left, right, changed = diff_html(base.text, adapted.text)
    n = max(len(adapted.text.split()), 1)
    summary = (f"**{changed}** word(s) differ between the base model and **{adapter}** "
               f"({100 * changed / n:.0f}% of the adapter's output)." if changed else
               f"The base model and **{adapter}** give the same text.")
    return left, right, summary


AVAILABLE_HEADERS = ROW_HEADERS
LOADED_HEADERS = ["name", "checkpoint", "step", "base model"]
