"""Inference on the real model shape: workbench overhead, batching, real-time factor vs length.

    python bench/bench_inference.py [--quick]

Every generate call is forced to a fixed number of new tokens (min = max), so each run does the same work.
Reference: the model card's plain transformers loop (soundfile -> processor -> generate -> decode).
"""

from __future__ import annotations

import argparse

import soundfile as sf
import torch
from common import long_speech, machine, median, save, speech_clips, table, timed
from real_shape import ensure_real_shape

from granite_workbench.audio import Audio
from granite_workbench.chunking import plan_chunks
from granite_workbench.loading import load_model
from granite_workbench.prompts import TaskSpec, render_prompt
from granite_workbench.transcribe import Transcriber


def model_card_loop(lm, paths, tokens: int) -> list[str]:
    """The model card's recipe, one clip at a time."""
    proc, model = lm.processor, lm.model
    prompt = render_prompt(proc.tokenizer, TaskSpec("asr"))
    out = []
    for path in paths:
        wav, sr = sf.read(path, dtype="float32")
        assert sr == 16000
        inputs = proc(prompt, wav, device=lm.device, return_tensors="pt").to(lm.device)
        with torch.inference_mode():
            ids = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, num_beams=1)
        out += proc.tokenizer.batch_decode(ids[:, inputs["input_ids"].shape[-1] :], skip_special_tokens=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 10-minute clip")
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()
    torch.manual_seed(0)
    folder, built = ensure_real_shape()
    lm = load_model(str(folder), dtype=args.dtype)
    print(f"machine: {machine()}\nmodel: real 4.0-1B shape, random weights, {args.dtype}, {lm.device}")
    rows, payload = [], {"dtype": args.dtype, "device": lm.device}

    # 1. overhead at batch size 1
    tokens, reps = 16, 2 if args.quick else 3
    clips = speech_clips(3)
    tr = Transcriber(lm, batch_size=1, chunking="none", max_new_tokens=tokens, min_new_tokens=tokens)
    model_card_loop(lm, clips[:1], 2)  # warm up
    ours, ref = [], []
    for _ in range(reps):
        ref.append(timed(model_card_loop, lm, clips, tokens)[0])
        ours.append(timed(tr.run, clips, TaskSpec("asr"))[0])
    overhead = median(ours) / median(ref) - 1
    rows.append(
        {
            "measure": "1. transcription overhead, batch 1 (3 clips x 16 tokens)",
            "reference": f"{median(ref):.2f} s",
            "workbench": f"{median(ours):.2f} s",
            "ratio": f"{100 * overhead:+.1f}%",
            "target": "<= +3%",
        }
    )
    payload["overhead"] = {"reference_s": ref, "workbench_s": ours, "overhead": overhead}

    # 2. batching: 8 clips of mixed length, batch 8 vs the model card's one-at-a-time loop
    clips8 = speech_clips(8)
    lengths = [round(sf.info(p).duration, 1) for p in clips8]
    seq_t, _ = timed(model_card_loop, lm, clips8, tokens)
    trb = Transcriber(lm, batch_size=8, chunking="none", max_new_tokens=tokens, min_new_tokens=tokens)
    bat_t, _ = timed(trb.run, clips8, TaskSpec("asr"))
    speedup = seq_t / bat_t
    rows.append(
        {
            "measure": f"2. batching: 8 clips ({min(lengths)}-{max(lengths)} s), batch 8",
            "reference": f"{len(clips8) / seq_t:.2f} clips/s",
            "workbench": f"{len(clips8) / bat_t:.2f} clips/s",
            "ratio": f"{speedup:.2f}x",
            "target": ">= 2x",
        }
    )
    payload["batching"] = {"lengths_s": lengths, "sequential_s": seq_t, "batched_s": bat_t, "speedup": speedup}

    # 3. real-time factor vs length (VAD chunks of <= 30 s, 16 tokens per chunk, batch 8)
    lengths = [10, 60] if args.quick else [10, 60, 600]
    rtf = {}
    trl = Transcriber(lm, batch_size=8, chunking="vad", max_new_tokens=tokens, min_new_tokens=tokens)
    for seconds in lengths:
        audio = long_speech(seconds)
        chunks = len(plan_chunks(Audio(audio), "vad"))
        t, res = timed(trl.run, [(16000, audio)], TaskSpec("asr"))
        assert res[0].ok, res[0].error
        rtf[seconds] = {"wall_s": t, "rtfx": seconds / t, "chunks": chunks, "s_per_audio_s": t / seconds}
        rows.append(
            {
                "measure": f"3. real-time factor, {seconds} s of speech ({chunks} chunks)",
                "reference": "",
                "workbench": f"{t:.1f} s",
                "ratio": f"{seconds / t:.2f}x real time",
                "target": "linear in length",
            }
        )
    growth = (
        rtf[lengths[-1]]["s_per_audio_s"] / rtf[60]["s_per_audio_s"]
        if len(lengths) > 2
        else rtf[60]["s_per_audio_s"] / rtf[10]["s_per_audio_s"]
    )
    payload["rtf"] = rtf
    payload["rtf_growth"] = growth
    rows.append(
        {
            "measure": "3. cost per audio second, longest / shorter",
            "reference": "",
            "workbench": "",
            "ratio": f"{growth:.2f}",
            "target": "about 1 (linear)",
        }
    )
    print(table(rows, ["measure", "reference", "workbench", "ratio", "target"]))
    print("saved", save("inference" + ("-quick" if args.quick else ""), payload))


if __name__ == "__main__":
    main()
