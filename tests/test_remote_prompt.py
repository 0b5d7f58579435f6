"""The remote backend's chat message gives the model the prompt the local path gives it, token for token, once a
server like vLLM has placed the audio: vLLM keeps an `<|audio|>` the text already holds where it is and puts a
missing one in front, followed by a newline (vllm/entrypoints/chat_utils.py, `_get_full_multimodal_text_prompt`;
confirmed in vLLM's source). Checked for every task of the prompt table: transcription with and without a
language, keyword prompts, every translation direction."""
import pytest

from granite_workbench.languages import TRANSLATION_DIRECTIONS
from granite_workbench.prompts import AUDIO_TOKEN, TaskSpec, parse_instruction, render_prompt
from granite_workbench.remote import chat_message

SPECS = [TaskSpec("asr"), TaskSpec("asr", language="fr"), TaskSpec("asr", keywords=("kitchen", "Anna Smith")),
         *(TaskSpec("ast", language=src, target=tgt) for src, tgt in TRANSLATION_DIRECTIONS)]


def vllm_text(message: dict) -> str:
    """The user turn's text as vLLM builds it from a message's parts (its placement rule, restated)."""
    parts = message["content"]
    text = "\n".join(p["text"] for p in parts if p["type"] == "text")
    missing = sum(p["type"] == "input_audio" for p in parts) - text.count(AUDIO_TOKEN)
    assert missing >= 0, "more placeholders than audio parts: vLLM refuses the request"
    return "\n".join([AUDIO_TOKEN] * missing + [text])


def rendered(tokenizer, text: str) -> list[int]:
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                           add_generation_prompt=True)
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
    bare = {**message, "content": [{**p, "text": p["text"].replace(AUDIO_TOKEN, "")} if p["type"] == "text" else p
                                   for p in message["content"]]}
    assert rendered(tok, vllm_text(bare)) != remote
    # the workbench's own /v1/chat/completions reads the same message back as the same task
    text = next(p["text"] for p in message["content"] if p["type"] == "text")
    back = parse_instruction(text)
    assert (back.task, back.target, back.keywords) == (spec.task, spec.target, spec.keywords)
