"""Fine-tuning of any Granite Speech model: setup -> train -> save_checkpoint -> cleanup.

    python -m finetune.train --config finetune/configs/cpu_smoke.yaml
    accelerate launch --num_processes 2 -m finetune.train --config finetune/configs/multi_gpu.yaml

The same script runs on CPU, one GPU, several GPUs and several nodes: accelerate does the distribution. What a
step trains (LoRA on a language model, or CTC on the 5.0 model) is the recipe's (finetune/recipes.py).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from granite_workbench.adapters import WEIGHTS_FILE, model_signature
from granite_workbench.audio import Audio
from granite_workbench.engine import engine_for
from granite_workbench.evaluation import score, scored_text
from granite_workbench.loading import ModelLoadError
from granite_workbench.metrics import is_better
from granite_workbench.tasks import TASKS
from granite_workbench.transcribe import Transcriber

from . import checkpoint as ckpt
from .config import TrainConfig, load_config
from .data import DataError, Row, load_rows
from .examples import SpeechDataset, clip_samples
from .model import trainable_summary
from .recipes import Recipe, recipe_for


@dataclass
class State:
    cfg: TrainConfig
    accelerator: Any
    lm: Any
    model: Any
    optimizer: Any
    scheduler: Any
    loader: Any
    dataset: SpeechDataset
    collator: Any
    train_rows: list[Row]
    eval_rows: list[Row]
    output_dir: Path
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches consumed in the current epoch
    best_value: float | None = None
    best_path: str | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    writer: Any = None
    resume_rng: dict | None = None
    stop_requested: bool = False  # set by SIGTERM (the demo's Stop): save at the current step and end
    last_checkpoint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the exact train / eval sources and their row counts
    recipe: Recipe | None = None


def data_summary(cfg: TrainConfig, train_report, eval_report) -> dict[str, Any]:
    """What the run trains and evaluates on: source, where that choice came from, rows and usable rows."""
    out: dict[str, Any] = {}
    for which, src in cfg.data_sources().items():
        report = train_report if which == "train" else eval_report
        out[which] = None if src is None or report is None else {**src, "rows": report.total, "usable": report.ok}
    return out


def data_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for which in ("train", "eval"):
        d = data.get(which)
        lines.append(
            f"{which} data: none"
            if d is None
            else f"{which} data: {d['source']} — {d['rows']} rows, {d['usable']} usable (from {d['from']})"
        )
    return lines


def setup(cfg: TrainConfig) -> State:
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    mp = cfg.mixed_precision
    if mp == "auto":
        mp = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    # gradient accumulation is done by hand in train() (token-weighted), not by accelerate
    accelerator = Accelerator(mixed_precision=mp, dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True))
    set_seed(cfg.seed)
    output_dir = Path(cfg.output_dir)
    recipe = recipe_for(cfg)
    lm, model = recipe.setup_model(cfg, str(accelerator.device))
    tok, check = lm.processor.tokenizer, recipe.row_checker(lm)

    train_rows, train_report = load_rows(cfg, tok, "train", check)
    has_eval = cfg.eval_manifest or cfg.eval_split
    eval_rows, eval_report = load_rows(cfg, tok, "eval", check) if has_eval else ([], None)
    data = data_summary(cfg, train_report, eval_report)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        leftovers = ckpt.clean_leftovers(output_dir)
        if leftovers:
            print(f"removed what an interrupted run left: {', '.join(leftovers)}", file=sys.stderr)
        report = {"train": train_report.to_dict(), "eval": eval_report.to_dict() if eval_report else None}
        (output_dir / "validation_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        for line in data_lines(data):
            print(line, file=sys.stderr)
        for r in (train_report, eval_report):
            if r is not None and r.problems:
                print(r.summary(), file=sys.stderr)
        print(f"recipe {recipe.name}; {trainable_summary(model)}", file=sys.stderr)

    dataset = SpeechDataset(train_rows, recipe.builder(lm, cfg, train_rows), seed=cfg.seed)
    collator = recipe.collator(lm)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        collate_fn=collator,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # the scheduler is stepped by hand once per optimizer step (not prepared: accelerate would step it
    # once per process), so the schedule is the same whatever the number of processes
    scheduler = get_scheduler(
        "constant_with_warmup" if cfg.lr_schedule == "constant" else cfg.lr_schedule,
        optimizer,
        num_warmup_steps=cfg.warmup_steps,
        num_training_steps=cfg.max_steps,
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    state = State(
        cfg,
        accelerator,
        lm,
        model,
        optimizer,
        scheduler,
        loader,
        dataset,
        collator,
        train_rows,
        eval_rows,
        output_dir,
        data=data,
        recipe=recipe,
    )
    accelerator.wait_for_everyone()  # the main process has cleaned the run folder
    resume = ckpt.resolve_resume(cfg.output_dir, cfg.resume_from)
    if resume is not None:
        load_checkpoint(state, resume)
    if accelerator.is_main_process:  # a resumed run logs the steps after its checkpoint again
        dropped = ckpt.truncate_metrics(output_dir, state.step)
        if dropped and resume is not None:
            print(f"metrics.jsonl: dropped {dropped} entries after step {state.step}", file=sys.stderr)
    if accelerator.is_main_process and cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        state.writer = SummaryWriter(str(output_dir / "tensorboard"))
    return state


def load_checkpoint(state: State, path: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    acc = state.accelerator
    peft_model = acc.unwrap_model(state.model)
    set_peft_model_state_dict(peft_model, load_file(str(path / WEIGHTS_FILE)))
    sd = path / ckpt.STATE_DIR
    state.optimizer.load_state_dict(torch.load(sd / "optimizer.pt", weights_only=True))
    state.scheduler.load_state_dict(torch.load(sd / "scheduler.pt", weights_only=True))
    info = json.loads((sd / "trainer.json").read_text())
    state.step, state.epoch, state.batch_in_epoch = info["step"], info["epoch"], info["batch_in_epoch"]
    state.best_value, state.best_path = info.get("best_value"), info.get("best_path")
    rng_file = sd / f"rng_{acc.process_index}.pt"
    state.resume_rng = torch.load(rng_file, weights_only=False) if rng_file.exists() else None
    if acc.is_main_process:
        print(f"resumed from {path} at step {state.step}", file=sys.stderr)


def train(state: State) -> str:
    """Run until max_steps (or stop_after_steps). Returns 'finished' or 'stopped'."""
    from itertools import islice

    from tqdm import tqdm

    cfg, acc, model = state.cfg, state.accelerator, state.model
    bar = tqdm(
        total=cfg.max_steps,
        initial=state.step,
        desc="fine-tuning",
        unit="step",
        disable=not acc.is_main_process,
        file=sys.stderr,
        mininterval=0.2 if sys.stderr.isatty() else 5.0,
    )  # logs and CI get a line every 5 s
    state.recipe.train_mode(acc.unwrap_model(model))
    if state.resume_rng is not None:
        ckpt.set_rng_state(state.resume_rng)
    started = time.time()
    while state.step < cfg.max_steps:
        state.dataset.set_epoch(state.epoch)
        state.loader.set_epoch(state.epoch)
        loader = acc.skip_first_batches(state.loader, state.batch_in_epoch) if state.batch_in_epoch else state.loader
        batches = iter(loader)
        while state.step < cfg.max_steps:
            window = list(islice(batches, cfg.grad_accum))
            if not window:
                break
            means = optimizer_step(state, window)
            bar.update(1)
            if state.step % cfg.log_steps == 0 or state.step == cfg.max_steps:
                log(
                    state,
                    {
                        **means,
                        "lr": state.scheduler.get_last_lr()[0],
                        "epoch": state.epoch,
                        "elapsed_s": round(time.time() - started, 2),
                    },
                )
                bar.set_postfix(loss=f"{means['loss']:.4f}", refresh=False)
            outcome = after_step(state)
            if outcome:
                bar.close()
                return outcome
        else:
            break
        state.epoch += 1
        state.batch_in_epoch = 0
    bar.close()
    return "finished"


def optimizer_step(state: State, window: list) -> dict[str, float]:
    """One optimizer step over `grad_accum` micro-batches on every process; returns each loss term's mean.

    Each term (the recipe's: answer tokens, CTC units...) is its sum divided by its count over the whole global
    batch, so one process with batch 8 and two with batch 4 (or gradient accumulation) compute the same gradient.
    """
    from contextlib import nullcontext

    cfg, acc, model, recipe = state.cfg, state.accelerator, state.model, state.recipe
    core = acc.unwrap_model(model).get_base_model()
    local = [recipe.counts(b) for b in window]
    counts = {k: acc.gather(sum(c[k] for c in local).reshape(1).to(acc.device)).sum().clamp(min=1) for k in local[0]}
    weights = {"ctc_loss": cfg.ctc_weight}
    totals: dict[str, torch.Tensor] = {}
    for i, batch in enumerate(window):
        with nullcontext() if i == len(window) - 1 else acc.no_sync(model):
            sums = recipe.losses(model, core, batch, cfg)
            # DDP averages gradients over processes: scale back up to a global mean
            acc.backward(sum(weights.get(k, 1.0) * v * acc.num_processes / counts[k] for k, v in sums.items()))
        for k, v in sums.items():
            totals[k] = totals.get(k, 0) + v.detach()
    if cfg.max_grad_norm > 0:
        acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    state.optimizer.step()
    state.optimizer.zero_grad()
    state.scheduler.step()
    state.step += 1
    state.batch_in_epoch += len(window)
    return {k: (acc.gather(v.reshape(1)).sum() / counts[k]).item() for k, v in totals.items()}


def after_step(state: State) -> str | None:
    """Evaluate and checkpoint when due; 'finished' / 'stopped' when the run ends here."""
    cfg, acc = state.cfg, state.accelerator
    last = state.step == cfg.max_steps
    if state.stop_requested:
        acc.set_trigger()
    stop = (bool(cfg.stop_after_steps) and state.step == cfg.stop_after_steps) or acc.check_trigger()
    evaluated = False
    if state.eval_rows and ((cfg.eval_steps and state.step % cfg.eval_steps == 0) or last):
        state.last_metrics = evaluate(state)
        evaluated = True
    if last or stop or (cfg.save_steps and state.step % cfg.save_steps == 0):
        save_checkpoint(state, state.last_metrics if evaluated else {})
    if last or stop:
        return "finished" if last else "stopped"
    return None


def log(state: State, values: dict[str, float]) -> None:
    if not state.accelerator.is_main_process:
        return
    entry = {"step": state.step, **values, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with (state.output_dir / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps(entry) + "\n")
    if state.writer is not None:
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                state.writer.add_scalar(
                    k if "/" in k else f"train/{k}" if k in ("loss", "lr") else f"eval/{k}", v, state.step
                )
        state.writer.flush()


def evaluate(state: State) -> dict[str, float]:
    """Eval loss, and metrics on generated text: WER/CER (ASR), BLEU/chrF (translation), keyword recall."""
    acc = state.accelerator
    metrics: dict[str, float] = {}
    if acc.is_main_process:
        metrics = generate_metrics(state, acc.unwrap_model(state.model))
        log(state, metrics)
    acc.wait_for_everyone()
    state.recipe.train_mode(acc.unwrap_model(state.model))
    return metrics


def eval_loss(state: State, peft_model) -> float:
    """The main loss term over all eval rows, per unit it is normalised by (answer token, CTC unit)."""
    import random

    recipe, rows, builder, size = state.recipe, state.eval_rows, state.dataset.builder, state.cfg.batch_size
    total, count = 0.0, 0.0
    eval_cfg = dataclasses.replace(state.cfg, train_ctc="none", ctc_weight=0.0)
    with torch.no_grad():
        for i in range(0, len(rows), size):
            chunk = rows[i : i + size]
            batch = state.collator([builder.build(r, clip_samples(r), random.Random(f"eval-{r.line}")) for r in chunk])
            batch = {
                k: v.to(peft_model.device)
                if torch.is_tensor(v)
                else [t.to(peft_model.device) if torch.is_tensor(t) else t for t in v]
                for k, v in batch.items()
            }
            total += recipe.losses(peft_model, peft_model.get_base_model(), batch, eval_cfg)["loss"].item()
            count += float(recipe.counts(batch)["loss"])
    return total / max(count, 1)


def generate_metrics(state: State, peft_model) -> dict[str, float]:
    """Eval loss, then the text the model writes for the eval rows, scored."""
    from granite_workbench.loading import LoadedModel

    cfg, rows, builder = state.cfg, state.eval_rows, state.dataset.builder
    peft_model.eval()
    metrics: dict[str, float] = {"eval_loss": eval_loss(state, peft_model)}
    subset = rows[: cfg.eval_max_examples]
    specs = [builder.eval_spec(r) for r in subset]
    lm = LoadedModel(
        model=peft_model,
        processor=state.lm.processor,
        model_id="training",
        device=str(peft_model.device),
        dtype=str(next(peft_model.parameters()).dtype),
        architecture=state.lm.architecture,
    )
    clips = [Audio(clip_samples(r), name=r.name) for r in subset]  # decoded once, cached
    results = Transcriber(lm, batch_size=cfg.batch_size, chunking="none", max_new_tokens=cfg.eval_max_new_tokens).run(
        clips, specs
    )
    metrics.update(score(subset, specs, [scored_text(res, spec) for res, spec in zip(results, specs)]))
    if cfg.train_ctc != "none":  # how close the CTC head's drafts are to the transcripts
        metrics["ctc_cer"] = draft_cer(engine_for(lm), [r for r in subset if not TASKS[r.task].translation])
    return metrics


def draft_cer(engine, rows: list[Row]) -> float:
    """Character error rate of the CTC head's greedy drafts against the rows' transcripts."""
    from granite_workbench.ctc import character_error_rate, greedy_draft

    drafts = [greedy_draft(engine.audio_pass(clip_samples(r)).ctc_logits)[0] for r in rows]
    return character_error_rate(drafts, [r.text for r in rows]) if rows else 0.0


def save_checkpoint(state: State, metrics: dict[str, float]) -> Path | None:
    acc, cfg = state.accelerator, state.cfg
    tmp = ckpt.begin(state.output_dir, state.step) if acc.is_main_process else None
    acc.wait_for_everyone()
    tmp = state.output_dir / f".tmp-step-{state.step:06d}"
    torch.save(ckpt.rng_state(), tmp / ckpt.STATE_DIR / f"rng_{acc.process_index}.pt")
    final = None
    if acc.is_main_process:
        peft_model = acc.unwrap_model(state.model)
        peft_model.save_pretrained(str(tmp), safe_serialization=True)
        torch.save(state.optimizer.state_dict(), tmp / ckpt.STATE_DIR / "optimizer.pt")
        torch.save(state.scheduler.state_dict(), tmp / ckpt.STATE_DIR / "scheduler.pt")
        value = metrics.get(cfg.best_metric)
        path = state.output_dir / f"step-{state.step:06d}"
        better = value is not None and is_better(cfg.best_metric, value, state.best_value)
        if better:
            state.best_value, state.best_path = value, str(path)
        (tmp / ckpt.STATE_DIR / "trainer.json").write_text(
            json.dumps(
                {
                    "step": state.step,
                    "epoch": state.epoch,
                    "batch_in_epoch": state.batch_in_epoch,
                    "best_value": state.best_value,
                    "best_path": state.best_path,
                    "num_processes": acc.num_processes,
                },
                indent=2,
            )
            + "\n"
        )
        ckpt.write_metadata(
            tmp,
            {
                "base_model": state.lm.model_id,
                "signature": model_signature(peft_model),
                "tasks": sorted({r.task for r in state.train_rows}),
                "languages": sorted(
                    {r.language for r in state.train_rows}
                    | {r.target_language for r in state.train_rows if r.target_language}
                ),
                "step": state.step,
                "max_steps": cfg.max_steps,
                "metrics": metrics,
                "train_rows": len(state.train_rows),
                "data": state.data,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "config": cfg.to_dict(),
            },
        )
        final = ckpt.commit(tmp, state.output_dir, state.step)
        if better:
            ckpt.write_best(state.output_dir, final, cfg.best_metric, value, state.step)
        ckpt.rotate(state.output_dir, cfg.keep_last, Path(state.best_path) if state.best_path else None)
    state.last_checkpoint = f"step-{state.step:06d}"
    acc.wait_for_everyone()
    return final


def plot_curves(output_dir: Path) -> Path | None:
    """loss.png: training loss and eval metrics over steps, from metrics.jsonl."""
    path = output_dir / "metrics.jsonl"
    if not path.exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    train = [(e["step"], e["loss"]) for e in entries if "loss" in e]
    evals = [e for e in entries if "eval_loss" in e]
    keys = [k for k in ("wer", "cer", "bleu", "keyword_recall") if any(k in e for e in evals)]
    fig, axes = plt.subplots(1, 1 + bool(keys), figsize=(11 if keys else 6, 4), squeeze=False)
    ax = axes[0][0]
    if train:
        ax.plot(*zip(*train), label="train loss", color="#0f62fe")
    if evals:
        ax.plot([e["step"] for e in evals], [e["eval_loss"] for e in evals], "o-", label="eval loss", color="#da1e28")
    losses = [v for _, v in train] + [e["eval_loss"] for e in evals]
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.legend(), ax.grid(alpha=0.3)
    if losses and min(losses) > 0:  # a log axis shows the late, small changes; it cannot show a loss of 0
        ax.set_yscale("log")
    ax.set_title("Loss")
    if keys:
        ax2 = axes[0][1]
        for k in keys:
            pts = [(e["step"], e[k]) for e in evals if k in e]
            ax2.plot(*zip(*pts), "o-", label=k)
        ax2.set_xlabel("step"), ax2.legend(), ax2.grid(alpha=0.3), ax2.set_title("Evaluation on generated text")
    fig.tight_layout()
    out = output_dir / "curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def cleanup(state: State) -> None:
    if state.writer is not None:
        state.writer.close()
    if state.accelerator.is_main_process:
        plot_curves(state.output_dir)
    state.accelerator.end_training()


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = load_config(sys.argv[1:] if argv is None else argv)
        state = setup(cfg)
    except (DataError, ModelLoadError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    previous = (
        signal.signal(signal.SIGTERM, lambda *_: setattr(state, "stop_requested", True))
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        status = train(state)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    cleanup(state)
    if state.accelerator.is_main_process:
        ckpt.write_status(state.output_dir, status, state.step, state.last_checkpoint)
        print(
            f"{status} at step {state.step}; last checkpoint {state.last_checkpoint}; checkpoints in "
            f"{state.output_dir}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
