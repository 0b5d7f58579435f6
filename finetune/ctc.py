"""The ctc_lora and ctc_full recipes (finetune/recipes.py): Granite Speech 5.0 Turbo CTC, which has no language model.

An example is the clip's features (computed alone, as the CTC engine computes them) and its transcript written in
the model's own units (its tokenizer, no special tokens). The loss is the model's own: `GraniteSpeech5ForCTC`
called with `labels` computes `torch.nn.functional.ctc_loss` over its valid frames with blank = pad = id 0; the
config's reduction is set to "sum" while training so the loop can normalise by the transcript units of the whole
global batch (one process with batch 8 and two with batch 4 compute the same gradient).

Targets: a vocabulary without capitals gets lower-cased text and punctuation the vocabulary cannot write is dropped
(the model never writes it). A row is a bad row when it is a translation, in a language the model does not
transcribe, has any other character the vocabulary cannot write (digits, letters of another script), or has more
units than the clip has encoder frames (CTC cannot emit it). An `asr_keywords` row trains as plain ASR.
Batch norm in the encoder's convolution modules keeps its stored statistics (the base model's buffers are not part
of an adapter, and batch statistics would make a batch of 8 differ from two of 4).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from granite_workbench.ctc_engine import padded_features
from granite_workbench.loading import load_model, unwrap_peft
from granite_workbench.models import spec_for
from granite_workbench.prompts import TaskSpec
from granite_workbench.tasks import TASKS

IGNORE = -100
# LoRA on the encoder's attention, feed-forward and convolution-module projections and on the CTC head (the real
# model's names; without the convolution module's, the miniature learns the phrase set several times slower)
CTC_LORA_TARGETS = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "linear1",
    "linear2",
    "pointwise_lin1",
    "pointwise_lin2",
    "ctc_head",
]
LAYER_PARTS = r"self_attn|feed_forward[12]|conv"
FULL_MODULES = ["encoder", "ctc_head"]  # ctc_full: trained in full, saved in the adapter


def ctc_lora_regex(targets: list[str]) -> str:
    layer = [t for t in targets if t != "ctc_head"]
    parts = [rf"encoder\.layers\.\d+\.({LAYER_PARTS})\.({'|'.join(layer)})"] if layer else []
    if "ctc_head" in targets:
        parts.append("ctc_head")
    return rf"^({'|'.join(parts)})$"


def setup_ctc_model(cfg, device: str, full: bool):
    """Load the CTC model on `device` in float32 (on a CPU) and wrap it: LoRA, or every weight (ctc_full)."""
    from peft import LoraConfig, get_peft_model
    from peft.utils.constants import DUMMY_TARGET_MODULES

    dtype = "float32" if cfg.dtype == "auto" and device == "cpu" else cfg.dtype
    lm = load_model(cfg.model, device=device, dtype=dtype)
    targets = cfg.lora_targets or CTC_LORA_TARGETS
    config = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=DUMMY_TARGET_MODULES if full else ctc_lora_regex(targets),  # peft's "no LoRA layers"
        modules_to_save=FULL_MODULES if full else None,
        bias="none",
    )
    peft_model = get_peft_model(lm.model, config)
    if not any(p.requires_grad for p in peft_model.parameters()):
        raise ValueError(f"No trainable parameters: lora_targets {targets} matched no module of the CTC model.")
    unwrap_peft(peft_model).config.ctc_loss_reduction = "sum"
    lm.model = peft_model
    return lm, peft_model


def target_text(text: str, vocabulary: set[str]) -> tuple[str, str]:
    """(the text the model can write, the characters it cannot: empty when the row is usable)."""
    letters = {c for piece in vocabulary for c in piece}
    if not any(c.isupper() for c in letters):
        text = text.lower()
    kept, missing = [], []
    for c in text:
        if c.isspace() or c in letters:
            kept.append(c)
        elif unicodedata.category(c).startswith("P"):
            kept.append(" ")
        elif c not in missing:
            missing.append(c)
    return " ".join("".join(kept).split()), "".join(missing)


def repeats(ids: list[int]) -> int:
    return sum(a == b for a, b in zip(ids, ids[1:]))


@dataclass
class CTCExampleBuilder:
    """Rows -> examples; an `asr_keywords` row trains as plain ASR (its text is the transcript; the model takes no
    prompt)."""

    processor: Any
    core: Any  # the CTC model (for its frame count)
    languages: tuple[str, ...] = ()  # the languages it transcribes (the model table's)

    def __post_init__(self):
        self.tokenizer = self.processor.tokenizer
        self.vocabulary = set(self.tokenizer.get_vocab()) - set(self.tokenizer.all_special_tokens)

    def labels(self, text: str) -> list[int]:
        return self.tokenizer(target_text(text, self.vocabulary)[0], add_special_tokens=False)["input_ids"]

    def frames(self, seconds: float) -> int:
        """Encoder frames for a clip of this length (the feature extractor's hop and stacking, then the model's
        subsampling)."""
        fe = self.processor.feature_extractor
        mel = int(seconds * fe.sampling_rate) // fe.hop_length
        stacked = -(-mel // fe.frame_stacking)
        return int(self.core._get_subsampling_output_length(torch.tensor([stacked]))[0])

    def problems(self, row) -> list[tuple[str, str]]:
        task = TASKS.get(row.task)
        if task is None or task.translation or task.name not in ("asr", "asr_keywords"):
            return [("task the model cannot learn", f"{row.task!r}: the CTC model only transcribes (task asr)")]
        if self.languages and row.language not in self.languages:
            known = ", ".join(self.languages)
            return [("language the model cannot learn", f"{row.language!r}: it transcribes {known}")]
        text, missing = target_text(row.text, self.vocabulary)
        if missing:
            return [("characters the model cannot write", f"{missing!r} (its vocabulary has no units for them)")]
        ids = self.labels(row.text)
        need, have = len(ids) + repeats(ids), self.frames(row.duration)
        if row.duration and need > have:
            return [("transcript too long for the clip", f"{need} CTC steps in {have} encoder frames")]
        return []

    def eval_spec(self, row) -> TaskSpec:
        return TaskSpec("asr", language=row.language)

    def build(self, row, samples, rng) -> dict[str, Any]:
        return {"samples": samples, "labels": self.labels(row.text)}


@dataclass
class CTCCollator:
    processor: Any

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        features, mask = padded_features(self.processor.feature_extractor, [np.asarray(b["samples"]) for b in batch])
        width = max(1, max(len(b["labels"]) for b in batch))
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        for i, b in enumerate(batch):
            labels[i, : len(b["labels"])] = torch.tensor(b["labels"], dtype=torch.long)
        return {"input_features": features, "attention_mask": mask, "labels": labels}


class CTCRecipe:
    def __init__(self, full: bool):
        self.full = full
        self.name = "ctc_full" if full else "ctc_lora"
        self._builder: CTCExampleBuilder | None = None

    def setup_model(self, cfg, device: str):
        lm, peft_model = setup_ctc_model(cfg, device, self.full)
        self._builder = self.example_builder(lm)
        return lm, peft_model

    @staticmethod
    def example_builder(lm) -> CTCExampleBuilder:
        spec = spec_for(lm.model_id, lm.architecture)
        return CTCExampleBuilder(lm.processor, unwrap_peft(lm.model), spec.languages)

    def builder(self, lm, cfg, train_rows) -> CTCExampleBuilder:
        return self._builder

    def collator(self, lm) -> CTCCollator:
        return CTCCollator(lm.processor)

    def counts(self, batch) -> dict[str, torch.Tensor]:
        return {"loss": (batch["labels"] != IGNORE).sum().float()}

    def losses(self, model, core, batch, cfg) -> dict[str, torch.Tensor]:
        out = model(
            input_features=batch["input_features"].to(core.dtype),
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        )
        return {"loss": out.loss}

    def train_mode(self, peft_model) -> None:
        peft_model.train()
        for module in peft_model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()

    def row_checker(self, lm):
        """Why a row cannot train this model (kind, detail) pairs, for the loaded model `lm`."""
        return self.example_builder(lm).problems
