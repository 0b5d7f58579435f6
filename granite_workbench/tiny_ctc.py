"""A tiny, offline Granite Speech 5.0 Turbo CTC (`--model tiny-ctc`): the real architecture at small sizes.

Built like the 4.0 miniature (tiny.py), in about a second and with no network, and as faithful:
- transformers' `GraniteSpeech5ForCTC` with a `GraniteSpeech5CTCConfig` of the real structure: a block-attention
  conformer encoder whose first two blocks halve time (`subsample_layers` [0, 1]), the self-conditioning CTC
  head (`encoder.out`, its posteriors fed back at the middle layer through `out_mid`) tied to the output head
  (`ctc_head`), blank = pad = id 0;
- the real processor: `GraniteSpeech5Processor` = the real feature extractor (80 log-mels with deltas, frames
  stacked in pairs) + a `ParakeetTokenizer` (what transformers maps `granite_speech5_ctc` to): a BPE
  vocabulary with sentencepiece-style word starts (`▁`), `<pad>` at id 0, CTC decoding (repeats merged,
  blanks dropped) in its `decode`.
The real model has 16,384 BPE units and 1024-wide, 16-layer blocks; here 2 layers... 4 and a few hundred units.
Its text is meaningless until it is fine-tuned.
"""

from __future__ import annotations

import json
from pathlib import Path

MARKER = "granite_workbench_tiny.json"
BUILD = 2  # tiny.TINY_VERSIONS["tiny-ctc"]
PAD = "<pad>"
UNK = "<unk>"
_CORPUS = [
    "hello world please leave a message after the tone thank you for calling goodbye",
    "the of and to in is you that it he was for on are as with his they at be this have from",
    "or one had by word but not what all were we when your can said there use an each which",
    "she do how their if will up other about out many then them zero one two three four five",
    "six seven eight nine ten good morning afternoon evening yes no okay",
    # everyday words a 16,384-unit vocabulary writes as one or two units (the bundled phrase set's): a CTC target
    # needs no more units than the encoder has frames (12.5 per second), which letters alone would exceed
    "turn on kitchen lights set timer minutes weather tomorrow play some jazz music call front desk book table",
    "remind me buy milk open garage door lower volume please start washing machine far airport send message anna",
    "close blinds add eggs shopping list wake up seven read latest news",
]


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import ParakeetTokenizer

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'", "▁"]
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=[PAD, UNK], initial_alphabet=letters, show_progress=False
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    return ParakeetTokenizer(tokenizer_object=tok, pad_token=PAD, unk_token=UNK)


def tiny_config(vocab_size: int):
    from transformers import GraniteSpeech5CTCConfig, GraniteSpeech5EncoderConfig

    encoder = GraniteSpeech5EncoderConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        context_size=64,
        max_position_embeddings=128,
    )
    return GraniteSpeech5CTCConfig(vocab_size=vocab_size, encoder_config=encoder.to_dict(), pad_token_id=0)


def build_tiny_ctc_model(folder: str | Path, seed: int = 0) -> Path:
    """Write the miniature (weights, config, processor) to `folder`; returns it."""
    import torch
    from transformers import GraniteSpeech5FeatureExtractor, GraniteSpeech5ForCTC, GraniteSpeech5Processor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    assert tokenizer.convert_tokens_to_ids(PAD) == 0, "the CTC blank must be id 0 (the config's pad_token_id)"
    processor = GraniteSpeech5Processor(feature_extractor=GraniteSpeech5FeatureExtractor(), tokenizer=tokenizer)
    torch.manual_seed(seed)
    model = GraniteSpeech5ForCTC(tiny_config(len(tokenizer)))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    (folder / MARKER).write_text(json.dumps({"architecture": "granite_speech5_ctc", "seed": seed, "build": BUILD}))
    return folder


def real_shape_config():
    """The 470 M model's shape (the config's defaults are the released model's: 16,384 units, 1024 wide, 16
    blocks), for benchmarks with random weights."""
    from transformers import GraniteSpeech5CTCConfig, GraniteSpeech5EncoderConfig

    return GraniteSpeech5CTCConfig(encoder_config=GraniteSpeech5EncoderConfig().to_dict())
