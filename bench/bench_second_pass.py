"""Second-pass latency on the real text-model shape: a summary of a 10-minute transcript by Granite 4.0 1B
(the shape of the speech model's language model, granite-4.0-1b-base, which the default text model
ibm-granite/granite-4.0-1b is instruction-tuned from) with random weights, on this machine.

    python bench/bench_second_pass.py [--words 1500] [--answer 300] [--quick]

A 10-minute transcript: 1,500 words (150 words a minute), about 2,000 tokens at 1.3 tokens a word for a
100K-vocabulary BPE (the real tokenizer cannot be downloaded here), plus the instruction and the chat template.
The answer is forced to its full length (random weights never stop early; a real summary usually stops sooner), so
the figures are the upper bound of one --then summary with the default --text-max-new-tokens.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import HERE, save

TOKENS_PER_WORD = 1.3
PROMPT_OVERHEAD = 80  # the summary instruction and Granite 4.0's chat template around it


def build(dtype: str):
    from transformers import GraniteConfig, GraniteForCausalLM

    text = json.loads((HERE / "granite-4.0-1b-speech.config.json").read_text())["text_config"]
    text.pop("model_type", None)
    text.pop("torch_dtype", None)
    config = GraniteConfig(**text)
    torch.manual_seed(0)
    started = time.perf_counter()
    model = GraniteForCausalLM._from_config(config, dtype=getattr(torch, dtype)).eval()
    return model, time.perf_counter() - started


def run(model, prompt_tokens: int, answer_tokens: int) -> dict:
    ids = torch.randint(0, model.config.vocab_size - 2, (1, prompt_tokens))
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        t = time.perf_counter()
        model.generate(ids, attention_mask=mask, max_new_tokens=1, min_new_tokens=1, do_sample=False)
        first = time.perf_counter() - t
        t = time.perf_counter()
        model.generate(
            ids, attention_mask=mask, max_new_tokens=answer_tokens, min_new_tokens=answer_tokens, do_sample=False
        )
        whole = time.perf_counter() - t
    return {
        "prompt_tokens": prompt_tokens,
        "answer_tokens": answer_tokens,
        "first_token_s": round(first, 2),
        "whole_answer_s": round(whole, 1),
        "answer_tokens_per_s": round((answer_tokens - 1) / max(whole - first, 1e-9), 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--words", type=int, default=1500, help="words in the transcript (10 minutes: 1500)")
    p.add_argument("--answer", type=int, default=300, help="answer tokens (the default --text-max-new-tokens)")
    p.add_argument("--quick", action="store_true", help="a 64-token answer (run_all.py --quick)")
    args = p.parse_args()
    if args.quick:
        args.answer = 64
    from granite_workbench.cpu import configure_threads
    from granite_workbench.loading import pick_dtype

    configure_threads()
    dtype, why = pick_dtype("cpu", "auto", stored="bfloat16")
    model, built = build(dtype)
    params = sum(p.numel() for p in model.parameters())
    prompt = int(args.words * TOKENS_PER_WORD) + PROMPT_OVERHEAD
    row = {
        "dtype": dtype,
        "why": why,
        "parameters": params,
        "built_s": round(built, 1),
        **run(model, prompt, args.answer),
    }
    print(json.dumps(row, indent=2))
    save("second_pass", {"rows": [row]})


if __name__ == "__main__":
    main()
