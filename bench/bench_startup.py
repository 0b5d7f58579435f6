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


def one_start(model: str, dtype: str = "auto") -> tuple[float, float, str]:
    from gradio_client import Client

    p = port()
    url = f"http://127.0.0.1:{p}"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--model", model, "--port", str(p), "--dtype", dtype], cwd=ROOT,
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
        while "Model ready" not in (status := client.predict(api_name="/model_status")):
            time.sleep(0.1)
        return ui, time.perf_counter() - started, status
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dtype", action="append", default=None,
                    help="dtypes to start with (repeatable; default: auto and bfloat16)")
    args = ap.parse_args()
    folder, _ = ensure_real_shape()
    rows, payload = [], {}
    print(f"machine: {machine()}")
    for dtype in args.dtype or ["auto", "bfloat16"]:
        runs = [one_start(str(folder), dtype) for _ in range(1 if args.quick else 3)]
        ui, ready = median([r[0] for r in runs]), median([r[1] for r in runs])
        chosen = runs[0][2].split(" (", 1)[1].split(" ")[0].rstrip(")") if " (" in runs[0][2] else "?"
        rows.append({"--dtype": dtype, "loaded as": chosen, "UI answers (HTTP 200)": f"{ui:.1f} s",
                     "model ready (real 4.0-1B shape, weights in the disk cache)": f"{ready:.1f} s"})
        payload[dtype] = {"runs": runs, "ui_s": ui, "ready_s": ready}
    print(table(rows, list(rows[0])))
    print("saved", save("startup" + ("-quick" if args.quick else ""), payload))


if __name__ == "__main__":
    main()
