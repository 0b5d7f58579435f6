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


def config_values(config: str) -> dict[str, Any]:
    """A shipped config's effective fields: the recipe's defaults (finetune/config.py) with the file's values
    over them (what the Train tab shows as placeholders)."""
    import dataclasses

    import yaml

    from finetune.config import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    path = CONFIG_DIR / Path(config).name
    return {**defaults, **(yaml.safe_load(path.read_text()) or {})} if path.is_file() else {}


def config_problem(config: str) -> str | None:
    """Why a shipped config cannot run on this machine (None: it can)."""
    import torch

    values = config_values(config)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if values.get("quantization", "none") != "none" and not gpus:
        return f"{config} needs a CUDA GPU (bitsandbytes {values['quantization']} base weights); this machine has none"
    if Path(config).name.startswith("multi_gpu") and gpus < 2:
        return f"{config} is for several GPUs (accelerate launch --multi_gpu); this machine has {gpus or 'none'}"
    return None


def train_command(
    manifest: str,
    config: str,
    output_dir: str,
    model: str,
    extra: dict[str, Any] | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The command line of a run started from the demo (also shown there as a preview)."""
    cmd = [
        python,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--dynamo_backend",
        "no",
        "-m",
        "finetune.train",
        "--config",
        config,
        "--train_manifest",
        manifest,
        "--output_dir",
        output_dir,
        "--model",
        model,
    ]
    for k, v in (extra or {}).items():
        cmd += [f"--{k}", str(v).lower() if isinstance(v, bool) else str(v)]
    return cmd


@dataclass
class TrainingJob:
    checkpoints: Path
    proc: subprocess.Popen | None = None
    run_dir: Path | None = None
    started: float = 0.0
    state: str = "idle"  # idle | running | finished | failed | stopped
    owned: Path | None = None  # a folder of the run's own (an unpacked upload), deleted when the run ends
    max_steps: int = 0  # the run's planned optimizer steps
    ended: float = 0.0  # when the run ended (0: not yet)
    stop_timeout: float = 120.0  # seconds a stopped run gets to write its last checkpoint
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(
        self,
        manifest: str,
        config: str,
        model: str,
        run_name: str | None = None,
        extra: dict[str, Any] | None = None,
        owned: Path | None = None,
    ) -> Path:
        with self._lock:
            self._refresh()
            if self.state == "running":
                raise JobError(f"A fine-tuning run is already going ({self.run_dir.name}); stop it or wait for it.")
            config_path = CONFIG_DIR / Path(config).name
            if not config_path.is_file():
                raise JobError(f"Unknown config {config!r}. Shipped: {', '.join(shipped_configs())}.")
            problem = config_problem(config)
            if problem:
                raise JobError(f"{problem}; pick a config that fits (cpu_smoke.yaml on a CPU).")
            if not manifest or not Path(manifest).is_file():
                raise JobError("Pick a manifest (JSONL or CSV) or upload one first.")
            name = run_name or f"ui-{time.strftime('%Y%m%d-%H%M%S')}"
            run_dir = Path(self.checkpoints).resolve() / name  # the subprocess runs in the project folder
            run_dir.mkdir(parents=True, exist_ok=True)
            if (run_dir / "metrics.jsonl").exists():
                raise JobError(f"A run named {name} exists already; choose another run name.")
            cmd = train_command(str(manifest), str(config_path), str(run_dir), model, extra)
            log = open(run_dir / "train.log", "w")
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(
                cmd, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            log.close()
            self.run_dir, self.started, self.state, self.owned = run_dir, time.time(), "running", owned
            self.max_steps = int((extra or {}).get("max_steps") or config_values(config).get("max_steps") or 0)
            self.ended = 0.0
            return run_dir

    def stop(self) -> str:
        """Ask the run to stop: it writes a checkpoint at its current step and exits; returns which one."""
        with self._lock:
            self._refresh()
            if self.state != "running" or self.proc is None:
                raise JobError("No training run is in progress.")
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
            self.state, self.ended = "stopped", time.time()
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
            self.ended = time.time()
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

    def failure(self) -> str:
        """The reason a failed run gives: the last error line of its log (else its last line)."""
        lines = self.log_tail(40).splitlines()
        errors = [l for l in lines if "Error" in l or l.lower().startswith("error")]
        return (errors or lines or ["no output"])[-1].strip()[:300]

    def status(self) -> dict[str, Any]:
        """state, run, step, max_steps, loss, elapsed_s (frozen once the run ends), eta_s (None: unknown), best."""
        with self._lock:
            self._refresh()
        m = self.metrics()
        steps = [e for e in m if "loss" in e]
        end = self.ended or time.time()
        eta = None
        if self.state == "running" and len(steps) >= 2 and self.max_steps:
            t0, t1 = (time.mktime(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%S")) for e in (steps[0], steps[-1]))
            done = steps[-1]["step"] - steps[0]["step"]
            if done > 0 and t1 > t0:
                eta = (t1 - t0) / done * (self.max_steps - steps[-1]["step"])
        best = {}
        if self.run_dir and (self.run_dir / "best.json").exists():
            try:
                best = json.loads((self.run_dir / "best.json").read_text())
            except ValueError:
                pass
        return {
            "state": self.state,
            "run": self.run_dir.name if self.run_dir else None,
            "step": steps[-1]["step"] if steps else 0,
            "max_steps": self.max_steps,
            "loss": steps[-1]["loss"] if steps else None,
            "elapsed_s": round(end - self.started, 1) if self.started else 0.0,
            "eta_s": eta,
            "best": best,
        }


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
