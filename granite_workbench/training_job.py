"""One fine-tuning run at a time, started from the demo as a separate process through `accelerate launch`."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import CONFIG_DIR, PROJECT_ROOT


class JobError(RuntimeError):
    pass


def shipped_configs() -> list[str]:
    return sorted(p.name for p in CONFIG_DIR.glob("*.yaml"))


@dataclass
class TrainingJob:
    checkpoints: Path
    proc: subprocess.Popen | None = None
    run_dir: Path | None = None
    started: float = 0.0
    state: str = "idle"  # idle | running | finished | failed | stopped
    owned: Path | None = None  # a folder of the run's own (an unpacked upload), deleted when the run ends
    stop_timeout: float = 120.0  # seconds a stopped run gets to write its last checkpoint
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, manifest: str, config: str, model: str, run_name: str | None = None,
              extra: dict[str, Any] | None = None, owned: Path | None = None) -> Path:
        with self._lock:
            self._refresh()
            if self.state == "running":
                raise JobError(f"A fine-tuning run is already going ({self.run_dir.name}); stop it or wait for it.")
            config_path = CONFIG_DIR / Path(config).name
            if not config_path.is_file():
                raise JobError(f"Unknown config {config!r}. Shipped: {', '.join(shipped_configs())}.")
            if not manifest or not Path(manifest).is_file():
                raise JobError("Pick a manifest (JSONL or CSV) or upload one first.")
            name = run_name or f"ui-{time.strftime('%Y%m%d-%H%M%S')}"
            run_dir = Path(self.checkpoints).resolve() / name  # the subprocess runs in the project folder
            run_dir.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
                   "--dynamo_backend", "no", "-m", "finetune.train", "--config", str(config_path),
                   "--train_manifest", str(manifest), "--output_dir", str(run_dir), "--model", model]
            for k, v in (extra or {}).items():
                cmd += [f"--{k}", str(v)]
            log = open(run_dir / "train.log", "w")
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
            log.close()
            self.run_dir, self.started, self.state, self.owned = run_dir, time.time(), "running", owned
            return run_dir

    def stop(self) -> str:
        """Ask the run to stop: it writes a checkpoint at its current step and exits; returns which one."""
        with self._lock:
            self._refresh()
            if self.state != "running" or self.proc is None:
                raise JobError("No fine-tuning run is going.")
            group = self.proc.pid
            os.killpg(group, signal.SIGTERM)  # the launcher and the training process(es)
            deadline = time.time() + self.stop_timeout
            while time.time() < deadline and _group_alive(group):
                self.proc.poll()
                time.sleep(0.2)
            killed = _group_alive(group)
            if killed:
                os.killpg(group, signal.SIGKILL)
            self.proc.wait()
            self.state = "stopped"
            self._release()
            end = self.final_status()
            if end.get("checkpoint") and not killed:
                return f"Stopped {self.run_dir.name} at step {end['step']}; saved {end['checkpoint']}."
            return f"Stopped {self.run_dir.name}; it did not finish a checkpoint in time (the last one is kept)."

    def final_status(self) -> dict[str, Any]:
        """What the training process wrote when it ended (state, step, checkpoint); empty while it runs."""
        try:
            return json.loads((self.run_dir / "status.json").read_text()) if self.run_dir else {}
        except (OSError, ValueError):
            return {}

    def _release(self) -> None:
        if self.owned is not None:
            shutil.rmtree(self.owned, ignore_errors=True)
            self.owned = None

    def shutdown(self) -> None:
        """Stop a running job (the demo is exiting): no training process outlives the server."""
        try:
            self.stop()
        except JobError:
            pass

    def _refresh(self) -> None:
        if self.proc is not None and self.state == "running" and self.proc.poll() is not None:
            self.state = "finished" if self.proc.returncode == 0 else "failed"
            self._release()

    def metrics(self) -> list[dict[str, Any]]:
        path = self.run_dir / "metrics.jsonl" if self.run_dir else None
        if not path or not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written
                pass
        return out

    def log_tail(self, lines: int = 12) -> str:
        path = self.run_dir / "train.log" if self.run_dir else None
        if not path or not path.exists():
            return ""
        text = path.read_text(errors="replace").replace("\r", "\n")
        return "\n".join([l for l in text.splitlines() if l.strip()][-lines:])

    def status(self) -> dict[str, Any]:
        with self._lock:
            self._refresh()
        m = self.metrics()
        steps = [e for e in m if "loss" in e]
        return {"state": self.state, "run": self.run_dir.name if self.run_dir else None,
                "step": steps[-1]["step"] if steps else 0, "loss": steps[-1]["loss"] if steps else None,
                "elapsed_s": round(time.time() - self.started, 1) if self.started else 0.0}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
