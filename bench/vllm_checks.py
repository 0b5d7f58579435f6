"""The CHECK lines of bench/vllm_cpu_check.sh: this project's serving path against a real vLLM.

    python bench/vllm_checks.py --server URL --model DIR --adapter DIR --export DIR --workbench URL --demo URL

Needs a vLLM serving DIR as "base" with runtime LoRA loading, the export loaded as "renamed" and the adapter
folder as peft saved it loaded as "as-saved"; a workbench demo on DIR (`--workbench`, its own /v1 routes) and
one on `--backend openai` against that vLLM whose checkpoints folder holds the adapter as `lm/step-000060`
(`--demo`). Prints one CHECK line per claim and exits 1 if one fails; INFO lines say where vLLM's answers are
shaped differently from the workbench's (facts about vLLM, not failures).

Texts are compared as the workbench reports them (white space collapsed) and without a trailing U+FFFD: the
tiny model's random weights write arbitrary bytes, and vLLM's detokenizer holds back an incomplete UTF-8
sequence at the end where the local decode shows a replacement character.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLIPS = sorted(str(p) for p in (ROOT / "data" / "phrases").glob("phrase*.flac"))[:10]
MAX_TOKENS = 24
failed: list[str] = []


def check(claim: str, ok: bool, detail: str) -> None:
    print(f"CHECK {claim}: {detail}  {'PASS' if ok else 'FAIL'}", flush=True)
    if not ok:
        failed.append(claim)


def texts(engine, adapter: str | None, spec=None) -> list[str]:
    from granite_workbench import TaskSpec
    from granite_workbench.transcribe import Transcriber

    results = Transcriber(engine=engine, max_new_tokens=MAX_TOKENS).run(CLIPS, spec or TaskSpec("asr"), adapter=adapter)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return [r.text for r in results]


def norm(text: str | None) -> str:
    return " ".join((text or "").split()).rstrip("\ufffd").strip()


def same(a: list[str], b: list[str]) -> tuple[bool, str]:
    n = sum(norm(x) == norm(y) for x, y in zip(a, b))
    return n == len(a) and len(a) == len(b), f"{n}/{len(a)} clips equal"


def main() -> int:
    from granite_workbench import TaskSpec
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model
    from granite_workbench.remote import OpenAIEngine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--server", "--model", "--adapter", "--export", "--workbench", "--demo"):
        ap.add_argument(flag, required=True)
    args = ap.parse_args()
    local = engine_for(load_model(args.model, dtype="float32"))
    name = local.adapters.load(Path(args.adapter), "local")
    remote = OpenAIEngine(args.server, model="base")

    base_local, base_remote = texts(local, None), texts(remote, None)
    ok, said = same(base_local, base_remote)
    check("remote base == local base (prompt, audio placement, decoding)", ok, said)
    for spec in (TaskSpec("asr", keywords=("kitchen", "timer")), TaskSpec("ast", language="en", target="fr")):
        ok, said = same(texts(local, None, spec), texts(remote, None, spec))
        check(f"remote == local for {spec.task} prompts", ok, said)
    adapted_local, renamed = texts(local, name), texts(remote, "renamed")
    ok, said = same(adapted_local, renamed)
    check("exported adapter through vLLM == local adapter", ok, said)
    changed = sum(a != b for a, b in zip(adapted_local, base_local))
    check(
        "the adapter changes the output (premise of the two checks around it)",
        changed > 0,
        f"{changed}/{len(CLIPS)} clips differ from base",
    )
    ok, said = same(texts(remote, "as-saved"), base_remote)
    check(
        "the un-renamed peft folder is not applied by vLLM (the export stays necessary)",
        ok,
        said + " with base" + ("" if ok else ": vLLM now applies it; the export may no longer be needed"),
    )
    evaluation(local, remote, name)
    logprobs(local, args.server)
    transcription_routes(args.server, args.workbench)
    demo_on_vllm(args.demo, args.server, adapted_local)
    return 1 if failed else 0


def evaluation(local, remote, name: str) -> None:
    from granite_workbench.adapters import BASE
    from granite_workbench.evaluation import run_evaluation
    from granite_workbench.manifest import read_manifest

    rows = read_manifest(ROOT / "data" / "phrases" / "train.jsonl")[: len(CLIPS)]
    here = run_evaluation(local, rows, [BASE, name], max_new_tokens=MAX_TOKENS)
    there = run_evaluation(remote, rows, [BASE, "renamed"], max_new_tokens=MAX_TOKENS)
    a, b = here.hyps[BASE] + here.hyps[name], there.hyps[BASE] + there.hyps["renamed"]
    check(
        "evaluate --backend openai == local evaluation (every hypothesis, base and adapter)",
        a == b,
        f"{sum(x == y for x, y in zip(a, b))}/{len(a)} hypotheses equal",
    )


def logprobs(local, vllm: str, n: int = 6) -> None:
    """vLLM's log-probabilities of its greedy tokens equal the local model's once the local logits are divided by
    `logits_scaling` (transformers' GraniteSpeech has its own lm_head and does not divide; vLLM does): every
    probability this project reads must be scaled (the speculative verifier's are)."""
    import httpx
    import torch

    from granite_workbench import TaskSpec, load_audio
    from granite_workbench.prompts import render_prompt
    from granite_workbench.remote import chat_message, wav_base64

    samples = load_audio(CLIPS[0]).samples
    body = {
        "model": "base",
        "temperature": 0,
        "max_tokens": n,
        "logprobs": True,
        "top_logprobs": 1,
        "messages": [chat_message(TaskSpec("asr"), wav_base64(samples))],
    }
    answer = httpx.post(vllm.rstrip("/") + "/v1/chat/completions", json=body, timeout=120).json()
    theirs = [t["logprob"] for t in answer["choices"][0]["logprobs"]["content"]]
    lm = local.lm
    tok = lm.processor.tokenizer
    inputs = lm.processor(text=render_prompt(tok, TaskSpec("asr")), audio=samples, return_tensors="pt")
    with local.adapters.use(None), torch.inference_mode():
        out = lm.model.generate(
            **inputs, max_new_tokens=len(theirs), do_sample=False, output_scores=True, return_dict_in_generate=True
        )
    ids = out.sequences[0, inputs["input_ids"].shape[1] :]
    scale = lm.model.config.text_config.logits_scaling

    def ours(divide: float) -> list[float]:
        return [float(torch.log_softmax(s[0].float() / divide, -1)[i]) for s, i in zip(out.scores, ids)]

    scaled, raw = ours(scale), ours(1.0)
    gap = max(abs(a - b) for a, b in zip(scaled, theirs))
    unscaled_gap = max(abs(a - b) for a, b in zip(raw, theirs))
    check(
        f"local log-probabilities / logits_scaling ({scale:g}) == vLLM's",
        gap < 5e-3 and unscaled_gap > 0.5,
        f"{len(theirs)} tokens: largest difference {gap:.1e} scaled, {unscaled_gap:.2f} unscaled",
    )


def post_audio(url: str, clip: str, fmt: str):
    import httpx

    with open(clip, "rb") as f:
        return httpx.post(
            url.rstrip("/") + "/v1/audio/transcriptions",
            timeout=120,
            files={"file": (Path(clip).name, f.read())},
            data={
                "model": "base",
                "response_format": fmt,
                "language": "en",
                "temperature": "0",
                "max_completion_tokens": str(MAX_TOKENS),
            },
        )


def shape(r) -> str:
    kind = r.headers.get("content-type", "").split(";")[0]
    if kind == "application/json":
        return f"{kind} {sorted(r.json())}"
    return f"{kind} ({r.text.count(chr(10))} lines)"


def transcription_routes(vllm: str, workbench: str) -> None:
    """The same /v1/audio/transcriptions request to the workbench (on the same model) and to vLLM: the same text;
    the shape of each response format, side by side."""
    ours, theirs = [], []
    for clip in CLIPS:
        a, b = post_audio(workbench, clip, "json"), post_audio(vllm, clip, "json")
        if a.status_code != 200 or b.status_code != 200:
            check("/v1/audio/transcriptions answers on both", False, f"HTTP {a.status_code} / {b.status_code}")
            return
        ours.append(a.json()["text"])
        theirs.append(b.json()["text"])
    ok, said = same(ours, theirs)
    check("/v1/audio/transcriptions, json: the workbench's text == vLLM's", ok, said)
    for fmt in ("json", "text", "verbose_json", "srt", "vtt"):
        a, b = post_audio(workbench, CLIPS[0], fmt), post_audio(vllm, CLIPS[0], fmt)
        mine = shape(a) if a.status_code == 200 else f"HTTP {a.status_code}"
        other = shape(b) if b.status_code == 200 else f"HTTP {b.status_code}: {b.text[:80]}"
        print(
            f"INFO response_format={fmt}: workbench {mine} | vLLM {other}" + ("" if mine == other else "  (differs)"),
            flush=True,
        )


def demo_on_vllm(demo: str, vllm: str, adapted_local: list[str]) -> None:
    """The demo on --backend openai: its Adapters tab loads an adapter on the vLLM server at runtime (the export is
    written for it), and transcription with it equals the local adapter; unloading removes it from the server."""
    from gradio_client import Client, handle_file

    client = Client(demo, verbose=False)
    said = client.predict("lm/step-000060", api_name="/load_adapter")
    name = "lm-step-000060"
    got = [client.predict(handle_file(c), "en", name, api_name="/transcribe")[0] for c in CLIPS]
    ok, equal = same(got, adapted_local)
    check(
        "demo on --backend openai: an adapter loaded in its Adapters tab runs on vLLM == local adapter",
        ok,
        f"{equal} ({said.split('.')[0]})",
    )
    assert name in served_models(vllm), served_models(vllm)
    client.predict(name, api_name="/unload_adapter")
    served = served_models(vllm)
    check(
        "demo on --backend openai: unloading it in the Adapters tab unloads it on vLLM",
        name not in served,
        f"served now: {served}",
    )


def served_models(url: str) -> list[str]:
    import httpx

    return [m["id"] for m in httpx.get(url.rstrip("/") + "/v1/models", timeout=10).json()["data"]]


if __name__ == "__main__":
    sys.exit(main())
