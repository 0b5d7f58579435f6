"""Granite Speech 5.0 Turbo CTC on this CPU: the real shape with random weights, through the workbench's CTC engine.

    python bench/bench_family.py [--threads N]

Per dtype, in this process: model-ready time (built from the real config — the released model's shape, 16,384
units, 1024 wide, 16 blocks — and cast; a download is not part of it), RTFx on 10 s and 60 s of real speech
(data/asterisk prompts strung together; 60 s is chunked by the VAD as the transcriber does, chunks decoded in
one batch), and peak RSS. Random weights cost what the trained ones cost: CTC decoding is one forward pass and
an argmax per frame, whatever the text. The target on 2 CPU cores: RTFx >= 20. The 4.0-1B figures are in
bench_cpu.py's section of BENCHMARKS.md; 4.1-2b and 4.1-2b-plus configs could not be read here (not measured).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from common import RESULTS, long_speech, machine, median


def build(dtype: str):
    """The real-shape model in a LoadedModel, as load_model gives it (the tiny model's tokenizer: the unit
    count is what matters for cost)."""
    import torch
    from transformers import GraniteSpeech5FeatureExtractor, GraniteSpeech5ForCTC, GraniteSpeech5Processor

    from granite_workbench.loading import LoadedModel
    from granite_workbench.tiny_ctc import build_tokenizer, real_shape_config

    started = time.perf_counter()
    torch.manual_seed(0)
    model = GraniteSpeech5ForCTC(real_shape_config()).to(getattr(torch, dtype)).eval()
    processor = GraniteSpeech5Processor(feature_extractor=GraniteSpeech5FeatureExtractor(), tokenizer=build_tokenizer())
    ready = time.perf_counter() - started
    lm = LoadedModel(
        model,
        processor,
        "granite-speech-5.0-470m-turboctc (random weights)",
        "cpu",
        dtype,
        architecture="granite_speech5_ctc",
    )
    return lm, ready, sum(p.numel() for p in model.parameters())


def rtfx(tr, samples, reps: int = 3) -> float:
    from granite_workbench.audio import Audio
    from granite_workbench.prompts import TaskSpec

    clip = Audio(samples, "bench")
    tr.run([clip], TaskSpec("asr"))  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        res = tr.run([clip], TaskSpec("asr"))[0]
        times.append(time.perf_counter() - t)
        assert res.ok, res.error
    return len(samples) / 16000 / median(times)


def main() -> None:
    import torch

    from granite_workbench.cpu import configure_threads
    from granite_workbench.engine import engine_for
    from granite_workbench.transcribe import Transcriber

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--quick", action="store_true", help="bfloat16 only (what --dtype auto picks on bf16 CPUs)")
    args = parser.parse_args()
    dtypes = ["bfloat16"] if args.quick else args.dtypes.split(",")
    if len(dtypes) > 1:  # each dtype in a fresh process: peak RSS is per process
        return run_each(dtypes, args.threads)
    if args.threads:
        torch.set_num_threads(args.threads)
    else:
        configure_threads()
    rows = []
    for dtype in dtypes:
        lm, ready, params = build(dtype)
        tr = Transcriber(engine_for(lm), batch_size=8)
        row = {
            "model": "granite-speech-5.0-470m-turboctc",
            "dtype": dtype,
            "parameters_m": round(params / 1e6),
            "ready_s": round(ready, 1),
            "rtfx_10s": round(rtfx(tr, long_speech(10)), 1),
            "rtfx_60s": round(rtfx(tr, long_speech(60)), 1),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        del tr, lm


def run_each(dtypes: list[str], threads: int) -> None:
    import subprocess
    import sys

    import torch

    rows = []
    for dtype in dtypes:
        cmd = [sys.executable, __file__, "--dtypes", dtype] + (["--threads", str(threads)] if threads else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    out = {"machine": machine(), "threads": threads or torch.get_num_threads(), "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "family.json").write_text(json.dumps(out, indent=1))
    print("| model | dtype | parameters | model ready | RTFx 10 s | RTFx 60 s | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['dtype']} | {r['parameters_m']} M | {r['ready_s']} s | {r['rtfx_10s']} | "
            f"{r['rtfx_60s']} | {r['peak_rss_gib']} GiB |"
        )


if __name__ == "__main__":
    main()
