"""Demo cold start with the real model shape: seconds until the UI answers, and until the model is ready.

    python bench/bench_startup.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

import httpx

from common import ROOT, machine, median, save, table
from real_shape import ensure_real_shape


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(model: str) -> tuple[float, float]:
    from gradio_client import Client

    p = port()
    url = f"http://127.0.0.1:{p}"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--model", model, "--port", str(p)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    ui = time.perf_counter() - started
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        client = Client(url, verbose=False)
        while "Model ready" not in client.predict(api_name="/model_status"):
            time.sleep(0.1)
        return ui, time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    folder, _ = ensure_real_shape()
    runs = [one_start(str(folder)) for _ in range(1 if args.quick else 3)]
    ui, ready = median([r[0] for r in runs]), median([r[1] for r in runs])
    print(f"machine: {machine()}")
    print(table([{"measure": "UI answers (HTTP 200)", "seconds": f"{ui:.1f}"},
                 {"measure": "model ready (real 4.0-1B shape, bf16, weights in the disk cache)",
                  "seconds": f"{ready:.1f}"}], ["measure", "seconds"]))
    print("saved", save("startup" + ("-quick" if args.quick else ""), {"runs": runs}))


if __name__ == "__main__":
    main()
