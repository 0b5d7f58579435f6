"""The model for fine-tuning: the base (optionally 4/8-bit) with LoRA on the language model."""

from __future__ import annotations

from granite_workbench.adapters import CTC_HEAD, ENCODER
from granite_workbench.loading import LoadedModel, load_model


def lora_target_regex(targets: list[str]) -> str:
    """Only the language model's attention and MLP projections (the encoder has up_proj/down_proj too)."""
    return rf"^model\.language_model\.layers\.\d+\.(self_attn|mlp)\.({'|'.join(targets)})$"


def setup_model(cfg, device: str) -> tuple[LoadedModel, object]:
    """Load the base on `device` and wrap it with a fresh LoRA adapter; returns (LoadedModel, peft model)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    quant = None if cfg.quantization == "none" else cfg.quantization
    # training on a CPU keeps float32 weights (inference may pick bf16 there: see loading.pick_dtype)
    dtype = "float32" if cfg.dtype == "auto" and device == "cpu" else cfg.dtype
    lm = load_model(cfg.model, device=device, dtype=dtype, quantization=quant)
    model = lm.model
    if quant:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if cfg.gradient_checkpointing:
        enable_checkpointing(model)
    model.config.use_cache = False
    if cfg.projector_dropout >= 0:
        import torch

        for module in model.model.projector.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = cfg.projector_dropout
    saved = (["projector"] if cfg.train_projector else []) + {"none": [], "head": [CTC_HEAD], "encoder": [ENCODER]}[
        cfg.train_ctc
    ]
    config = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_target_regex(cfg.lora_targets),
        modules_to_save=saved or None,
        bias="none",
    )
    peft_model = get_peft_model(model, config)
    if not any(p.requires_grad for p in peft_model.parameters()):
        raise ValueError(f"No trainable parameters: lora_targets {cfg.lora_targets} matched no module.")
    lm.model = peft_model
    return lm, peft_model


def enable_checkpointing(model) -> None:
    """Activation checkpointing on the language model (the top-level GraniteSpeech class refuses it)."""
    model.model.language_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def freeze_encoder_mode(peft_model) -> None:
    """Keep the frozen audio encoder in eval mode (no dropout noise) while the rest trains."""
    peft_model.get_base_model().model.encoder.eval()


def trainable_summary(peft_model) -> str:
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft_model.parameters())
    return f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)"


def forward_logits(model, core, batch, encoder_out: list | None = None):
    """Logits for a training batch: the encoder runs on each clip alone (no padding effects), the
    projector (trainable) on the padded batch of encoder outputs (its 15-frame windows are independent),
    and the language model on the merged embeddings. `encoder_out` collects each clip's encoder output
    (for the CTC loss)."""
    import torch

    encoder, projector = core.model.encoder, core.model.projector
    trainable_encoder = any(p.requires_grad for p in encoder.parameters())
    with torch.set_grad_enabled(trainable_encoder and torch.is_grad_enabled()):
        enc = [encoder(f.to(core.dtype)).last_hidden_state[0] for f in batch["audio_features"]]
    if encoder_out is not None:
        encoder_out.extend(enc)
    projected = projector(torch.nn.utils.rnn.pad_sequence(enc, batch_first=True))
    audio_id = core.config.audio_token_id
    counts = (batch["input_ids"] == audio_id).sum(dim=1).tolist()
    audio = torch.cat([projected[i, :n] for i, n in enumerate(counts)])
    embeds = core.model.get_merged_audio_embeddings(batch["input_ids"], audio, None)
    return model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).logits
