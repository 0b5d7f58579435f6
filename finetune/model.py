"""The lm_lora recipe (finetune/recipes.py): the base (optionally 4/8-bit) with LoRA on the language model, the
loss on the answer tokens, optionally a CTC loss on the encoder's head."""

from __future__ import annotations

import torch

from granite_workbench.adapters import CTC_HEAD, ENCODER
from granite_workbench.loading import LoadedModel, load_model

from .config import LM_PROJECTIONS


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
        target_modules=lora_target_regex(cfg.lora_targets or LM_PROJECTIONS),
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


def token_loss_sum(model, core, batch, ctc: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sum of the next-token cross-entropy over answer tokens, and their count; with `ctc`, also the CTC loss
    of the encoder's head against the transcripts, summed (zero otherwise)."""
    labels = batch["labels"]
    encoded: list = []
    logits = forward_logits(model, core, batch, encoded if ctc else None)[:, :-1].float()
    target = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return loss, (target != -100).sum(), ctc_loss_sum(core, encoded, batch["ctc_targets"]) if ctc else loss * 0


def ctc_loss_sum(core, encoded: list, targets: list[list[int]]) -> torch.Tensor:
    """CTC loss of the encoder's head (`encoder.out`) on each clip with a transcript, summed."""
    head = core.model.encoder.out
    pairs = [(h, t) for h, t in zip(encoded, targets) if t]
    if not pairs:
        return head.weight.sum() * 0  # keeps the graph (and DDP) whole when a batch has no transcript
    total = head.weight.sum() * 0
    for hidden, target in pairs:
        log_probs = torch.log_softmax(head(hidden).float(), dim=-1)[:, None]  # (frames, 1, labels)
        total = total + torch.nn.functional.ctc_loss(
            log_probs,
            torch.tensor([target]),
            torch.tensor([log_probs.shape[0]]),
            torch.tensor([len(target)]),
            blank=0,
            reduction="sum",
            zero_infinity=True,
        )
    return total


class LMRecipe:
    """Granite Speech with a language model: prompt + answer examples (examples.py), next-token loss."""

    name = "lm_lora"

    def setup_model(self, cfg, device: str):
        return setup_model(cfg, device)

    def builder(self, lm, cfg, train_rows):
        from .examples import ExampleBuilder, candidate_keywords

        pool = sorted({w for r in train_rows for w in candidate_keywords(r.text) + r.keywords})
        return ExampleBuilder(
            lm.processor,
            keywords_from_transcript=cfg.keywords_from_transcript,
            keyword_distractors=cfg.keyword_distractors,
            keyword_augment=cfg.keyword_augment,
            distractor_pool=pool,
            ctc_labels=unwrap(lm.model).config.encoder_config.output_dim,
        )

    def collator(self, lm):
        from .examples import Collator

        return Collator(lm.processor)

    def counts(self, batch) -> dict[str, torch.Tensor]:
        chars = torch.tensor(sum(len(t) for t in batch["ctc_targets"]), dtype=torch.float)
        return {"loss": (batch["labels"][:, 1:] != -100).sum().float(), "ctc_loss": chars}

    def losses(self, model, core, batch, cfg) -> dict[str, torch.Tensor]:
        ctc = cfg.train_ctc != "none"
        loss, _, ctc_sum = token_loss_sum(model, core, batch, ctc)
        return {"loss": loss, "ctc_loss": ctc_sum} if ctc else {"loss": loss}

    def train_mode(self, peft_model) -> None:
        peft_model.train()
        freeze_encoder_mode(peft_model)

    def row_checker(self, lm):
        """Rows whose task the model does not do (speaker turns for a model without the plus modes)."""
        from granite_workbench.models import UnsupportedTaskError, require_task, short_name, spec_for

        spec = spec_for(lm.model_id, lm.architecture)

        def problems(row) -> list[tuple[str, str]]:
            try:
                require_task(spec, row.task, short_name(lm.model_id))
            except UnsupportedTaskError as exc:
                return [("task the model cannot learn", str(exc))]
            return []

        return problems


def unwrap(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model
