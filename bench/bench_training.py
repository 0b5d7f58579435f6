"""Training step time and peak memory on the real model shape: LoRA (bf16), QLoRA 4-bit (CUDA only) and full
fine-tuning, with and without gradient checkpointing. Batch 2, 6 s clips, 24 answer tokens.

    python bench/bench_training.py [--quick]

Each configuration runs in its own process, so its peak memory (max RSS on CPU, max allocated on CUDA) is
its own.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from common import HERE, machine, save, table
from real_shape import ensure_real_shape

BATCH, SECONDS, TOKENS = 2, 6.0, 24


def one(mode: str, checkpointing: bool, steps: int) -> dict:
    from finetune.config import TrainConfig
    from finetune.examples import Collator, ExampleBuilder
    from finetune.model import enable_checkpointing, setup_model, token_loss_sum
    from granite_workbench.manifest import Row

    folder, _ = ensure_real_shape()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = TrainConfig(
        model=str(folder),
        train_manifest="unused",
        dtype="bfloat16",
        quantization="4bit" if mode == "qlora" else "none",
        gradient_checkpointing=checkpointing,
    )
    if mode == "full":
        from granite_workbench.loading import load_model

        lm = load_model(str(folder), device=device, dtype="bfloat16")
        model = lm.model
        if checkpointing:
            enable_checkpointing(model)
        model.train()
        core = model
    else:
        lm, model = setup_model(cfg, device)
        model.train()
        core = model.get_base_model()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    rng = np.random.default_rng(0)
    text = " ".join(["word"] * (TOKENS - 1))
    builder = ExampleBuilder(lm.processor)
    examples = [
        builder.build(
            Row(audio="", text=text),
            (0.1 * rng.standard_normal(int(SECONDS * 16000))).astype(np.float32),
            random.Random(i),
        )
        for i in range(BATCH)
    ]
    batch = Collator(lm.processor)(examples)
    batch = {k: [t.to(device) for t in v] if isinstance(v, list) else v.to(device) for k, v in batch.items()}
    params = [p for p in model.parameters() if p.requires_grad]
    # full fine-tuning: the optimizer step is left out on this CPU machine (AdamW's two fp32 states for
    # 2.3 B parameters are 18.5 GB on top of weights and gradients); its memory is added by arithmetic
    opt = torch.optim.AdamW(params, lr=1e-5) if mode != "full" or device == "cuda" else None
    times = []
    for i in range(steps + 1):  # the first step warms up
        t = time.perf_counter()
        loss, _ = token_loss_sum(model, core, batch)
        loss.backward()
        if opt:
            opt.step()
            opt.zero_grad()
        else:
            for p in params:
                p.grad = None
        if device == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t)
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "mode": mode,
        "checkpointing": checkpointing,
        "device": device,
        "step_s": float(np.median(times)),
        "peak_gib": peak,
        "trainable": trainable,
        "optimizer_step": opt is not None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--one", nargs=2, metavar=("MODE", "CHECKPOINTING"), help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1] == "1", args.steps)))
        return
    ensure_real_shape()
    configs = (
        [("lora", False), ("lora", True)]
        if args.quick
        else [("lora", False), ("lora", True), ("qlora", True), ("full", False), ("full", True)]
    )
    results = []
    for mode, ckpt in configs:
        if mode == "qlora" and not torch.cuda.is_available():
            results.append({"mode": mode, "checkpointing": ckpt, "note": "not measured: bitsandbytes 4-bit needs CUDA"})
            continue
        p = subprocess.run(
            [
                sys.executable,
                str(HERE / "bench_training.py"),
                "--one",
                mode,
                str(int(ckpt)),
                "--steps",
                "1" if args.quick else "2",
            ],
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            results.append(
                {"mode": mode, "checkpointing": ckpt, "note": f"failed: {p.stderr.strip().splitlines()[-1]}"}
            )
            continue
        results.append(json.loads(p.stdout.strip().splitlines()[-1]))
    rows = [
        {
            "config": f"{r['mode']}{' + grad. checkpointing' if r['checkpointing'] else ''}",
            "step": f"{r['step_s']:.1f} s" if "step_s" in r else "—",
            "peak memory": f"{r['peak_gib']:.1f} GiB ({'RSS' if r.get('device') == 'cpu' else 'GPU'})"
            if "peak_gib" in r
            else "—",
            "trainable params": f"{r['trainable'] / 1e6:.1f} M" if "trainable" in r else "—",
            "note": r.get("note", "" if r.get("optimizer_step", True) else "no optimizer step (see below)"),
        }
        for r in results
    ]
    print(f"machine: {machine()}; batch {BATCH} x {SECONDS:.0f} s clips, {TOKENS} answer tokens, bf16 weights")
    print(table(rows, ["config", "step", "peak memory", "trainable params", "note"]))
    print(
        "saved",
        save(
            "training" + ("-quick" if args.quick else ""),
            {"results": results, "batch": BATCH, "clip_s": SECONDS, "tokens": TOKENS},
        ),
    )


if __name__ == "__main__":
    main()
