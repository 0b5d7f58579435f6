"""Batch work over a manifest, split across processes by accelerate and resumable after a crash.

    accelerate launch --multi_gpu --num_processes 4 -m granite_workbench transcribe --manifest m.jsonl --out-dir out
    accelerate launch --multi_gpu --num_processes 4 -m granite_workbench evaluate m.jsonl --out-dir reports/x

(One process is the same code with a single shard; on CPUs `--multi_gpu` is still the flag that starts
several processes: each one loads the model on its own device.) Every process takes a contiguous share of the
rows not done yet and saves each finished batch as `OUT/parts/<first row>.jsonl`, written to a temporary name
and renamed, so a part is either whole or absent. `run.json` beside the parts holds what the results depend on
(the rows, the model, the options); a rerun with the same command skips every saved row, a rerun with a
different one is refused. When all processes are done the main one merges the parts in manifest order, writes
the outputs and removes `parts/`. For several machines, OUT must be on a file system they share.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from .writers import atomic_write_text

PARTS = "parts"


class ResumeError(RuntimeError):
    """The output folder holds saved results of a different run."""


def process_state():
    """accelerate's PartialState: this process's rank, the number of processes, its device. Started by
    `accelerate launch` (or torchrun) it joins the group (gloo on CPUs); started plainly it is a group of one."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(hours=24))


def fingerprint(what: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ShardedRun:
    """The rows of one run, this process's share of those still to do, and the saved parts.

    `what`: everything the results depend on (JSON-able); `total`: the number of rows. Entries saved with
    `save()` are dicts with an "index" (the row's position); `merged()` returns them all in order."""

    def __init__(self, out_dir: str | Path, what: dict[str, Any], total: int, state=None):
        self.state = state if state is not None else process_state()
        self.dir = Path(out_dir) / PARTS
        self.total = total
        self.key = fingerprint(what)
        run_file = self.dir / "run.json"
        if self.state.is_main_process:
            self.dir.mkdir(parents=True, exist_ok=True)
            if not run_file.exists():
                atomic_write_text(
                    run_file,
                    json.dumps({"fingerprint": self.key, "rows": total, "run": what}, indent=1, default=str) + "\n",
                )
        self.state.wait_for_everyone()
        saved = json.loads(run_file.read_text())
        if saved.get("fingerprint") != self.key:
            raise ResumeError(
                f"{self.dir.parent} holds saved results of a different run (other rows, model or "
                f"options: see {run_file}). Use another --out-dir, or delete {self.dir} to start "
                "over."
            )
        self.done = {e["index"] for e in self._read_parts()}
        self.state.wait_for_everyone()  # nobody writes a part before every process has read the saved ones
        todo = [i for i in range(total) if i not in self.done]
        with self.state.split_between_processes(todo) as mine:
            self.mine: list[int] = list(mine)

    @property
    def resumed(self) -> int:
        """Rows found already done when this run started."""
        return len(self.done)

    def _read_parts(self) -> list[dict]:
        entries = []
        for part in sorted(self.dir.glob("[0-9]*.jsonl")):
            entries += [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines() if line]
        return entries

    def save(self, entries: list[dict]) -> None:
        """Save finished rows as one part (atomically)."""
        if entries:
            first = min(e["index"] for e in entries)
            atomic_write_text(
                self.dir / f"{first:08d}.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
            )

    def merged(self) -> list[dict] | None:
        """After every process has finished: all entries in row order on the main process (None elsewhere).
        Raises when rows are missing (a process failed)."""
        self.state.wait_for_everyone()
        if not self.state.is_main_process:
            return None
        by_index = {e["index"]: e for e in self._read_parts()}
        missing = [i for i in range(self.total) if i not in by_index]
        if missing:
            raise ResumeError(
                f"{len(missing)} rows have no saved result (first: row {missing[0]}); run the same "
                "command again to finish them."
            )
        return [by_index[i] for i in range(self.total)]

    def cleanup(self) -> None:
        """Remove the parts once the merged outputs are written (main process)."""
        if self.state.is_main_process:
            shutil.rmtree(self.dir, ignore_errors=True)
