"""The one typed training config: YAML file + command-line overrides.

    python -m finetune.train --config finetune/configs/cpu_smoke.yaml --max_steps 50 --lr 1e-3

Every field carries its help in its metadata; `python -m finetune.train --help` prints them.

Where the data comes from is two choices, each made once:
    train data  = train_manifest  or  dataset (+ dataset_split)
    eval data   = eval_manifest   or  eval_split (a split of `dataset`)   or nothing
Layers: the YAML file < command-line flags < keyword overrides (notebooks, the demo). A layer that names
one side of a choice replaces the other side from the layers below (`--dataset audiofolder:DIR` over a
config with `train_manifest` trains on the audiofolder); naming both sides in one layer is refused.
`origin` records where each data field came from; the run prints it and writes it to workbench.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from granite_workbench.loading import DEFAULT_MODEL_ID, DTYPES, QUANTIZATION_CHOICES
from granite_workbench.paths import project_path
from granite_workbench.tasks import TASK_NAMES

from .recipes import RECIPE_NAMES

LM_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# one choice each: (side A, side B); see the module docstring
DATA_CHOICES = {"train data": ("train_manifest", "dataset"), "eval data": ("eval_manifest", "eval_split")}
DATA_FIELDS = (
    "train_manifest",
    "dataset",
    "dataset_split",
    "eval_manifest",
    "eval_split",
    "audio_column",
    "text_column",
)


def opt(default: Any, help: str, choices: tuple[str, ...] | None = None, cli: bool = True):
    """A config field: its default, its help text (for --help) and, for strings, the allowed values."""
    meta = {"help": help, "choices": choices, "cli": cli}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    # --- model -----------------------------------------------------------------------------------
    model: str = opt(DEFAULT_MODEL_ID, "hub id, local folder or 'tiny'")
    quantization: str = opt(
        "none", "bitsandbytes base weights, CUDA only: none | 4bit (QLoRA, nf4) | 8bit", QUANTIZATION_CHOICES
    )
    dtype: str = opt("auto", "weights dtype: auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16 | float16", DTYPES)
    mixed_precision: str = opt(
        "auto", "accelerate mixed precision: auto (bf16 on CUDA) | no | bf16 | fp16", ("auto", "no", "bf16", "fp16")
    )
    gradient_checkpointing: bool = opt(
        False, "recompute activations in the backward pass: less memory, about 30% slower"
    )
    recipe: str = opt(
        "auto",
        "what trains: auto (the model's first) | lm_lora (models with a language model) | ctc_lora (LoRA on the "
        "CTC model's encoder and head) | ctc_full (every weight of the CTC model); finetune/recipes.py",
        RECIPE_NAMES,
    )
    # --- LoRA ------------------------------------------------------------------------------------
    lora_r: int = opt(16, "LoRA rank")
    lora_alpha: int = opt(32, "LoRA scaling numerator (scale = alpha / r)")
    lora_dropout: float = opt(0.05, "dropout on the LoRA input")
    lora_targets: list[str] = opt(
        [],
        "projections that get LoRA, comma-separated (empty: the recipe's own: lm_lora the language model's "
        f"{','.join(LM_PROJECTIONS)}; ctc_lora the encoder's q_proj,k_proj,v_proj,o_proj,linear1,linear2 and ctc_head)",
    )
    train_projector: bool = opt(
        True, "also train the Q-Former projector in full (saved in the adapter; models with a language model)"
    )
    projector_dropout: float = opt(
        -1.0, "set the projector's dropout to this while training (-1: keep the model's 0.1)"
    )
    train_ctc: str = opt(
        "none",
        "also train the encoder's CTC head with a CTC loss on the transcripts, so that "
        "domain words appear in speculative-decoding drafts and word times follow them: "
        "none | head (the head only) | encoder (the head and the whole encoder)",
        ("none", "head", "encoder"),
    )
    ctc_weight: float = opt(1.0, "weight of the CTC loss next to the language model's loss")
    # --- data ------------------------------------------------------------------------------------
    train_manifest: str = opt("", "JSONL or CSV manifest (audio, text, task, language, target_language, keywords)")
    eval_manifest: str = opt("", "evaluation manifest, scored every eval_steps (empty: none)")
    dataset: str = opt(
        "", "instead of train_manifest: a Hugging Face dataset (hub id, saved folder, or audiofolder:DIR)"
    )
    dataset_split: str = opt("train", "split of `dataset` used for training")
    eval_split: str = opt("", "instead of eval_manifest: a split of `dataset` used for evaluation (empty: none)")
    audio_column: str = opt("audio", "audio column of `dataset`")
    text_column: str = opt("text", "transcript / translation column of `dataset`")
    default_task: str = opt("asr", "task of rows that name none", TASK_NAMES)
    default_language: str = opt("en", "language of rows that name none")
    max_audio_seconds: float = opt(30.0, "longer clips are reported as bad rows")
    max_label_tokens: int = opt(200, "longer labels are reported as bad rows")
    on_bad_rows: str = opt(
        "skip", "skip: drop bad rows and report them | stop: refuse to train, with the report", ("skip", "stop")
    )
    keywords_from_transcript: int = opt(2, "asr_keywords rows without keywords: how many words drawn from the text")
    keyword_distractors: int = opt(
        2, "words not in the text added to each keyword list (teaches the model to ignore them)"
    )
    keyword_augment: float = opt(0.0, "probability that an ASR row is trained as asr_keywords instead")
    # --- optimisation ----------------------------------------------------------------------------
    lr: float = opt(2e-4, "peak learning rate (AdamW)")
    weight_decay: float = opt(0.0, "AdamW weight decay")
    warmup_steps: int = opt(10, "linear warmup from 0 to lr")
    lr_schedule: str = opt("cosine", "schedule after warmup", ("cosine", "linear", "constant"))
    max_steps: int = opt(200, "optimizer steps in all")
    batch_size: int = opt(8, "examples per device per micro-step")
    grad_accum: int = opt(1, "micro-steps per optimizer step (global batch = batch_size x devices x grad_accum)")
    max_grad_norm: float = opt(1.0, "gradient clipping (0: off)")
    seed: int = opt(0, "seeds data order, keyword sampling, dropout and LoRA init")
    num_workers: int = opt(0, "DataLoader workers")
    # --- evaluation, logging, checkpoints --------------------------------------------------------
    output_dir: str = opt("checkpoints/run", "run folder: checkpoints, metrics.jsonl, TensorBoard logs, reports")
    eval_steps: int = opt(50, "evaluate every N steps (0: only at the end)")
    eval_max_examples: int = opt(64, "evaluate generated text on at most this many eval rows")
    eval_max_new_tokens: int = opt(128, "generation length limit during evaluation")
    save_steps: int = opt(50, "checkpoint every N steps (a final one is always written)")
    keep_last: int = opt(2, "checkpoints kept besides the best one")
    best_metric: str = opt("eval_loss", "lower is better: eval_loss | wer | cer; higher: bleu | keyword_recall")
    resume_from: str = opt("", "a checkpoint folder, or 'latest' in output_dir")
    stop_after_steps: int = opt(0, "stop early at this step as if interrupted (the schedule still spans max_steps)")
    log_steps: int = opt(1, "log loss and lr every N steps")
    tensorboard: bool = opt(True, "also log to TensorBoard (<output_dir>/tensorboard)")
    # where each data field's value came from (default, the YAML file, command line, override)
    origin: dict[str, str] = opt({}, "where the data fields came from (set by load_config)", cli=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) not in allowed:
                raise ValueError(f"{f.name}={getattr(self, f.name)!r}: choose one of {', '.join(allowed)}.")
        if not (self.train_manifest or self.dataset):
            raise ValueError("Give train_manifest (a JSONL/CSV file) or dataset (a Hugging Face dataset).")
        if self.train_manifest and self.dataset and not self.eval_split:
            raise ValueError(
                f"Both train_manifest ({self.train_manifest}) and dataset ({self.dataset}) are set: "
                "train on one of them."
            )
        if self.eval_split and not self.dataset:
            raise ValueError(
                f"eval_split={self.eval_split!r} names a split of `dataset`, but no dataset is set; "
                "give eval_manifest or a dataset."
            )
        if self.max_steps <= 0 or self.batch_size <= 0 or self.grad_accum <= 0:
            raise ValueError("max_steps, batch_size and grad_accum must be positive.")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "origin"}

    def data_sources(self) -> dict[str, dict[str, str] | None]:
        """The train and eval data this config names, each with where the choice came from."""

        def where(name: str) -> str:
            return self.origin.get(name, "default")

        train = (
            {"source": self.train_manifest, "from": where("train_manifest")}
            if self.train_manifest
            else {"source": f"{self.dataset}[{self.dataset_split}]", "from": where("dataset")}
        )
        if self.eval_manifest:
            evals = {"source": self.eval_manifest, "from": where("eval_manifest")}
        elif self.eval_split:
            evals = {"source": f"{self.dataset}[{self.eval_split}]", "from": where("eval_split")}
        else:
            evals = None
        return {"train": train, "eval": evals}


def cli_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("cli", True)]


def field_docs() -> dict[str, str]:
    """Each command-line field's help text."""
    return {f.name: f.metadata["help"] for f in cli_fields()}


def _parse_value(tp, raw: str):
    origin = typing.get_origin(tp)
    if tp is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise argparse.ArgumentTypeError(f"expected true/false, got {raw!r}")
    if origin is list:
        return [x.strip() for x in raw.split(",") if x.strip()]
    return tp(raw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m finetune.train",
        description="LoRA / QLoRA fine-tuning of Granite Speech. Values come from "
        "--config (YAML), then from these flags. The train data is train_manifest or dataset, the eval data "
        "eval_manifest or eval_split: a flag for one side replaces the config's other side.",
    )
    parser.add_argument("--config", type=Path, help="YAML file with any of the fields below")
    hints = typing.get_type_hints(TrainConfig)
    for f in cli_fields():
        tp = hints[f.name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        shown = ",".join(default) if isinstance(default, list) else default
        text = f"{f.metadata['help']} (default: {shown!r})".replace("%", "%%")  # argparse formats help with %
        parser.add_argument(
            f"--{f.name}",
            dest=f.name,
            default=None,
            help=text,
            metavar=tp.__name__.upper() if hasattr(tp, "__name__") else "LIST",
            type=lambda raw, tp=tp: _parse_value(tp, raw),
        )
    return parser


def _apply_layer(values: dict[str, Any], origin: dict[str, str], layer: dict[str, Any], where: str) -> None:
    """Merge one layer over the ones below; one side of a data choice clears the other side below."""
    for what, (a, b) in DATA_CHOICES.items():
        if layer.get(a) and layer.get(b) and what == "eval data":
            raise ValueError(f"{where}: eval_manifest and eval_split are both set; evaluate on one of them.")
        if layer.get(a) and layer.get(b) and not layer.get("eval_split"):
            raise ValueError(f"{where}: train_manifest and dataset are both set; train on one of them.")
        for mine, other in ((a, b), (b, a)):
            if mine in layer and other not in layer and values.get(other):
                values[other] = ""
                origin[other] = f"cleared by {mine} from {where}"
    for k, v in layer.items():
        values[k] = v
        origin[k] = where


def load_config(argv: list[str] | None = None, **overrides) -> TrainConfig:
    """YAML (--config) < command-line flags < keyword overrides."""
    import yaml

    args = build_parser().parse_args(argv or [])
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if args.config:
        loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        unknown = set(loaded) - {f.name for f in cli_fields()}
        if unknown:
            raise ValueError(f"{args.config}: unknown field(s) {', '.join(sorted(unknown))}.")
        for key in ("train_manifest", "eval_manifest"):  # data named in a shipped config is the project's
            if loaded.get(key):
                loaded[key] = str(project_path(loaded[key]))
        _apply_layer(values, origin, loaded, f"config file {args.config}")
    _apply_layer(
        values, origin, {k: v for k, v in vars(args).items() if k != "config" and v is not None}, "command line"
    )
    if overrides:
        _apply_layer(values, origin, overrides, "caller")
    return TrainConfig(**values, origin={k: v for k, v in origin.items() if k in DATA_FIELDS})
