"""The tiny Granite text model (`--text-model tiny`): the second pass's miniature, built offline in a second.

Same architecture as the Granite 4.0 1B instruct model the second pass loads by default (`GraniteForCausalLM`: the
language model of granite-4.0-1b-speech, whose base it is), same special tokens and the same chat format: a system
turn first (Granite 4.0's default one when the messages bring none), every turn
`<|start_of_role|>ROLE<|end_of_role|>TEXT<|end_of_text|>` and a newline, the answer after
`<|start_of_role|>assistant<|end_of_role|>`. Its template keeps only the branches the workbench uses (no tools, no
documents: a visitor's question is only ever a prompt). Random weights: its answers are meaningless but
deterministic, so every path that reaches it can be compared token for token.
"""

from __future__ import annotations

import os
from pathlib import Path

from .tiny import EOS_TOKEN, PAD_TOKEN, bpe_tokenizer, cache_root, is_tiny, lm_config, save_atomically

START_ROLE, END_ROLE = "<|start_of_role|>", "<|end_of_role|>"
DEFAULT_SYSTEM = "You are a helpful assistant. Please ensure responses are professional, accurate, and safe."
CHAT_TEMPLATE = (
    "{%- if messages and messages[0].role == 'system' and messages[0].content %}"
    "{%- set system = messages[0].content %}{%- else %}{%- set system = '" + DEFAULT_SYSTEM + "' %}{%- endif %}"
    "{{- '" + START_ROLE + "system" + END_ROLE + "' + system + '" + EOS_TOKEN + "\\n' }}"
    "{%- for message in messages %}{%- if not (loop.first and message.role == 'system') %}"
    "{{- '" + START_ROLE + "' + message.role + '" + END_ROLE + "' + message.content + '" + EOS_TOKEN + "\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '" + START_ROLE + "assistant" + END_ROLE + "' }}{%- endif %}"
)
_CORPUS = [
    "Summarise this transcript of a recording. List the action items. Answer the question.",
    "Rewrite this transcript with punctuation and capitalisation. Translate this transcript into English.",
    "Transcript: Speaker 1: Speaker 2: the of and to in is you that it he was for on are as with his they",
    "at be this have from or one had by word but not what all were we when your can said - , . ? ! : 0 1 2 3",
    "You are a helpful assistant. Please ensure responses are professional, accurate, and safe.",
]


def ensure_tiny_text_model() -> Path:
    """The tiny text model's folder (beside the speech miniatures), built first if it is not there yet."""
    folder = cache_root() / "tiny-granite-text"
    if not is_tiny(folder):
        build_tiny_text_model(folder)
    return folder


def build_tokenizer():
    return bpe_tokenizer(
        _CORPUS,
        (PAD_TOKEN, EOS_TOKEN, START_ROLE, END_ROLE),
        400,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
    )


def unprintable(tokenizer) -> list[int]:
    """The ordinary tokens that decode to something other than printable text."""
    special = set(tokenizer.all_special_ids)

    def printable(text: str) -> bool:  # (a space is printable text; U+FFFD is a piece of a multi-byte character)
        return text.replace(" ", "x").isprintable() and "\ufffd" not in text

    return [i for i in range(len(tokenizer)) if i not in special and not printable(tokenizer.decode([i]))]


def build_tiny_text_model(folder: str | os.PathLike, seed: int = 0) -> Path:
    """Build and save the tiny text model and its tokenizer to `folder` (atomically)."""
    import torch
    from transformers import GraniteConfig, GraniteForCausalLM

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    # weights twice as wide as the speech miniature's: its answers then differ from task to task
    lm = {**lm_config(tokenizer), "initializer_range": 0.4}
    config = GraniteConfig(**{k: v for k, v in lm.items() if k != "model_type"})
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = GraniteForCausalLM(config).eval()
        # a head wide enough that the answers vary (like the speech miniature's), and that never picks the role
        # markers or padding, which a trained model does not write in an answer either
        torch.nn.init.normal_(model.lm_head.weight, std=0.2)
        with torch.no_grad():
            for token in (PAD_TOKEN, START_ROLE, END_ROLE):
                model.lm_head.weight[tokenizer.convert_tokens_to_ids(token)] = 0.0
    finally:
        torch.random.set_rng_state(state)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # and it writes text a page can show: no control characters, no piece of a multi-byte character
    model.generation_config.suppress_tokens = unprintable(tokenizer)
    marker = {"tiny": True, "seed": seed, "architecture": "granite", "note": "Random-weight tiny Granite text model."}
    return save_atomically(folder, [model, tokenizer], marker)
