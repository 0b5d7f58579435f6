"""The real Granite 4.0 1B Speech architecture with random weights, built once and cached on disk.

The config is the reconstructed 4.0-1B config.json (copied here from the project's research notes). The
tokenizer is the tiny model's byte-level BPE (the real one cannot be downloaded here); only the audio
token id is changed to fit it, so every tensor has the real shape and the cost is the real cost.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "granite-4.0-1b-speech.config.json"


def cache_dir() -> Path:
    root = os.environ.get("GRANITE_WB_CACHE") or Path.home() / ".cache" / "granite_workbench"
    return Path(root) / "real-shape-4.0-1b"


def ensure_real_shape(seed: int = 0) -> tuple[Path, float]:
    """The cached folder (built on first use: ~30 s, 4.6 GB); returns (folder, seconds spent building)."""
    import torch
    from transformers import (
        GraniteSpeechConfig,
        GraniteSpeechFeatureExtractor,
        GraniteSpeechForConditionalGeneration,
        GraniteSpeechProcessor,
    )

    from granite_workbench.tiny import AUDIO_TOKEN, CHAT_TEMPLATE, build_tokenizer

    folder = cache_dir()
    if (folder / "model.safetensors").exists() or (folder / "model.safetensors.index.json").exists():
        return folder, 0.0
    started = time.time()
    tok = build_tokenizer()
    cfg = json.loads(CONFIG.read_text())
    cfg["audio_token_index"] = tok.convert_tokens_to_ids(AUDIO_TOKEN)
    for key in ("bos_token_id", "eos_token_id"):
        cfg["text_config"][key] = tok.eos_token_id
    cfg["text_config"]["pad_token_id"] = tok.pad_token_id
    config = GraniteSpeechConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "model_type")})
    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        model = GraniteSpeechForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(default)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    GraniteSpeechProcessor(
        audio_processor=GraniteSpeechFeatureExtractor(), tokenizer=tok, chat_template=CHAT_TEMPLATE
    ).save_pretrained(tmp)
    tmp.rename(folder)
    return folder, time.time() - started


def parameter_counts(model) -> dict[str, int]:
    core = model.model
    return {
        name: sum(p.numel() for p in getattr(core, name).parameters())
        for name in ("encoder", "projector", "language_model")
    } | {"lm_head": model.lm_head.weight.numel(), "total": sum(p.numel() for p in model.parameters())}


if __name__ == "__main__":
    path, spent = ensure_real_shape()
    print(path, f"built in {spent:.0f} s" if spent else "(cached)")
