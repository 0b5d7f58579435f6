"""Fine-tuning runs started from the demo: the manifest checked and confined, the Train tab's settings checked
and turned into the trainer's arguments, the run launched and stopped (training_job.TrainingJob)."""

from __future__ import annotations

import math
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ..coerce import to_flag, to_number
from ..paths import folder_name
from ..training_job import TrainingJob, config_values
from .base import Mode
from .files import DataFiles, confined_rows
from .inference import Inference

MAX_TRAINING_STEPS = 100_000  # from the UI; the command line takes any number


class Training:
    """The demo's one fine-tuning job (`job`: its status, log, metrics and checkpoints)."""

    def __init__(self, inference: Inference, files: DataFiles, job: TrainingJob, mode: Mode):
        self.inference = inference
        self.files = files
        self.job = job
        self.mode = mode

    def start(
        self,
        choice: str | None,
        upload: str | None,
        config: str,
        steps: float | None,
        eval_choice: str | None = None,
        run_name: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Path:
        """Start a fine-tuning run on a manifest (refused when any row's audio leaves the data folders).
        `eval_choice`: a manifest scored during training (None: no evaluation); `settings`: overrides of the
        config (lr, lora_r, batch_size, train_projector, epochs — turned into max_steps here)."""
        self.mode.require_workbench("Training")
        if steps is not None and not 1 <= steps <= MAX_TRAINING_STEPS:
            raise ValueError(f"Steps must be between 1 and {MAX_TRAINING_STEPS:,} (got {steps:g}).")
        engine = self.inference.engine()
        if not engine.capabilities.trains_here:
            raise ValueError(
                f"This demo's model cannot be fine-tuned here: {engine.describe()}. Fine-tuning runs on a model "
                "loaded in this process (a server's model is trained where its weights are)."
            )
        from finetune.recipes import choose_for_run

        model = engine.model_id
        extra = training_settings(config, settings or {})
        choose_for_run(model, {**config_values(config), **extra})  # a config that does not fit the model: why
        name = folder_name(run_name, "Run name") if run_name and run_name.strip() else None
        with self.files.manifest(choice, upload, keep=True) as (path, roots, label, folder):
            try:
                rows = confined_rows(path, label, roots)
                epochs = extra.pop("epochs", None)
                if steps:
                    extra["max_steps"] = int(steps)
                elif epochs:
                    per_step = int(extra.get("batch_size") or config_values(config).get("batch_size") or 8) * int(
                        config_values(config).get("grad_accum") or 1
                    )
                    extra["max_steps"] = max(1, math.ceil(epochs * len(rows) / per_step))
                eval_path = None
                if eval_choice:
                    with self.files.manifest(eval_choice, None) as (eval_path, eval_roots, eval_label, _):
                        confined_rows(eval_path, eval_label, eval_roots)
                extra.update(evaluation_settings(config, eval_path, extra))
                return self.job.start(
                    str(path),
                    config,
                    model,
                    run_name=name or auto_run_name(label, config, self.job.checkpoints),
                    extra=extra,
                    owned=folder,
                )
            except BaseException:
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                raise

    def stop(self) -> str:
        self.mode.require_workbench("Stopping training")
        return self.job.stop()


TRAINING_SETTINGS = {  # name -> (type, lowest, highest): what the Train tab may override
    "lr": (float, 1e-7, 1.0),
    "lora_r": (int, 1, 256),
    "batch_size": (int, 1, 256),
    "epochs": (float, 0.01, 1000),
    "train_projector": (bool, None, None),
}


def training_settings(config: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Checked overrides for a run (read through coerce.py): values empty or equal to the config's are left out."""
    base = config_values(config)
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in TRAINING_SETTINGS:
            raise ValueError(f"Unknown training setting {key!r}.")
        kind, low, high = TRAINING_SETTINGS[key]
        value = to_flag(value, key) if kind is bool else to_number(value, key, low, high, integer=kind is int)
        if value is not None and base.get(key) != value:
            out[key] = value
    return out


EVAL_POINTS = 4  # evaluations of a run started from the demo whose config would evaluate only at its end


def evaluation_settings(config: str, eval_manifest: str | Path | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The evaluation part of a run started from the demo: the set chosen, or "" when none was (not the config's
    own set either), and along a short run `evaluation_steps`."""
    if not eval_manifest:
        return {"eval_manifest": ""}
    return {"eval_manifest": str(eval_manifest), **evaluation_steps(config, extra)}


def evaluation_steps(config: str, extra: dict[str, Any]) -> dict[str, int]:
    """{"eval_steps": N} when the config would evaluate once, at the end of this run (a curve of one point):
    then `EVAL_POINTS` times along the run; else nothing (the config's own schedule)."""
    values = config_values(config)
    total = extra.get("max_steps") or values.get("max_steps")
    every = int(values.get("eval_steps") or 0)
    if not isinstance(total, int) or total < EVAL_POINTS or (every and every < total):
        return {}
    return {"eval_steps": max(1, total // EVAL_POINTS)}


def auto_run_name(manifest_label: str, config: str, root: Path) -> str:
    """e.g. `phrases-cpu_smoke-1129-1502`: the training set, the config, the time (a number added when a run of
    that name exists in `root`)."""
    p = Path(manifest_label)
    data = p.parent.name if p.stem in ("train", "training", "data", "manifest") and p.parent.name else p.stem
    data = re.sub(r"[^A-Za-z0-9_-]+", "-", data).strip("-")[:24] or "data"
    name = f"{data}-{Path(config).stem}-{time.strftime('%m%d-%H%M')}"
    n = 1
    while (Path(root) / (name if n == 1 else f"{name}-{n}")).exists():
        n += 1
    return name if n == 1 else f"{name}-{n}"
