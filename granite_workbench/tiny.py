"""A tiny, offline Granite Speech model of the real architecture, for tests and smoke runs.

`build_tiny_model(folder)` writes, in about a second and with no network, everything the
normal loading code expects. It is a faithful miniature of ibm-granite/granite-4.0-1b-speech,
so that every code path the real model takes is taken in the tests:

- the real chat template, verbatim (`USER: {content}\n ASSISTANT:`, no system branch, no eos and
  no space in the assistant branch);
- the real special-token layout: the ordinary vocabulary first, then `<|pad|>` and
  `<|end_of_text|>` (eos = bos, as in Granite), and `<|audio|>` as the last id of the vocabulary;
- the real config's structure at small sizes: the CTC conformer encoder with its graphemic CTC head
  (`encoder.out`, 348 labels = Unicode code points, as the real one) and its mid-layer feedback
  (`out_mid`), a windowed Q-Former projector, and a Granite LM with the real multipliers
  (embedding 12, residual 0.22, attention 1/head_dim) and `logits_scaling` 8.

Its text is meaningless until it is fine-tuned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TINY_ID = "tiny"
MARKER = "granite_workbench_tiny.json"
AUDIO_TOKEN = "<|audio|>"
EOS_TOKEN = "<|end_of_text|>"
PAD_TOKEN = "<|pad|>"
# The chat template of granite-4.0-1b-speech, verbatim (see docs/model-facts.md: IBM's notebooks print
# `USER: <|audio|>...\n ASSISTANT:` and a full decode `... ASSISTANT:for timothy was ...`). Note: the user
# branch always ends with the generation prompt; the assistant branch adds neither a space nor eos.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {{ message['content'] }}\n"
    " ASSISTANT:{% elif message['role'] == 'assistant' %}{{ message['content'] }}{% endif %}{% endfor %}"
)
CTC_LABELS = 348  # the real encoder's output_dim: label c is chr(c), 0 is the CTC blank
_CORPUS = [
    "can you transcribe the speech into a written format? Keywords:",
    "translate the speech to English French German Spanish Portuguese Japanese Italian Chinese",
    "USER: ASSISTANT: the of and to in is you that it he was for on are as with his they",
    "at be this have from or one had by word but not what all were we when your can said",
    "there use an each which she do how their if will up other about out many then them",
    "hello world please leave a message after the tone thank you for calling goodbye",
    "0 1 2 3 4 5 6 7 8 9 . , ? ! ' - :",
]


TINY_FOLDERS = {
    TINY_ID: "tiny-granite-speech",
    "tiny-plus": "tiny-granite-speech-plus",
    "tiny-ctc": "tiny-granite-speech5-ctc",
}


# a cached miniature older than its builder is rebuilt (2: tiny-ctc's vocabulary writes everyday words in a unit or
# two, as the real one does)
TINY_VERSIONS = {"tiny-ctc": 2}


def _build_ctc(folder):
    from .tiny_ctc import build_tiny_ctc_model

    return build_tiny_ctc_model(folder)


def cache_root() -> Path:
    """Where the miniatures are built: $GRANITE_WB_CACHE, else ~/.cache/granite_workbench."""
    return Path(os.environ.get("GRANITE_WB_CACHE") or Path.home() / ".cache" / "granite_workbench")


def default_tiny_dir(alias: str = TINY_ID) -> Path:
    return cache_root() / TINY_FOLDERS[alias]


def is_tiny(folder: str | os.PathLike) -> bool:
    return (Path(folder) / MARKER).is_file()


def ensure_tiny_model(folder: str | os.PathLike | None = None, alias: str = TINY_ID) -> Path:
    """Return the folder of the tiny model `alias` (models.py names each architecture's), building it first if it
    is not there yet."""
    folder = Path(folder) if folder else default_tiny_dir(alias)
    if not is_tiny(folder) or built_version(folder) != TINY_VERSIONS.get(alias, 1):
        TINY_BUILDERS[alias](folder)
    return folder


def built_version(folder: Path) -> int:
    """Which build of a miniature a folder holds (its marker's `build`; 1 before builds were numbered)."""
    try:
        return int(json.loads((Path(folder) / MARKER).read_text()).get("build", 1))
    except (OSError, ValueError, AttributeError):
        return 0


def bpe_tokenizer(corpus: list[str], specials: tuple[str, ...], vocab_size: int, **kwargs):
    """A byte-level BPE tokenizer learnt from `corpus`, the real models' kind, with `specials` after the ordinary
    tokens; `kwargs` go to PreTrainedTokenizerFast (special token names, chat template, padding side)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials])
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


def build_tokenizer():
    # the real layout: ordinary tokens, then pad and eos, and the audio token as the very last id
    return bpe_tokenizer(
        _CORPUS,
        (PAD_TOKEN, EOS_TOKEN, AUDIO_TOKEN),
        384,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens={"audio_token": AUDIO_TOKEN},
        model_input_names=["input_ids", "attention_mask"],
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
    )


# The language model's size: heads of 16 (fast tests), or of 64 for vLLM, whose CPU attention refuses head size
# 16 ("Unsupported CPU attention configuration: head_dim=16"): hidden 128, 2 heads, 1 key/value head.
LM_SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2),
    "vllm": dict(hidden_size=128, intermediate_size=256, num_attention_heads=2, num_key_value_heads=1),
}


PLUS_CAT_LAYERS = [1]  # tiny-plus: the projector also reads the first block's output (the real one lists several)


def lm_config(tokenizer, lm_size: str = "tiny") -> dict:
    """The tiny Granite language model's config (`model_type` granite): the speech miniatures' and the tiny text
    model's, with the real model's multipliers."""
    lm = LM_SIZES[lm_size]
    eos = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    return dict(
        model_type="granite",
        vocab_size=len(tokenizer),
        **lm,
        num_hidden_layers=2,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD_TOKEN),
        tie_word_embeddings=False,
        initializer_range=0.2,
        # the real model's multipliers (attention: 1 / head_dim)
        embedding_multiplier=12.0,
        residual_multiplier=0.22,
        attention_multiplier=lm["num_attention_heads"] / lm["hidden_size"],
        logits_scaling=8.0,
    )


def tiny_config(tokenizer, lm_size: str = "tiny", plus: bool = False):
    """The tiny config; `plus`: Granite Speech 4.1 Plus's structure (`granite_speech_plus`: the projector reads the
    encoder's final states concatenated with those of `cat_hidden_layers`)."""
    from transformers import GraniteSpeechConfig, GraniteSpeechPlusConfig

    lm = LM_SIZES[lm_size]
    config_class, encoder_type = (
        (GraniteSpeechPlusConfig, "granite_speech_plus_encoder")
        if plus
        else (GraniteSpeechConfig, "granite_speech_encoder")
    )
    cat = {"cat_hidden_layers": PLUS_CAT_LAYERS} if plus else {}
    return config_class(
        text_config=lm_config(tokenizer, lm_size),
        encoder_config=dict(
            model_type=encoder_type,
            **cat,
            input_dim=160,
            num_layers=2,
            hidden_dim=64,
            feedforward_mult=2,
            num_heads=2,
            dim_head=32,
            output_dim=CTC_LABELS,
            context_size=200,
            max_pos_emb=512,
            dropout=0.1,
            conv_kernel_size=15,
            conv_expansion_factor=2,
        ),
        projector_config=dict(
            model_type="blip_2_qformer",
            hidden_size=lm["hidden_size"],
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=lm["intermediate_size"],
            encoder_hidden_size=64 * (len(PLUS_CAT_LAYERS) + 1 if plus else 1),
            cross_attention_frequency=1,
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
            max_position_embeddings=512,
            use_qformer_text_input=False,
            vocab_size=len(tokenizer),
        ),
        audio_token_index=tokenizer.convert_tokens_to_ids(AUDIO_TOKEN),
        has_lora_adapter=False,
        tie_word_embeddings=False,
        downsample_rate=5,
        window_size=15,
    )


def build_tiny_model(folder: str | os.PathLike, seed: int = 0, lm_size: str = "tiny", plus: bool = False) -> Path:
    """Build and save the tiny model, processor and tokenizer to `folder` (atomically); `lm_size` "vllm": a
    language model vLLM's CPU attention serves (heads of 64); `plus`: the 4.1 Plus architecture (`tiny-plus`).

    tiny-plus keeps 4.0's chat template: 4.1's could not be read here (no download). Its card sends a system turn
    first (models.PLUS_SYSTEM_PROMPT), which 4.0's template leaves out, so the miniature's prompt lacks it."""
    import torch
    from transformers import (
        GraniteSpeechFeatureExtractor,
        GraniteSpeechForConditionalGeneration,
        GraniteSpeechPlusForConditionalGeneration,
        GraniteSpeechProcessor,
    )

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    processor = GraniteSpeechProcessor(
        audio_processor=GraniteSpeechFeatureExtractor(), tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model_class = GraniteSpeechPlusForConditionalGeneration if plus else GraniteSpeechForConditionalGeneration
        model = model_class(tiny_config(tokenizer, lm_size, plus)).eval()
        # a random lm_head wide enough that LoRA on the layers below can make confident predictions
        # (the top-level initializer_range of 0.02 would cap the logit margins at about 2 nats)
        torch.nn.init.normal_(model.lm_head.weight, std=0.2)
    finally:
        torch.random.set_rng_state(state)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    marker = {
        "tiny": True,
        "seed": seed,
        "lm_size": lm_size,
        "architecture": "granite_speech_plus" if plus else "granite_speech",
        "note": "Random-weight tiny Granite Speech model for offline tests; its output is meaningless.",
    }
    return save_atomically(folder, [model, processor], marker)


def save_atomically(folder: Path, parts: list, marker: dict) -> Path:
    """Save every part (save_pretrained) and the marker into `folder`, replacing it at once when all is written."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".tiny-", dir=folder.parent))
    try:
        for part in parts:
            part.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(marker, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _build_plus(folder):
    return build_tiny_model(folder, plus=True)


TINY_BUILDERS = {
    TINY_ID: build_tiny_model,
    "tiny-plus": _build_plus,
    "tiny-ctc": _build_ctc,
}  # alias -> builder (folder) of its miniature
