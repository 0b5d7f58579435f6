"""Adapter swap on the real model shape: switch between two loaded rank-16 adapters, load one from disk,
against reloading the base model.

    python bench/bench_adapters.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
from pathlib import Path

import torch
from common import machine, median, save, table, timed
from real_shape import ensure_real_shape

from granite_workbench.adapters import METADATA_FILE, AdapterRuntime, _restore_modules_to_save, model_signature
from granite_workbench.loading import load_model


def make_adapter(lm, folder: Path, seed: int) -> Path:
    """A rank-16 LoRA on the LM's attention + MLP projections (+ the projector), the finetune default."""
    from peft import LoraConfig, get_peft_model

    from finetune.model import lora_target_regex

    torch.manual_seed(seed)
    cfg = LoraConfig(
        r=16,
        lora_alpha=32,
        target_modules=lora_target_regex(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        modules_to_save=["projector"],
        init_lora_weights=False,
    )
    peft = get_peft_model(lm.model, cfg)
    peft.save_pretrained(folder)
    (folder / METADATA_FILE).write_text(
        json.dumps({"base_model": "real-shape", "signature": model_signature(peft), "step": 0})
    )
    _restore_modules_to_save(peft)
    lm.model = peft.unload()  # back to the bare base for the next one
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    folder, _ = ensure_real_shape()
    reload_s, lm = timed(load_model, str(folder), dtype="bfloat16")
    print(f"machine: {machine()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-adapters-"))
    a_dir, b_dir = make_adapter(lm, tmp / "a", 1), make_adapter(lm, tmp / "b", 2)
    size_mb = (a_dir / "adapter_model.safetensors").stat().st_size / 2**20
    rt = AdapterRuntime(lm)
    load_a, a = timed(rt.load, a_dir, "a")
    load_b, b = timed(rt.load, b_dir, "b")
    reps = 20 if args.quick else 100
    switches = []
    for i in range(reps):
        name = a if i % 2 else b

        def switch():  # what a request pays to get its adapter active (and let go of it)
            with rt.use(name):
                pass

        switches.append(timed(switch)[0])
    unload_s, _ = timed(rt.unload, b)
    reload_again = []
    for _ in range(1 if args.quick else 2):
        del lm
        gc.collect()
        t, lm = timed(load_model, str(folder), dtype="bfloat16")
        reload_again.append(t)
    rows = [
        {
            "measure": "switch between two loaded rank-16 adapters",
            "time": f"{1000 * median(switches):.2f} ms",
            "target": "< 50 ms",
        },
        {
            "measure": f"load a rank-16 adapter from disk ({size_mb:.0f} MB with the projector)",
            "time": f"{1000 * median([load_a, load_b]):.0f} ms",
            "target": "< 1 s",
        },
        {"measure": "unload an adapter", "time": f"{1000 * unload_s:.0f} ms", "target": ""},
        {
            "measure": "reload the base model instead (from the local disk cache)",
            "time": f"{median(reload_again):.1f} s",
            "target": "(reference)",
        },
    ]
    print(table(rows, ["measure", "time", "target"]))
    print(
        "saved",
        save(
            "adapters" + ("-quick" if args.quick else ""),
            {
                "switch_ms": [1000 * s for s in switches],
                "load_s": [load_a, load_b],
                "unload_s": unload_s,
                "adapter_mb": size_mb,
                "reload_base_s": reload_again,
                "first_load_base_s": reload_s,
            },
        ),
    )


if __name__ == "__main__":
    main()
