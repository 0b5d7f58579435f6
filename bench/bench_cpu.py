"""CPU inference, float32 vs bfloat16, on the real 4.0-1B shape: what a free Space or a laptop gets.

    python bench/bench_cpu.py [--quick]

Per dtype, in its own process (so peak memory is that dtype's): load time, prefill (encoder + projector +
the prompt's forward pass, i.e. the first token of a 3 s clip), milliseconds per generated token, the
language model's effective memory bandwidth (its weight bytes read once per token / time per token) against
the machine's measured memory-read bound (a torch reduction over 1 GiB), real-time factor for 10 s and 60 s of
real speech at a realistic 3 tokens per second of audio, and peak RSS. Then the token agreement of bf16 with
fp32 greedy decoding (random weights, fixed clips), and ms per token by intra-op thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from common import HERE, long_speech, machine, median, save, speech_clips, table

TOKENS_PER_AUDIO_SECOND = 3  # ~2.5 words/s of speech, ~1.3 tokens per word
PLAIN = "-linear"  # `--dtypes bfloat16-linear`: bf16 without the single-row path (granite_workbench/cpu.py)
MV = "-mv"  # `--dtypes bfloat16-mv`: the single-row path through torch.mv, even where Intel MKL is faster
DEFAULT_DTYPES = f"float32,bfloat16,bfloat16{MV},bfloat16{PLAIN}"


def memory_read_bound(dtype: str = "bfloat16", gib: float = 1.0, reps: int = 5) -> float:
    """GB/s of a torch sum over `gib` GiB (best of `reps`): what one pass over the weights can cost at best."""
    import torch

    x = torch.ones(
        int(gib * 2**30) // torch.tensor([], dtype=getattr(torch, dtype)).element_size(), dtype=getattr(torch, dtype)
    )
    x.sum()
    best = min(_timed(lambda: x.sum()) for _ in range(reps))
    return x.numel() * x.element_size() / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def lm_bytes_per_token(model) -> int:
    """Bytes of weights one decoding step reads: every language-model matrix and the lm_head, but of the token
    embedding table only one row (its 0.41 GB are not read per token, so counting them would flatter)."""
    lm = model.model.language_model
    size = lambda params: sum(p.numel() * p.element_size() for p in params)  # noqa: E731
    return size(lm.parameters()) - size(lm.embed_tokens.parameters()) + size(model.lm_head.parameters())


def weights_pass(model) -> float:
    """Seconds for one row through every matrix a decoding step reads, by the model's own Linear modules (the
    matrix-vector kernels alone, without the rest of a step: attention, norms, Python); best of 3."""
    import torch

    lm = model.model.language_model
    linears = [m for m in lm.modules() if isinstance(m, torch.nn.Linear)] + [model.lm_head]
    dtype = model.lm_head.weight.dtype
    rows = {k: torch.randn(1, 1, k, dtype=dtype) for k in {m.in_features for m in linears}}
    with torch.inference_mode():
        return min(_timed(lambda: [m(rows[m.in_features]) for m in linears]) for _ in range(3))


def one_dtype(dtype: str, quick: bool) -> dict:
    """Everything measured for one dtype (run in a fresh process)."""
    import numpy as np
    import torch
    from real_shape import ensure_real_shape

    from granite_workbench.audio import load_audio
    from granite_workbench.engine import DecodingOptions, Request, engine_for
    from granite_workbench.loading import load_model
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    folder, _ = ensure_real_shape()
    if dtype.endswith(MV):
        os.environ["GRANITE_WB_ROW_KERNEL"] = "mv"
    t = time.perf_counter()
    lm = load_model(str(folder), dtype=dtype.removesuffix(PLAIN).removesuffix(MV))
    load_s = time.perf_counter() - t
    if dtype.endswith(PLAIN):  # the comparison: every matrix through nn.Linear (oneDNN), as before cpu.py's path
        for m in lm.model.modules():
            if isinstance(m, torch.nn.Linear):
                m.__class__ = torch.nn.Linear
    engine = engine_for(lm)
    clip = load_audio(speech_clips(1)[0]).samples[: 3 * 16000]
    clip = np.pad(clip, (0, max(0, 3 * 16000 - len(clip))))
    req = [Request(clip, TaskSpec("asr"))]

    def gen(n: int) -> float:
        return _timed(lambda: engine.generate(req, DecodingOptions(max_new_tokens=n, min_new_tokens=n)))

    gen(2)  # warm up
    # The machine's memory bandwidth drifts by +-15% over minutes (a shared host), so each round measures the
    # bound right before the decode it is compared with; the ratio is the median of the rounds' ratios.
    lm_bytes = lm_bytes_per_token(lm.model)
    n = 17 if quick else 33
    rounds = []
    for _ in range(3 if quick else 5):
        bound = memory_read_bound("float32", reps=3)
        first = gen(1)
        per_token = (gen(n) - first) / (n - 1)
        rounds.append(
            {"bound_gb_s": bound, "prefill_s": first, "per_token_s": per_token, "matmul_s": weights_pass(lm.model)}
        )
    per_token = median([r["per_token_s"] for r in rounds])
    out = {
        "dtype": dtype,
        "load_s": load_s,
        "prefill_s": median([r["prefill_s"] for r in rounds]),
        "ms_per_token": 1000 * per_token,
        "lm_gb": lm_bytes / 1e9,
        "effective_gb_s": lm_bytes / per_token / 1e9,
        "bound_gb_s": median([r["bound_gb_s"] for r in rounds]),
        "of_bound": median([lm_bytes / r["per_token_s"] / r["bound_gb_s"] / 1e9 for r in rounds]),
        "matmuls_of_bound": median([lm_bytes / r["matmul_s"] / r["bound_gb_s"] / 1e9 for r in rounds]),
        "rounds": rounds,
        "threads": torch.get_num_threads(),
        "describe": lm.describe(),
        "row_kernel": lm.row_kernel,
    }
    for seconds in (10, 60):
        if quick and seconds == 60:
            continue
        audio = long_speech(seconds)
        chunk_tokens = TOKENS_PER_AUDIO_SECOND * min(seconds, 20)  # the 60 s clip is 3 VAD chunks of ~20 s
        tr = Transcriber(engine=engine, batch_size=8, max_new_tokens=chunk_tokens, min_new_tokens=chunk_tokens)
        took = _timed(lambda: tr.run([(16000, audio)], TaskSpec("asr")))
        out[f"rtfx_{seconds}s"] = seconds / took
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def agreement(n_clips: int, tokens: int) -> dict:
    """bf16 vs fp32 greedy tokens on the same random weights and clips: identical tokens, identical prefix."""
    import torch
    from real_shape import ensure_real_shape

    from granite_workbench.audio import load_audio
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model, unwrap_peft
    from granite_workbench.prompts import TaskSpec, model_prompt

    folder, _ = ensure_real_shape()
    clips = [load_audio(p).samples for p in speech_clips(n_clips)]
    outs = {}
    for dtype in ("float32", "bfloat16"):
        lm = load_model(str(folder), dtype=dtype)
        engine, tok = engine_for(lm), lm.tokenizer
        core = unwrap_peft(lm.model)
        seqs = []
        for samples in clips:
            ids = tok(model_prompt(tok, TaskSpec("asr"), len(samples)), return_tensors="pt", add_special_tokens=False)[
                "input_ids"
            ]
            with torch.inference_mode():
                embeds = core.model.get_merged_audio_embeddings(ids, engine.audio_embeddings(samples)[0], None)
                out = lm.model.generate(
                    inputs_embeds=embeds,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=tokens,
                    min_new_tokens=tokens,
                    do_sample=False,
                )
            seqs.append(out[0].tolist())
        outs[dtype] = seqs
        del lm, engine, core
    same = sum(a == b for x, y in zip(outs["float32"], outs["bfloat16"]) for a, b in zip(x, y))
    prefix = []
    for x, y in zip(outs["float32"], outs["bfloat16"]):
        k = next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), len(x))
        prefix.append(k)
    return {
        "clips": n_clips,
        "tokens": tokens,
        "identical_tokens": same / (n_clips * tokens),
        "identical_prefix_mean": sum(prefix) / len(prefix),
        "all_identical": sum(p == tokens for p in prefix),
    }


def threads_row(dtype: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    import os

    from real_shape import ensure_real_shape

    from granite_workbench.audio import load_audio
    from granite_workbench.engine import DecodingOptions, Request, engine_for
    from granite_workbench.loading import load_model
    from granite_workbench.prompts import TaskSpec

    os.environ["GRANITE_WB_THREADS"] = str(threads)
    lm = load_model(str(ensure_real_shape()[0]), dtype=dtype)
    engine = engine_for(lm)
    req = [Request(load_audio(speech_clips(1)[0]).samples[:48000], TaskSpec("asr"))]
    g = lambda n: _timed(lambda: engine.generate(req, DecodingOptions(max_new_tokens=n, min_new_tokens=n)))  # noqa
    g(2)
    return {"dtype": dtype, "threads": torch.get_num_threads(), "ms_per_token": 1000 * (g(17) - g(1)) / 16}


def child(kind: str, *args: str) -> dict:
    """Run one measurement in a fresh process and return its JSON."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import bench_cpu as b; "
        f"print('RESULT ' + json.dumps(b.{kind}({', '.join(repr(a) for a in args)})))"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True)
    line = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    if p.returncode or not line:
        raise RuntimeError(f"{kind}{args} failed:\n{p.stderr[-3000:]}")
    return json.loads(line[-1][7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 60 s clip, fewer agreement clips")
    ap.add_argument(
        "--dtypes",
        default=DEFAULT_DTYPES,
        help=f"comma-separated (default: float32; bfloat16 as loaded (one row through the faster row "
        f"kernel, granite_workbench/cpu.py); bfloat16{MV}: one row through torch.mv; "
        f"bfloat16{PLAIN}: every row count through nn.Linear)",
    )
    ap.add_argument("--no-agreement", action="store_true", help="skip the bf16 vs fp32 token agreement")
    args = ap.parse_args()
    from granite_workbench.cpu import native_bf16, usable_cores

    native, why = native_bf16()
    bound = {d: memory_read_bound(d) for d in ("bfloat16", "float32")}
    print(f"machine: {machine()}\nbf16: {why}; usable cores: {usable_cores()}")
    print("memory-read bound: " + ", ".join(f"{d} {v:.1f} GB/s" for d, v in bound.items()))
    rows = [child("one_dtype", d, args.quick) for d in args.dtypes.split(",")]
    print(
        table(
            [
                {
                    "dtype": r["dtype"],
                    "load": f"{r['load_s']:.1f} s",
                    "prefill (3 s clip)": f"{r['prefill_s']:.2f} s",
                    "ms/token": f"{r['ms_per_token']:.0f}",
                    "weights read per token": f"{r['lm_gb']:.2f} GB",
                    "effective GB/s": f"{r['effective_gb_s']:.1f}",
                    "bound": f"{r['bound_gb_s']:.1f} GB/s",
                    "of bound": f"{100 * r['of_bound']:.0f}%",
                    "matmuls alone": f"{100 * r['matmuls_of_bound']:.0f}%",
                    "RTFx 10 s": f"{r.get('rtfx_10s', 0):.2f}",
                    "RTFx 60 s": f"{r['rtfx_60s']:.2f}" if "rtfx_60s" in r else "—",
                    "peak RSS": f"{r['peak_rss_gib']:.1f} GiB",
                }
                for r in rows
            ],
            [
                "dtype",
                "load",
                "prefill (3 s clip)",
                "ms/token",
                "weights read per token",
                "effective GB/s",
                "bound",
                "of bound",
                "matmuls alone",
                "RTFx 10 s",
                "RTFx 60 s",
                "peak RSS",
            ],
        )
    )
    agree = None if args.no_agreement else child("agreement", 4 if args.quick else 8, 16 if args.quick else 32)
    if agree:
        print(
            f"bf16 vs fp32 greedy tokens (random weights, {agree['clips']} clips x {agree['tokens']}): "
            f"{100 * agree['identical_tokens']:.0f}% identical, {agree['all_identical']} clips identical "
            f"throughout, first difference after {agree['identical_prefix_mean']:.1f} tokens on average"
        )
    dtype = "bfloat16" if native else "float32"
    threads = [child("threads_row", dtype, n) for n in sorted({1, usable_cores()})]
    print(
        table(
            [{"dtype": t["dtype"], "threads": t["threads"], "ms/token": f"{t['ms_per_token']:.0f}"} for t in threads],
            ["dtype", "threads", "ms/token"],
        )
    )
    name = (
        "cpu"
        + ("-quick" if args.quick else "")
        + ("" if args.dtypes == DEFAULT_DTYPES else "-" + args.dtypes.replace(",", "+"))
    )
    print(
        "saved",
        save(
            name,
            {
                "native_bf16": native,
                "why": why,
                "memory_read_bound_gb_s": bound,
                "rows": rows,
                "agreement": agree,
                "threads": threads,
            },
        ),
    )


if __name__ == "__main__":
    main()
