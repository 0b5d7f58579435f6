"""/v1 under a burst: requests admitted and refused, how fast a refusal comes, the page's latency meanwhile,
and the server's peak memory.

    python bench/bench_burst.py [--quick]

A workbench server on the tiny model with `--concurrency 1 --queue-size 8` (1 request working, 8 waiting);
bursts of 60 and 100 concurrent /v1/audio/transcriptions requests, each a 30 s clip (0.96 MB), while a
client fetches `GET /` and `/gradio_api/info` every 50 ms. Before the admission of issue 30, 60-100 requests
gave 0-1 429s (they waited in the server's shared 40-thread pool) and `GET /` took up to 19 s.
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile as sf
from bench_public import Server, rss_while
from common import machine, save, table


def clip(seconds: float = 30.0) -> bytes:
    t = np.arange(int(seconds * 16_000)) / 16_000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def page_latencies(url: str, stop: threading.Event, out: list) -> None:
    import httpx

    while not stop.is_set():
        for path in ("/", "/gradio_api/info"):
            t = time.perf_counter()
            httpx.get(url + path, timeout=120)
            out.append(time.perf_counter() - t)
        time.sleep(0.05)


def burst(url: str, n: int, body: bytes) -> dict:
    import httpx

    def one(_):
        t = time.perf_counter()
        r = httpx.post(url + "/v1/audio/transcriptions", files={"file": ("a.wav", body)}, timeout=900)
        return r.status_code, time.perf_counter() - t

    stop, page = threading.Event(), []
    poller = threading.Thread(target=page_latencies, args=(url, stop, page))
    poller.start()
    try:
        with ThreadPoolExecutor(n) as pool:
            out = list(pool.map(one, range(n)))
    finally:
        stop.set()
        poller.join()
    refused = sorted(s for c, s in out if c == 429)
    q = statistics.quantiles(page, n=20) if len(page) >= 20 else [max(page)] * 19
    return {
        "requests": n,
        "answered": sum(c == 200 for c, _ in out),
        "429": len(refused),
        "other": sum(c not in (200, 429) for c, _ in out),
        "slowest 429 s": round(refused[-1], 2) if refused else None,
        "page p50 s": round(statistics.median(page), 3),
        "page p95 s": round(q[18], 3),
        "page max s": round(max(page), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one burst of 60")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    body = clip()
    rows = []
    with Server("--model", "tiny", "--concurrency", "1", "--queue-size", "8") as srv:
        for n in (60,) if args.quick else (60, 100):
            result = {}
            idle, peak = rss_while(srv.proc.pid, lambda n=n: result.update(burst(srv.url, n, body)))
            rows.append({**result, "RSS idle GiB": round(idle, 2), "RSS peak GiB": round(peak, 2)})
    columns = [
        "requests",
        "answered",
        "429",
        "other",
        "slowest 429 s",
        "page p50 s",
        "page p95 s",
        "page max s",
        "RSS idle GiB",
        "RSS peak GiB",
    ]
    print(table(rows, columns))
    print(save("burst", {"rows": rows}))


if __name__ == "__main__":
    main()
