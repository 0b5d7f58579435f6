"""Demo cold start with the real model shape: seconds until the UI answers, and until the model is ready.

python bench/bench_startup.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
from common import ROOT, machine, median, save, table
from real_shape import ensure_real_shape

CLIP = ROOT / "data/examples/en_welcome.flac"  # a real recording of 7.7 s
ANSWER_TOKENS = 24  # its transcript's length at ~3 tokens per second (random weights never stop by themselves)


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(model: str, dtype: str = "auto") -> tuple[float, float, str, float]:
    """(UI answers, model ready, the status line, first transcription answered): seconds since the process
    started. The first request is sent as soon as the UI answers, as a visitor of a restarted Space would: it
    waits in the queue for the model. "Model ready" is the moment the demo writes it to its log (polling the
    status endpoint instead would take the interpreter from the loading thread and slow what it measures)."""
    from gradio_client import Client, handle_file

    p = port()
    url = f"http://127.0.0.1:{p}"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--model",
            model,
            "--port",
            str(p),
            "--dtype",
            dtype,
            "--max-new-tokens",
            str(ANSWER_TOKENS),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    ready: dict = {}

    def read_log():
        for line in proc.stderr:
            if ("Model ready" in line or "Model error" in line) and "at" not in ready:
                ready.update(at=time.perf_counter() - started, status=line.strip())

    threading.Thread(target=read_log, daemon=True).start()
    try:
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    ui = time.perf_counter() - started
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        client = Client(url, verbose=False)
        job = client.submit(handle_file(str(CLIP)), "en", api_name="/transcribe")
        job.result(timeout=300)
        answered = time.perf_counter() - started
        if "Model ready" not in ready.get("status", ""):
            raise RuntimeError(ready.get("status", "the demo never said the model was ready"))
        return ui, ready["at"], ready["status"], answered
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--dtype", action="append", default=None, help="dtypes to start with (repeatable; default: auto and float32)"
    )
    args = ap.parse_args()
    folder, _ = ensure_real_shape()
    rows, payload = [], {}
    print(f"machine: {machine()}")
    for dtype in args.dtype or ["auto", "float32"]:
        runs = [one_start(str(folder), dtype) for _ in range(1 if args.quick else 3)]
        ui, ready, first = (median([r[i] for r in runs]) for i in (0, 1, 3))
        chosen = runs[0][2].split(" (", 1)[1].split(" ")[0].rstrip(")") if " (" in runs[0][2] else "?"
        rows.append(
            {
                "--dtype": dtype,
                "loaded as": chosen,
                "UI answers (HTTP 200)": f"{ui:.1f} s",
                "model ready (real 4.0-1B shape, weights in the disk cache)": f"{ready:.1f} s",
                "first transcription answered": f"{first:.1f} s",
            }
        )
        payload[dtype] = {"runs": runs, "ui_s": ui, "ready_s": ready, "first_answer_s": first}
    print(table(rows, list(rows[0])))
    print("saved", save("startup" + ("-quick" if args.quick else ""), payload))


if __name__ == "__main__":
    main()
