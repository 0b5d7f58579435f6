"""The one typed training config: YAML file + command-line overrides.

    python -m finetune.train --config finetune/configs/cpu_smoke.yaml --max_steps 50 --lr 1e-3

Every field below is documented where it is declared; `python -m finetune.train --help` prints them.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


LM_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    # --- model -----------------------------------------------------------------------------------
    model: str = "ibm-granite/granite-4.0-1b-speech"  # hub id, local folder or 'tiny'
    quantization: str = "none"  # none | 4bit (QLoRA, nf4) | 8bit: bitsandbytes base weights, CUDA only
    dtype: str = "auto"  # weights dtype: auto (bf16 on CUDA, fp32 on CPU) | float32 | bfloat16 | float16
    mixed_precision: str = "auto"  # accelerate mixed precision: auto (bf16 on CUDA) | no | bf16 | fp16
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~30% slower
    # --- LoRA ------------------------------------------------------------------------------------
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scaling numerator (scale = alpha / r)
    lora_dropout: float = 0.05  # dropout on the LoRA input
    lora_targets: list[str] = field(default_factory=lambda: LM_PROJECTIONS)  # LM attention/MLP projections with LoRA
    train_projector: bool = True  # also train the Q-Former projector in full (saved in the adapter)
    projector_dropout: float = -1.0  # set the projector's dropout to this while training (-1: keep the model's 0.1)
    # --- data ------------------------------------------------------------------------------------
    train_manifest: str = ""  # JSONL or CSV manifest (audio, text, task, language, target_language, keywords)
    eval_manifest: str = ""  # optional; evaluated every eval_steps
    dataset: str = ""  # alternatively a Hugging Face dataset: a hub id, a saved dataset folder, or audiofolder:DIR
    dataset_split: str = "train"  # split of `dataset` used for training
    eval_split: str = ""  # split of `dataset` used for evaluation (empty: none)
    audio_column: str = "audio"  # audio column of `dataset`
    text_column: str = "text"  # transcript / translation column of `dataset`
    default_task: str = "asr"  # task of rows that name none: asr | ast | asr_keywords
    default_language: str = "en"  # language of rows that name none
    max_audio_seconds: float = 30.0  # longer clips are reported as bad rows
    max_label_tokens: int = 200  # longer labels are reported as bad rows
    on_bad_rows: str = "skip"  # skip: drop bad rows and report them | stop: refuse to train, with the report
    keywords_from_transcript: int = 2  # asr_keywords rows without keywords: how many words drawn from the text
    keyword_distractors: int = 2  # words not in the text added to each keyword list (teaches it to ignore them)
    keyword_augment: float = 0.0  # probability that an ASR row is trained as asr_keywords instead
    # --- optimisation ----------------------------------------------------------------------------
    lr: float = 2e-4  # peak learning rate (AdamW)
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 10  # linear warmup from 0 to lr
    lr_schedule: str = "cosine"  # cosine | linear | constant (after warmup)
    max_steps: int = 200  # optimizer steps in all
    batch_size: int = 8  # examples per device per micro-step
    grad_accum: int = 1  # micro-steps per optimizer step (global batch = batch_size x devices x grad_accum)
    max_grad_norm: float = 1.0  # gradient clipping (0: off)
    seed: int = 0  # seeds data order, keyword sampling, dropout and LoRA init
    num_workers: int = 0  # DataLoader workers
    # --- evaluation, logging, checkpoints --------------------------------------------------------
    output_dir: str = "checkpoints/run"  # run folder: checkpoints, metrics.jsonl, TensorBoard logs, reports
    eval_steps: int = 50  # evaluate every N steps (0: only at the end)
    eval_max_examples: int = 64  # evaluate generated text on at most this many eval rows
    eval_max_new_tokens: int = 128  # generation length limit during evaluation
    save_steps: int = 50  # checkpoint every N steps (a final one is always written)
    keep_last: int = 2  # checkpoints kept besides the best one
    best_metric: str = "eval_loss"  # lower is better: eval_loss | wer | cer; higher: bleu | keyword_recall
    resume_from: str = ""  # a checkpoint folder, or 'latest' in output_dir
    stop_after_steps: int = 0  # stop early at this step as if interrupted (the schedule still spans max_steps)
    log_steps: int = 1  # log loss and lr every N steps
    tensorboard: bool = True  # also log to TensorBoard (<output_dir>/tensorboard)

    def __post_init__(self) -> None:
        choices = {"quantization": ("none", "4bit", "8bit"), "on_bad_rows": ("skip", "stop"),
                   "lr_schedule": ("cosine", "linear", "constant"), "default_task": ("asr", "ast", "asr_keywords"),
                   "mixed_precision": ("auto", "no", "bf16", "fp16")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: choose one of {', '.join(allowed)}.")
        if not (self.train_manifest or self.dataset):
            raise ValueError("Give train_manifest (a JSONL/CSV file) or dataset (a Hugging Face dataset).")
        if self.max_steps <= 0 or self.batch_size <= 0 or self.grad_accum <= 0:
            raise ValueError("max_steps, batch_size and grad_accum must be positive.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def field_docs() -> dict[str, str]:
    """Each field's comment from the source, for --help."""
    import inspect
    import re

    docs: dict[str, str] = {}
    for line in inspect.getsource(TrainConfig).splitlines():
        m = re.match(r"\s+(\w+): [^=]+=.*?  #\s*(.+)$", line)
        if m:
            docs[m.group(1)] = m.group(2)
    return docs


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
        prog="python -m finetune.train", description="LoRA / QLoRA fine-tuning of Granite Speech. Values come from "
        "--config (YAML), then from these flags.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", type=Path, help="YAML file with any of the fields below")
    docs = field_docs()
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        tp = hints[f.name]
        parser.add_argument(f"--{f.name}", dest=f.name, default=None, metavar=tp.__name__.upper()
                            if hasattr(tp, "__name__") else "LIST",
                            type=lambda raw, tp=tp: _parse_value(tp, raw), help=docs.get(f.name, ""))
    return parser


def load_config(argv: list[str] | None = None, **overrides) -> TrainConfig:
    """YAML (--config) < command-line flags < keyword overrides."""
    import yaml

    args = build_parser().parse_args(argv or [])
    values: dict[str, Any] = {}
    if args.config:
        loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        unknown = set(loaded) - {f.name for f in dataclasses.fields(TrainConfig)}
        if unknown:
            raise ValueError(f"{args.config}: unknown field(s) {', '.join(sorted(unknown))}.")
        values.update(loaded)
    values.update({k: v for k, v in vars(args).items() if k != "config" and v is not None})
    values.update(overrides)
    return TrainConfig(**values)
