"""Checkpoints: a PEFT adapter folder + workbench.json + training_state/, written atomically.

    <output_dir>/step-000050/
        adapter_config.json, adapter_model.safetensors   (peft; what the demo and PeftModel load)
        workbench.json                                    (base model, tasks, languages, step, metrics, config)
        training_state/                                   (optimizer, scheduler, RNG, data position: for resume)

Each is written to a hidden temporary folder and renamed when complete. The last `keep_last` and the
best one (by `best_metric`) are kept; `best.json` names the best.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from granite_workbench.adapters import METADATA_FILE, is_complete

STATE_DIR = "training_state"
_STEP = re.compile(r"^step-(\d+)$")


def step_dirs(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints in `output_dir`, oldest first."""
    out = []
    root = Path(output_dir)
    if root.is_dir():
        for p in root.iterdir():
            m = _STEP.match(p.name)
            if m and is_complete(p) and (p / STATE_DIR / "trainer.json").exists():
                out.append((int(m.group(1)), p))
    return [p for _, p in sorted(out)]


def resolve_resume(output_dir: str, resume_from: str) -> Path | None:
    if not resume_from:
        return None
    if resume_from == "latest":
        dirs = step_dirs(output_dir)
        return dirs[-1] if dirs else None
    path = Path(resume_from)
    if not (is_complete(path) and (path / STATE_DIR / "trainer.json").exists()):
        raise FileNotFoundError(f"{path} is not a complete checkpoint with training state.")
    return path


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_metadata(folder: Path, meta: dict[str, Any]) -> None:
    (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n")


def begin(output_dir: Path, step: int) -> Path:
    tmp = output_dir / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / STATE_DIR).mkdir(parents=True)
    return tmp


def commit(tmp: Path, output_dir: Path, step: int) -> Path:
    final = output_dir / f"step-{step:06d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def rotate(output_dir: Path, keep_last: int, best: Path | None) -> list[Path]:
    """Delete checkpoints beyond the last `keep_last`, except the best. Returns what was deleted.

    Each is first renamed to a hidden `.trash-*` folder (atomic), then deleted: a kill in between leaves a
    hidden leftover that `clean_leftovers` removes, never a `step-*` folder with half its files."""
    dirs = step_dirs(output_dir)
    keep = set(dirs[-keep_last:]) if keep_last > 0 else set()
    if best is not None:
        keep.add(Path(best))
    gone = [d for d in dirs if d not in keep]
    for d in gone:
        trash = d.with_name(f".trash-{d.name}")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(d, trash)
        shutil.rmtree(trash, ignore_errors=True)
    return gone


def clean_leftovers(output_dir: Path) -> list[str]:
    """Remove what an interrupted run left behind: half-written (`.tmp-*`) and half-deleted (`.trash-*`)
    checkpoints, and `step-*` folders that are not complete. Returns their names."""
    removed = []
    if Path(output_dir).is_dir():
        for p in Path(output_dir).iterdir():
            broken_step = _STEP.match(p.name) and not (is_complete(p) and (p / STATE_DIR / "trainer.json").exists())
            if p.is_dir() and (p.name.startswith((".tmp-", ".trash-")) or broken_step):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
    return sorted(removed)


def truncate_metrics(output_dir: Path, step: int) -> int:
    """Keep only the metrics.jsonl entries up to `step` (a resumed run logs the later steps again); returns how
    many were dropped. Written atomically."""
    path = Path(output_dir) / "metrics.jsonl"
    if not path.exists():
        return 0
    keep, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
                continue
        except ValueError:
            pass
        dropped += 1
    tmp = path.with_name(".metrics.jsonl.tmp")
    tmp.write_text("".join(l + "\n" for l in keep))
    os.replace(tmp, path)
    return dropped


def write_status(output_dir: Path, state: str, step: int, checkpoint: str | None) -> None:
    """status.json: how the run ended (read by the demo's Train tab)."""
    tmp = Path(output_dir) / ".status.json.tmp"
    tmp.write_text(
        json.dumps({"state": state, "step": step, "checkpoint": checkpoint, "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
        + "\n"
    )
    os.replace(tmp, Path(output_dir) / "status.json")


def write_best(output_dir: Path, path: Path, metric: str, value: float, step: int) -> None:
    tmp = output_dir / ".best.json.tmp"
    tmp.write_text(
        json.dumps(
            {
                "path": path.name,
                "step": step,
                "metric": metric,
                "value": value,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
            indent=2,
        )
        + "\n"
    )
    os.replace(tmp, output_dir / "best.json")
