"""Which Granite for my data? Several models (each with an optional adapter) over the same rows, one in memory at a
time: accuracy per model from the same scoring as `evaluate`, and what each costs on this machine.

    python -m granite_workbench evaluate data/phrases/train.jsonl \\
        --models tiny,tiny-ctc,tiny-ctc@checkpoints/ctc-smoke/step-000600 --out-dir reports/which-granite

Each entry is a hub id, a folder or a tiny alias, optionally `@ADAPTER` (a step-* folder). A model is loaded, its
adapter put on, every row run, then the model is released before the next loads. Per model: the metrics (WER/CER,
BLEU, keyword recall: what the manifest's tasks have), RTFx on this machine (seconds of audio per second of
transcription, load time not counted), peak memory while it ran (resident set size on a CPU, reset per model
through /proc/self/clear_refs where Linux allows it; allocated GPU memory on CUDA) and its parameters. A row a model
cannot do (a translation row for the CTC model) fails for that model with the reason and is counted as failed.
Outputs besides `evaluate`'s: `models.json`, a cost table in report.md, `speed_accuracy.png` (accuracy against
speed) and `disagreements.jsonl` (the rows where the models' errors differ most).
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .adapters import BASE
from .evaluation import EvalResult, assemble, chart_name, hypotheses
from .manifest import Row


@dataclass(frozen=True)
class ModelChoice:
    model: str  # hub id, folder or tiny alias
    adapter: str | None = None  # an adapter folder to put on it

    @property
    def label(self) -> str:
        from .models import short_name

        name = short_name(self.model)
        return (
            f"{name}@{short_name(Path(self.adapter).parent.name + '-' + Path(self.adapter).name)}"
            if self.adapter
            else name
        )


@dataclass
class ModelCost:
    """What one model cost on this machine while it answered every row."""

    system: str
    model: str
    adapter: str | None
    device: str = ""
    dtype: str = ""
    parameters: int = 0
    load_seconds: float = 0.0
    audio_seconds: float = 0.0
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    memory_kind: str = ""  # "RSS" (CPU) or "GPU allocated"
    notes: list[str] = field(default_factory=list)

    @property
    def rtfx(self) -> float:
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0


def parse_models(text: str) -> list[ModelChoice]:
    """`ID_OR_FOLDER[@ADAPTER],...` -> choices (ValueError naming a bad entry)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        model, at, adapter = part.partition("@")
        if not model.strip() or (at and not adapter.strip()):
            raise ValueError(f"--models entry {part!r}: write MODEL or MODEL@ADAPTER_FOLDER.")
        out.append(ModelChoice(model.strip(), adapter.strip() or None))
    if len(out) < 1:
        raise ValueError("--models names no model: give ID_OR_FOLDER[@ADAPTER],...")
    labels = [c.label for c in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--models names one system twice: {', '.join(labels)}.")
    return out


def reset_peak_memory(device: str) -> str:
    """Start a new peak-memory window; returns what is measured."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        return "GPU allocated"
    try:  # Linux: "5" resets the peak resident set size (VmHWM) to the current one
        Path("/proc/self/clear_refs").write_text("5")
        return "RSS"
    except OSError:
        return "RSS (process peak)"


def peak_memory(device: str) -> int:
    import resource

    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated(device))
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_model(
    choice: ModelChoice, rows: Sequence[Row], load: Callable[[str], Any], **options
) -> tuple[list[dict], ModelCost]:
    """One model's outputs for every row (`hypotheses`' format) and its cost. `load(model)` -> LoadedModel."""
    from .engine import engine_for

    started = time.perf_counter()
    lm = load(choice.model)
    engine = engine_for(lm)
    system = engine.load_adapter(choice.adapter) if choice.adapter else BASE
    cost = ModelCost(choice.label, choice.model, choice.adapter, lm.device, lm.dtype)
    cost.load_seconds = round(time.perf_counter() - started, 2)
    cost.parameters = sum(p.numel() for p in lm.model.parameters())
    cost.memory_kind = reset_peak_memory(lm.device)
    started = time.perf_counter()
    outputs, _ = hypotheses(engine, rows, [system], **options)
    cost.seconds = round(time.perf_counter() - started, 3)
    cost.peak_memory_bytes = peak_memory(lm.device)
    cost.audio_seconds = round(sum(r.duration for r, o in zip(rows, outputs[system]) if o["hypothesis"] is not None), 2)
    if choice.adapter:  # a model that stays loaded (the demo's) keeps no adapter of ours
        engine.unload_adapter(system)
    del engine, lm
    gc.collect()
    return outputs[system], cost


def compare_models(
    choices: Sequence[ModelChoice],
    rows: Sequence[Row],
    load: Callable[[str], Any],
    *,
    progress: Callable[[int, int, str], None] | None = None,
    **options,
) -> tuple[EvalResult, list[ModelCost]]:
    """Every model over the same rows, one at a time; the result scores them as systems named by `label`."""
    rows = list(rows)
    outputs: dict[str, list[dict]] = {}
    costs: list[ModelCost] = []
    for k, choice in enumerate(choices):
        if progress:
            progress(k, len(choices), choice.label)
        outputs[choice.label], cost = run_model(choice, rows, load, **options)
        costs.append(cost)
    if progress:
        progress(len(choices), len(choices), "done")
    decoding = options.get("decoding")
    mode = getattr(decoding, "decoding", decoding) or "greedy"
    return assemble(rows, [c.label for c in choices], outputs, mode), costs


def disagreements(result: EvalResult, n: int = 10) -> list[dict[str, Any]]:
    """The rows where the systems' errors differ most (spread = highest minus lowest error), most first."""
    out = []
    for u in result.utterances():
        errs = [s.get("error") for s in u["systems"].values() if s.get("hypothesis") is not None]
        if len(errs) >= 2 and max(errs) > min(errs):
            out.append({**u, "spread": round(max(errs) - min(errs), 4)})
    return sorted(out, key=lambda u: -u["spread"])[:n]


def cost_markdown(result: EvalResult, costs: Sequence[ModelCost]) -> str:
    from .metrics import METRIC_LABELS, format_metric

    metric = result.headline.get("all", "wer")
    lines = [
        f"| model | {METRIC_LABELS.get(metric, metric)} | failed | RTFx | peak memory | parameters | load s "
        "| runs on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        s = result.summary["all"][c.system]
        value = format_metric(metric, s[metric]) if metric in s else "–"
        lines.append(
            f"| {c.system} | {value} | {s['failed']} | {c.rtfx:.1f} | {c.peak_memory_bytes / 2**30:.2f} GiB "
            f"({c.memory_kind}) | {c.parameters / 1e6:,.1f} M | {c.load_seconds:.1f} | {c.device}, {c.dtype} |"
        )
    return "\n".join(lines) + "\n"


def plot_speed_accuracy(result: EvalResult, costs: Sequence[ModelCost], out: Path) -> Path:
    """Accuracy (the headline metric) against speed (RTFx, log scale): the best models sit bottom right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = result.headline.get("all", "wer")
    higher = metric in ("bleu", "chrf", "keyword_recall")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in costs:
        v = result.summary["all"][c.system].get(metric)
        if v is None or c.rtfx <= 0:
            continue
        y = v if metric == "bleu" else 100 * v
        ax.scatter([c.rtfx], [y], s=60 + c.parameters / 2e7, alpha=0.8)
        ax.annotate(chart_name(c.system, 24), (c.rtfx, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.3, y=0.15)  # room for the names beside the points
    ax.set_xlabel("speed on this machine: RTFx (seconds of audio per second, log scale)")
    unit = "" if metric == "bleu" else " %"
    ax.set_ylabel(f"{metric.upper()}{unit} ({'higher' if higher else 'lower'} is better)")
    ax.set_title("Accuracy against speed (marker size: parameters)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_comparison(
    result: EvalResult, costs: Sequence[ModelCost], out_dir: str | Path, title: str
) -> dict[str, Path]:
    """`evaluate`'s report plus the models' costs, the accuracy/speed chart and the disagreements."""
    from .evaluation import write_report

    out_dir = Path(out_dir)
    paths = write_report(result, out_dir, title=title)
    (out_dir / "models.json").write_text(
        json.dumps([{**asdict(c), "rtfx": round(c.rtfx, 2)} for c in costs], indent=2) + "\n"
    )
    worst = disagreements(result)
    (out_dir / "disagreements.jsonl").write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in worst))
    chart = plot_speed_accuracy(result, costs, out_dir / "speed_accuracy.png")
    report = paths["report"]
    report.write_text(
        report.read_text()
        + "\n## Models on this machine\n\n"
        + cost_markdown(result, costs)
        + "\n![accuracy against speed](speed_accuracy.png)\n"
    )
    return {
        **paths,
        "models": out_dir / "models.json",
        "speed_accuracy": chart,
        "disagreements": out_dir / "disagreements.jsonl",
    }
