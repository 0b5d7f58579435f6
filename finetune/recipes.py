"""Fine-tuning recipes: what one training step means for each kind of Granite Speech model.

    lm_lora   models with a language model (4.0, 4.1, 4.1-plus): LoRA on the language model's projections, the
              projector optionally in full, the loss on the answer tokens (finetune/model.py, examples.py)
    ctc_lora  5.0 Turbo CTC: LoRA on the encoder's attention and feed-forward projections and on the CTC head,
              the model's own CTC loss (finetune/ctc.py)
    ctc_full  5.0 Turbo CTC: every encoder weight and the head trained, saved as full copies in the same adapter
              folder (peft `modules_to_save`), so it is listed, hot-loaded, compared and exported like LoRA

`recipe: auto` takes the first recipe of the model's entry in the model table; a recipe the model cannot run, or
an option that means nothing for it, is refused with the reason before anything loads. The training loop
(finetune/train.py) is the same for every recipe: it asks the recipe for the examples, the loss terms and their
normalisers, and how to hold frozen parts while training.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from granite_workbench.loading import model_architecture
from granite_workbench.models import spec_for

RECIPE_NAMES = ("auto", "lm_lora", "ctc_lora", "ctc_full")


class Recipe(Protocol):
    name: str

    def setup_model(self, cfg, device: str) -> tuple[Any, Any]:
        """(LoadedModel, peft model) on `device`, with the trainable parts chosen."""

    def builder(self, lm, cfg, train_rows: list) -> Any:
        """An example builder: `.build(row, samples, rng)` -> an example dict."""

    def collator(self, lm) -> Any:
        """Examples -> a batch."""

    def counts(self, batch) -> dict[str, torch.Tensor]:
        """Each loss term's normaliser in this batch (answer tokens, transcript units)."""

    def losses(self, model, core, batch, cfg) -> dict[str, torch.Tensor]:
        """Each loss term summed over the batch; "loss" is the main one."""

    def train_mode(self, peft_model) -> None:
        """Put the model in training mode, frozen parts held still."""

    def row_checker(self, lm):
        """For the loaded model `lm`: row -> why it cannot train this model ((kind, detail) pairs), or None when the
        shared checks are all."""


def choose(cfg) -> str:
    """The recipe name for `cfg`, or ValueError saying why the config does not fit the model."""
    arch = model_architecture(cfg.model)
    spec = spec_for(cfg.model, arch)
    name = spec.recipes[0] if cfg.recipe == "auto" else cfg.recipe
    if name not in spec.recipes:
        raise ValueError(
            f"recipe={cfg.recipe}: {spec.short} ({arch}) is fine-tuned with {' or '.join(spec.recipes)}; "
            f"{name} is for {', '.join(s.short for s in _models_with(name))}."
        )
    if not spec.llm:
        for problem in _lm_only_options(cfg):
            raise ValueError(f"{problem}: {spec.short} has no language model, so this option means nothing for it.")
    return name


def choose_for_run(model: str, values: dict[str, Any]) -> str:
    """`choose` for a run about to start from the demo: `values` are the config file's and the run's overrides."""
    import dataclasses
    from types import SimpleNamespace

    from .config import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    return choose(SimpleNamespace(**{**defaults, **values, "model": model}))


def _models_with(recipe: str):
    from granite_workbench.models import MODELS

    return [m for m in MODELS.values() if recipe in m.recipes]


def _lm_only_options(cfg) -> list[str]:
    """Options of the language-model recipe that a config sets for a CTC model."""
    out = []
    if cfg.train_ctc != "none":
        out.append(f"train_ctc={cfg.train_ctc} (the CTC head of a language model)")
    if cfg.keyword_augment > 0:
        out.append(f"keyword_augment={cfg.keyword_augment} (keyword prompts)")
    if cfg.quantization != "none":
        out.append(f"quantization={cfg.quantization} (QLoRA of a language model)")
    return out


def recipe_for(cfg) -> Recipe:
    name = choose(cfg)
    if name == "lm_lora":
        from .model import LMRecipe

        return LMRecipe()
    from .ctc import CTCRecipe

    return CTCRecipe(full=name == "ctc_full")
