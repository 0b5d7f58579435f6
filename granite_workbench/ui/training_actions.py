"""Train tab: start / stop a fine-tuning run (separate process) and watch its curves."""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

import gradio as gr
import pandas as pd

from ..training_job import JobError
from .callbacks import Workbench

from ..paths import DATA_DIR, PROJECT_ROOT


def bundled_manifests() -> list[str]:
    return sorted(str(p.relative_to(PROJECT_ROOT)) for p in DATA_DIR.rglob("*.jsonl")
                  if "examples" not in p.parts)


def _manifest_from_upload(upload: str, dest: Path) -> str:
    """A JSONL/CSV file, or a .zip holding a manifest and its audio, unpacked under `dest`."""
    src = Path(upload)
    dest.mkdir(parents=True, exist_ok=True)
    if src.suffix.lower() == ".zip":
        with zipfile.ZipFile(src) as zf:
            for member in zf.namelist():  # no absolute paths or '..' in the archive
                target = (dest / member).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise gr.Error(f"Unsafe path in the archive: {member}", title="Upload")
            zf.extractall(dest)
        found = sorted(p for p in dest.rglob("*") if p.suffix.lower() in (".jsonl", ".csv"))
        if not found:
            raise gr.Error("The archive holds no .jsonl or .csv manifest.", title="Upload")
        return str(found[0])
    if src.suffix.lower() not in (".jsonl", ".csv"):
        raise gr.Error("Upload a .jsonl or .csv manifest, or a .zip with a manifest and its audio.", title="Upload")
    target = dest / src.name
    shutil.copy(src, target)
    return str(target)


def manifest_inputs(elem_id: str) -> tuple[gr.Dropdown, gr.File]:
    """A bundled-manifest picker and an upload field (the Train and Evaluate tabs)."""
    manifests = bundled_manifests()
    picker = gr.Dropdown(manifests, value=manifests[0] if manifests else None, label="Bundled manifest",
                         allow_custom_value=True, elem_id=elem_id)
    upload = gr.File(label="…or upload a manifest (.jsonl / .csv, or a .zip with its audio)",
                     file_types=[".jsonl", ".csv", ".zip"], type="filepath")
    return picker, upload


def resolve_manifest(wb: Workbench, manifest: str | None, upload: str | None) -> str:
    """The manifest path to use: the upload if there is one, else the bundled pick."""
    if upload:
        return _manifest_from_upload(upload, Path(tempfile.mkdtemp(prefix="manifest-", dir=wb.downloads)))
    if manifest:
        return str((PROJECT_ROOT / manifest).resolve())
    raise gr.Error("Pick a bundled manifest or upload one.", title="Manifest")


def start_training(wb: Workbench, manifest: str | None, upload: str | None, config: str, max_steps: float | None):
    try:
        model = wb.service.get().model_id
    except Exception as exc:
        raise gr.Error(f"Load a model first: {exc}", title="Train") from None
    manifest = resolve_manifest(wb, manifest, upload)
    extra = {"max_steps": int(max_steps)} if max_steps else {}
    try:
        run = wb.job.start(manifest or "", config, model, extra=extra)
    except JobError as exc:
        raise gr.Error(str(exc), title="Train") from None
    return f"Started **{run.name}** with {config} on `{Path(manifest).name}`; checkpoints go to `{run}`."


def stop_training(wb: Workbench) -> str:
    try:
        return wb.job.stop()
    except JobError as exc:
        raise gr.Error(str(exc), title="Train") from None


def training_view(wb: Workbench):
    """(status markdown, loss table, eval metric table, log tail) for the live plots."""
    st = wb.job.status()
    entries = wb.job.metrics()
    # typed even when empty, so the plots get numeric axes from the first refresh on
    loss = pd.DataFrame([{"step": e["step"], "loss": e["loss"]} for e in entries if "loss" in e],
                        columns=["step", "loss"]).astype({"step": "int64", "loss": "float64"})
    evals = pd.DataFrame([{"step": e["step"], "metric": k, "value": e[k]} for e in entries
                          for k in ("eval_loss", "wer", "cer", "bleu", "keyword_recall") if k in e],
                         columns=["step", "metric", "value"]).astype({"step": "int64", "metric": "str",
                                                                     "value": "float64"})
    if st["state"] == "idle":
        status = "No run yet. Pick a manifest and a config, then **Start fine-tuning**."
    else:
        loss_txt = f", loss {st['loss']:.4f}" if st["loss"] is not None else ""
        status = f"**{st['run']}** — {st['state']}, step {st['step']}{loss_txt}, {st['elapsed_s']:.0f} s"
    return status, loss, evals, wb.job.log_tail()
