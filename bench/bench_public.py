"""The public demo under load and with long audio: requests held, latency, peak memory.

    python -m finetune.train --config finetune/configs/cpu_smoke.yaml   # the two adapters it serves
    python bench/bench_public.py [--quick]

1. Load: a showcase server (tiny model, `--concurrency 2`, two preloaded adapters), 16 clients at once mixing
   transcribe / translate / keyword / compare on short and 2-minute clips: requests answered and refused,
   wrong answers (each compared with the answer the same request gets alone), p50 / p95 latency.
   Then the OpenAI route (/v1/audio/transcriptions, adapter "final") under 16 concurrent clients: answered,
   refused as busy (HTTP 429: more than --concurrency working and --queue-size waiting), wrong answers, requests
   and audio seconds per second.
2. Memory: the server's RSS while it transcribes a 30-minute 48 kHz stereo upload, and the CLI's peak RSS
   for a 3-hour 8 kHz file, each above the idle process with its model loaded (target: < 1.5 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
from common import ROOT, machine, save, table

PHRASES = ROOT / "data" / "phrases"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python app.py ...` on a free port; `.url`, `.proc`; stopped on exit."""

    def __init__(self, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args

    def __enter__(self) -> Server:
        import httpx
        from gradio_client import Client

        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), *self.args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        client = Client(self.url, verbose=False)
        while "Model ready" not in client.predict(api_name="/model_status"):
            time.sleep(0.3)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def phrase_clip(i: int) -> str:
    return str(PHRASES / f"phrase{i:02d}.flac")


def two_minutes(folder: Path) -> Path:
    """About two minutes of the spoken phrases with pauses (VAD splits it into several chunks)."""
    rows = [json.loads(l) for l in (PHRASES / "train.jsonl").read_text().splitlines()]
    parts, total = [], 0
    while total < 120 * 16000:
        for r in rows:
            x, _ = sf.read(PHRASES / r["audio"], dtype="float32")
            parts += [x, np.zeros(8000, dtype=np.float32)]
            total += len(x) + 8000
    path = folder / "two_minutes.flac"
    sf.write(path, np.concatenate(parts)[: 120 * 16000], 16000)
    return path


def mixed_jobs(clips: list[str], n: int, adapters: tuple[str, str], seed: int = 0) -> list[tuple[str, tuple]]:
    """`n` requests: (endpoint, arguments), mixing the four task endpoints, the clips, base and two adapters."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(n):
        clip, model = rng.choice(clips), rng.choice(["base", *adapters])
        kind = rng.choice(["transcribe", "translate", "keyword_compare", "compare"])
        jobs.append(
            (
                kind,
                {
                    "transcribe": (clip, "en", model),
                    "translate": (clip, "en", "fr", model),
                    "keyword_compare": (clip, "kitchen, lights", model),
                    "compare": (clip, model if model != "base" else adapters[0], "en"),
                }[kind],
            )
        )
    return jobs


def comparable(kind: str, result):
    """The model's text in a result (the download files differ per request)."""
    if kind in ("transcribe", "translate"):
        segments = result[1]["data"] if isinstance(result[1], dict) else result[1]
        return result[0], [tuple(r) for r in segments]
    return tuple(result)


def run_load(url: str, jobs: list[tuple[str, tuple]], clients: int = 16) -> dict:
    """Each job alone first (the expected answers), then all of them from `clients` clients at once."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    expected = {
        job: comparable(job[0], client.predict(handle_file(job[1][0]), *job[1][1:], api_name=f"/{job[0]}"))
        for job in set(jobs)
    }
    answers, errors, lock = [], [], threading.Lock()

    def worker(k: int) -> None:
        c = Client(url, verbose=False)
        for kind, args in jobs[k::clients]:
            t = time.perf_counter()
            try:
                got = comparable(kind, c.predict(handle_file(args[0]), *args[1:], api_name=f"/{kind}"))
                with lock:
                    answers.append(((kind, args), got, time.perf_counter() - t))
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                with lock:
                    errors.append(((kind, args), str(exc)))

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - started
    lat = sorted(t for *_, t in answers)
    return {
        "requests": len(jobs),
        "clients": clients,
        "answered": len(answers),
        "errors": errors,
        "refused_queue_full": sum("queue is full" in e.lower() for _, e in errors),
        "wrong": [job for job, got, _ in answers if got != expected[job]],
        "wall_s": wall,
        "p50_s": lat[len(lat) // 2] if lat else None,
        "p95_s": lat[max(0, int(len(lat) * 0.95) - 1)] if lat else None,
    }


def run_openai_load(url: str, clips: list[str], n: int, clients: int = 16, model: str = "final") -> dict:
    """`n` OpenAI transcription requests from `clients` threads: answered, refused (429 busy), wrong (compared
    with the same request alone), throughput in requests and audio seconds per second."""
    import httpx

    def once(path: str) -> tuple[int, str]:
        with open(path, "rb") as f:
            r = httpx.post(
                url + "/v1/audio/transcriptions",
                files={"file": (Path(path).name, f.read())},
                data={"model": model, "language": "en"},
                timeout=600,
            )
        return r.status_code, (r.json().get("text") if r.status_code == 200 else r.json()["error"]["message"])

    alone = {c: once(c)[1] for c in clips}
    seconds = {c: sf.info(c).duration for c in clips}
    jobs = [clips[i % len(clips)] for i in range(n)]
    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        out = list(pool.map(lambda c: (c, *once(c)), jobs))
    wall = time.time() - started
    ok = [(c, t) for c, code, t in out if code == 200]
    return {
        "requests": n,
        "clients": clients,
        "answered": len(ok),
        "busy_429": sum(code == 429 for _, code, _ in out),
        "wrong": sum(t != alone[c] for c, t in ok),
        "wall_s": wall,
        "requests_per_s": len(ok) / wall,
        "audio_s_per_s": sum(seconds[c] for c, _ in ok) / wall,
    }


def rss_while(proc_pid: int, fn) -> tuple[float, float]:
    """(RSS before `fn`, peak RSS while it runs) of process `proc_pid`, in GiB, sampled every 50 ms."""
    import psutil

    p = psutil.Process(proc_pid)
    before = p.memory_info().rss
    peak, done = before, threading.Event()

    def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, p.memory_info().rss)
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    try:
        fn()
    finally:
        done.set()
        t.join()
    return before / 2**30, peak / 2**30


def server_upload_memory(folder: Path, minutes: float) -> dict:
    from gradio_client import Client, handle_file

    path = folder / "upload.flac"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", 48000, 2, subtype="PCM_16") as f:
        for _ in range(int(minutes)):  # a minute at a time: the file itself is written with bounded memory
            f.write((rng.standard_normal((48000 * 60, 2)) * 0.05).astype(np.float32))
    with Server("--model", "tiny", "--max-audio-minutes", str(minutes + 1), "--max-upload-size", "2gb") as srv:
        client = Client(srv.url, verbose=False)
        idle, peak = rss_while(
            srv.proc.pid, lambda: client.predict(handle_file(str(path)), "en", "base", api_name="/transcribe")
        )
    return {
        "what": f"server, {minutes:.0f}-minute 48 kHz stereo upload",
        "idle_gib": idle,
        "peak_gib": peak,
        "above_idle_gib": peak - idle,
        "file_mb": path.stat().st_size / 1e6,
    }


def cli_memory(folder: Path, hours: float) -> dict:
    path = folder / "long.flac"
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", 8000, 1, subtype="PCM_16") as f:
        for _ in range(int(hours * 60)):
            f.write((rng.standard_normal(8000 * 60) * 0.05).astype(np.float32))
    code = (
        "import resource, sys; from granite_workbench.loading import load_model; "
        "from granite_workbench.transcribe import Transcriber; lm = load_model('tiny'); "
        "idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        f"r = Transcriber(lm, max_new_tokens=4, max_audio_seconds={hours * 3600 + 60}).run([{str(path)!r}], "
        "__import__('granite_workbench').TaskSpec('asr'))[0]; assert r.ok, r.error; "
        "print('RESULT', idle / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, r.duration)"
    )
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    line = [l for l in p.stdout.splitlines() if l.startswith("RESULT")]
    if not line:
        raise RuntimeError(p.stderr[-2000:])
    idle, peak, duration = map(float, line[0].split()[1:])
    return {
        "what": f"CLI core, {hours:.0f}-hour 8 kHz file (tiny model)",
        "idle_gib": idle,
        "peak_gib": peak,
        "above_idle_gib": peak - idle,
        "seconds": time.perf_counter() - t,
        "audio_h": duration / 3600,
    }


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests, shorter audio")
    args = ap.parse_args()
    runs = sorted((ROOT / "checkpoints" / "cpu-smoke").glob("step-*"))
    if len(runs) < 2:
        raise SystemExit("Run `python -m finetune.train --config finetune/configs/cpu_smoke.yaml` first.")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = [phrase_clip(0), phrase_clip(5), str(two_minutes(folder))]
        jobs = mixed_jobs(clips, 16 if args.quick else 48, ("final", "early"))
        with Server(
            "--model",
            "tiny",
            "--mode",
            "showcase",
            "--concurrency",
            "2",
            "--adapters",
            f"final={runs[-1]},early={runs[-2]}",
        ) as srv:
            load = run_load(srv.url, jobs)
            api = run_openai_load(srv.url, clips[:2], 32 if args.quick else 96)
        print(
            table(
                [
                    {
                        "requests": load["requests"],
                        "clients": load["clients"],
                        "answered": load["answered"],
                        "refused (queue full)": load["refused_queue_full"],
                        "other errors": len(load["errors"]) - load["refused_queue_full"],
                        "wrong answers": len(load["wrong"]),
                        "p50": f"{load['p50_s']:.1f} s",
                        "p95": f"{load['p95_s']:.1f} s",
                        "wall": f"{load['wall_s']:.0f} s",
                    }
                ],
                [
                    "requests",
                    "clients",
                    "answered",
                    "refused (queue full)",
                    "other errors",
                    "wrong answers",
                    "p50",
                    "p95",
                    "wall",
                ],
            )
        )
        print(
            table(
                [
                    {
                        "OpenAI /v1/audio/transcriptions": f"{api['requests']} requests, {api['clients']} clients",
                        "answered": api["answered"],
                        "busy (429)": api["busy_429"],
                        "wrong answers": api["wrong"],
                        "requests/s": f"{api['requests_per_s']:.1f}",
                        "audio s/s": f"{api['audio_s_per_s']:.1f}",
                        "wall": f"{api['wall_s']:.0f} s",
                    }
                ],
                [
                    "OpenAI /v1/audio/transcriptions",
                    "answered",
                    "busy (429)",
                    "wrong answers",
                    "requests/s",
                    "audio s/s",
                    "wall",
                ],
            )
        )
        memory = [server_upload_memory(folder, 5 if args.quick else 30), cli_memory(folder, 0.5 if args.quick else 3)]
    print(
        table(
            [
                {
                    "case": m["what"],
                    "idle": f"{m['idle_gib']:.2f} GiB",
                    "peak": f"{m['peak_gib']:.2f} GiB",
                    "above idle": f"{m['above_idle_gib']:.2f} GiB",
                }
                for m in memory
            ],
            ["case", "idle", "peak", "above idle"],
        )
    )
    load.pop("errors")
    print("saved", save("public" + ("-quick" if args.quick else ""), {"load": load, "openai": api, "memory": memory}))


if __name__ == "__main__":
    main()
