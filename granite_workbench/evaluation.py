"""Evaluation: base vs adapters on a manifest, in one run — per-utterance results, summary, report, charts.

    python -m granite_workbench evaluate data/phrases/train.jsonl --adapter checkpoints/run/step-000300 \\
        --out-dir reports/phrases

Writes `utterances.jsonl` (reference, each system's hypothesis and errors), `summary.json`, `report.md`
(a table per task and language) and PNG charts (metric per system; per-utterance error change).
The same `score()` computes the metrics logged during fine-tuning, so the numbers agree everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import BASE, display_name
from .engine import DecodingOptions, add_paths, describe_paths
from .manifest import Row
from .metrics import (
    ErrorCounts,
    KeywordCounts,
    SpeakerCounts,
    TimeCounts,
    bleu,
    char_errors,
    chrf,
    format_metric,
    keyword_counts,
    speaker_word_errors,
    word_errors,
    word_time_errors,
)
from .plus_tags import read_tagged, turn_words
from .prompts import TaskSpec
from .tasks import CHAR_LANGUAGES


def score(rows: Sequence[Row], specs: Sequence[TaskSpec], hyps: Sequence[str]) -> dict[str, float]:
    """Corpus metrics over mixed rows: WER/CER over ASR rows (CER for ja/zh), BLEU/chrF per target
    language averaged, keyword recall/precision and B-WER/U-WER over keyword-biased rows."""
    words, chars, kw, who, when = ErrorCounts(), ErrorCounts(), KeywordCounts(), SpeakerCounts(), TimeCounts()
    by_target: dict[str, tuple[list[str], list[str]]] = {}
    n_asr = n_kw = 0
    for row, spec, hyp in zip(rows, specs, hyps):
        if spec.info.translation:
            refs, outs = by_target.setdefault(spec.target, ([], []))
            refs.append(row.text)
            outs.append(hyp)
            continue
        n_asr += 1
        if speaker_truth(row, spec):  # a tagged answer: its words for WER, its speakers for WDER
            who += speaker_word_errors(turn_words(row.answer()), turn_words(hyp))
            hyp = read_tagged(hyp, 1e9).text
        elif time_truth(row, spec):  # its words for WER, their end times against the truth's
            when += word_time_errors(timed_words(row.answer()), timed_words(hyp))
            hyp = read_tagged(hyp, 1e9).text
        chars += char_errors(row.text, hyp, row.language)
        if row.language not in CHAR_LANGUAGES:
            words += word_errors(row.text, hyp, row.language)
        if spec.info.keywords:
            n_kw += 1
            kw += keyword_counts(row.text, hyp, spec.keywords, row.language)
    out: dict[str, float] = {}
    if n_asr:
        out["wer"] = words.rate if words.ref_len else chars.rate
        out["cer"] = chars.rate
    if who.aligned:
        out["wder"] = who.rate
    if when.words:
        out["word_time_error"] = when.rate
    if by_target:
        out["bleu"] = sum(bleu(r, h, t) for t, (r, h) in by_target.items()) / len(by_target)
        out["chrf"] = sum(chrf(r, h) for r, h in by_target.values()) / len(by_target)
    if n_kw:
        out.update(
            {
                "keyword_recall": kw.recall,
                "keyword_precision": kw.precision,
                "b_wer": kw.biased.rate,
                "u_wer": kw.unbiased.rate,
            }
        )
    return out


def speaker_truth(row: Row, spec: TaskSpec) -> bool:
    """A speaker-attributed row with its turns: scored for who spoke each word too (WDER)."""
    return spec.task == "asr_speakers" and bool(row.speakers)


def time_truth(row: Row, spec: TaskSpec) -> bool:
    """A word-timestamp row with its timed words: scored for word end times too."""
    return spec.task == "asr_timestamps" and bool(row.words)


def timed_words(tagged: str) -> list[tuple[str, float]]:
    return [(w.word, w.end) for w in read_tagged(tagged, 1e9).words]


def scored_text(result, spec: TaskSpec) -> str:
    """The hypothesis that is scored: the text, or for speaker-attributed ASR the turns in the model's tag format
    (from the words' speakers), so that WER reads the words and WDER the speakers."""
    from .plus_tags import speaker_turns, write_timestamps

    if spec.task == "asr_timestamps" and result.words:
        return write_timestamps([{"word": w.word, "end": w.end} for w in result.words])
    if spec.task != "asr_speakers" or not result.words or all(w.speaker is None for w in result.words):
        return result.text
    return " ".join(
        f"[Speaker {s}]: " + " ".join(w.word for w in ws) if s is not None else " ".join(w.word for w in ws)
        for s, ws in speaker_turns(result.words)
    )


def utterance_error(row: Row, spec: TaskSpec, hyp: str) -> dict[str, Any]:
    """One utterance's errors: word/char error counts and rate (ASR), chrF (translation), keywords, WDER."""
    if spec.info.translation:
        return {"chrf": chrf([row.text], [hyp]), "error": 1 - chrf([row.text], [hyp]) / 100}
    extra = {}
    if speaker_truth(row, spec):
        extra["wder"] = speaker_word_errors(turn_words(row.answer()), turn_words(hyp)).rate
        hyp = read_tagged(hyp, 1e9).text
    elif time_truth(row, spec):
        extra["word_time_error"] = word_time_errors(timed_words(row.answer()), timed_words(hyp)).rate
        hyp = read_tagged(hyp, 1e9).text
    counts = (
        char_errors(row.text, hyp, row.language)
        if row.language in CHAR_LANGUAGES
        else word_errors(row.text, hyp, row.language)
    )
    out = {"errors": counts.errors, "ref_len": counts.ref_len, "error": counts.rate, **extra}
    if spec.info.keywords:
        k = keyword_counts(row.text, hyp, spec.keywords, row.language)
        out.update({"keywords_in_reference": k.in_reference, "keywords_matched": k.matched})
    return out


def group_key(row: Row, spec: TaskSpec) -> str:
    return spec.info.group(row.language, spec.target)


@dataclass
class EvalResult:
    systems: list[str]
    rows: list[Row]
    specs: list[TaskSpec]
    hyps: dict[str, list[str | None]]  # system -> hypothesis per row (None: failed)
    errors: dict[str, list[str | None]]  # system -> failure reason per row
    summary: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # group -> system -> metrics
    headline: dict[str, str] = field(default_factory=dict)  # group -> its primary metric (task table)
    decoding: dict[str, dict[str, int]] = field(default_factory=dict)  # system -> chunks per decoding path
    decoding_mode: str = "greedy"

    def utterances(self) -> list[dict[str, Any]]:
        out = []
        for i, (row, spec) in enumerate(zip(self.rows, self.specs)):
            entry = {
                "line": row.line,
                "audio": str(row.audio),
                "task": spec.task,
                "language": row.language,
                "target": spec.target,
                "keywords": list(spec.keywords),
                "reference": row.text,
                "systems": {},
            }
            for s in self.systems:
                hyp = self.hyps[s][i]
                entry["systems"][s] = (
                    {"hypothesis": hyp, **utterance_error(row, spec, hyp)}
                    if hyp is not None
                    else {"hypothesis": None, "failed": self.errors[s][i]}
                )
            out.append(entry)
        return out

    def worst(self, system: str, n: int = 5) -> list[dict[str, Any]]:
        """The utterances where `system` did worst (highest error; error-free ones are left out)."""
        utts = [
            u
            for u in self.utterances()
            if u["systems"][system].get("hypothesis") is not None and u["systems"][system]["error"] > 0
        ]
        return sorted(utts, key=lambda u: -u["systems"][system]["error"])[:n]


def run_evaluation(
    engine,
    rows: Sequence[Row],
    systems: Sequence[str],
    *,
    batch_size: int = 8,
    max_new_tokens: int = 200,
    decoding: DecodingOptions | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Transcribe/translate every row with every system (BASE or a loaded adapter name) and score them.
    `engine`: an Engine, or a loaded model (its engine is used). `decoding`: a mode or DecodingOptions; the
    paths the chunks took are counted per system (`EvalResult.decoding`)."""
    rows = list(rows)
    outputs, mode = hypotheses(
        engine,
        rows,
        systems,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        decoding=decoding,
        progress=progress,
    )
    return assemble(rows, systems, outputs, mode)


def hypotheses(
    engine,
    rows: Sequence[Row],
    systems: Sequence[str],
    *,
    batch_size: int = 8,
    max_new_tokens: int = 200,
    decoding: DecodingOptions | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, list[dict]], str]:
    """Every system's output for every row: system -> [{"hypothesis" (None: failed), "error", "decoding"}],
    and the decoding mode used. The part of an evaluation that needs the model (and can be split by rows)."""
    from .transcribe import Transcriber

    specs = [r.spec() for r in rows]
    tr = Transcriber(engine, batch_size=batch_size, max_new_tokens=max_new_tokens, decoding=decoding)
    outputs: dict[str, list[dict]] = {}
    total = len(rows) * len(systems)
    for k, system in enumerate(systems):
        tick = (
            (lambda d, t, k=k: progress(k * len(rows) + round(d * len(rows) / max(t, 1)), total)) if progress else None
        )
        results = tr.run(
            [r.source for r in rows],
            specs,
            adapter=None if system == BASE else system,
            progress=tick,
            names=[f"line{r.line}:{r.name}" for r in rows],
        )
        outputs[system] = [
            {"hypothesis": scored_text(res, spec) if res.ok else None, "error": res.error, "decoding": res.decoding}
            for res, spec in zip(results, specs)
        ]
    return outputs, tr.decoding.decoding


def assemble(
    rows: Sequence[Row], systems: Sequence[str], outputs: dict[str, list[dict]], decoding_mode: str = "greedy"
) -> EvalResult:
    """Score the systems' outputs (from `hypotheses`) per task/language group and overall."""
    rows, specs = list(rows), [r.spec() for r in rows]
    hyps = {s: [o["hypothesis"] for o in outputs[s]] for s in systems}
    errors = {s: [o["error"] for o in outputs[s]] for s in systems}
    paths: dict[str, dict[str, int]] = {}
    for s in systems:
        paths[s] = {}
        for o in outputs[s]:
            add_paths(paths[s], o["decoding"])
    result = EvalResult(list(systems), rows, specs, hyps, errors, decoding=paths, decoding_mode=decoding_mode)
    groups: dict[str, list[int]] = {}
    for i, (row, spec) in enumerate(zip(rows, specs)):
        groups.setdefault(group_key(row, spec), []).append(i)
        result.headline.setdefault(group_key(row, spec), spec.info.primary_metric(row.language))
    groups["all"] = list(range(len(rows)))
    result.headline["all"] = next(iter(result.headline.values()), "wer")
    for name, idx in groups.items():
        result.summary[name] = {}
        for s in systems:
            ok = [i for i in idx if hyps[s][i] is not None]
            metrics = score([rows[i] for i in ok], [specs[i] for i in ok], [hyps[s][i] for i in ok])
            result.summary[name][s] = {**metrics, "utterances": len(ok), "failed": len(idx) - len(ok)}
    return result


# --- report ---------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return "".join(c for c in text if c.isprintable()).replace("|", "\\|")


def report_markdown(result: EvalResult, title: str = "Evaluation") -> str:
    lines = [f"# {title}", "", f"Systems: {', '.join(result.systems)}. Utterances: {len(result.rows)}.", ""]
    for group, per_system in result.summary.items():
        metrics = [
            m
            for m in ("wer", "cer", "bleu", "chrf", "keyword_recall", "keyword_precision", "b_wer", "u_wer")
            if any(m in v for v in per_system.values())
        ]
        if not metrics:
            continue
        lines += [
            f"## {group}",
            "",
            "| system | " + " | ".join(metrics) + " | utterances | failed |",
            "|---|" + "---:|" * (len(metrics) + 2),
        ]
        for s, v in per_system.items():
            lines.append(
                f"| {s} | "
                + " | ".join(format_metric(m, v.get(m)) for m in metrics)
                + f" | {v['utterances']} | {v['failed']} |"
            )
        lines.append("")
    for s in result.systems:
        worst = result.worst(s, 5)
        if not worst:
            continue
        lines += [f"## Worst utterances: {s}", "", "| line | reference | hypothesis | error |", "|---|---|---|---:|"]
        for u in worst:
            r = u["systems"][s]
            lines.append(
                f"| {u['line']} | {_cell(u['reference'])} | {_cell(r['hypothesis'])} | {100 * r['error']:.0f}% |"
            )
        lines.append("")
    if result.decoding_mode != "greedy":
        lines += [f"## Decoding: {result.decoding_mode}", ""]
        lines += [f"- {s}: {describe_paths(result.decoding.get(s, {}))}" for s in result.systems] + [""]
    failed = [
        (s, u["line"], u["systems"][s]["failed"])
        for u in result.utterances()
        for s in result.systems
        if u["systems"][s].get("hypothesis") is None
    ]
    if failed:
        lines += ["## Failed clips", ""] + [f"- {s}, line {line}: {why}" for s, line, why in failed] + [""]
    lines += [
        "Normalization: English as Whisper's English normalizer, other languages Whisper's basic "
        "normalizer; Japanese and Chinese scored by characters. BLEU with sacrebleu (13a; zh; char for ja).",
        "",
    ]
    return "\n".join(lines)


def chart_name(system: str, width: int = 34) -> str:
    """A system's name short enough for a legend or a title: a generated run name as its display name, any other
    name cut in its middle."""
    system = display_name(system)
    return system if len(system) <= width else system[: width // 2 - 1] + "…" + system[-(width // 2) :]


def plot_charts(result: EvalResult, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    groups = [g for g in result.summary if g != "all"] or ["all"]
    # a readable shape in the demo's column and in the report: at most 10 x 4.5 inches, the legend beside the bars
    fig, ax = plt.subplots(figsize=(min(10, max(7, 1.2 * len(groups) * len(result.systems) + 3)), 4.5))
    width = 0.8 / len(result.systems)
    colors = ["#8d8d8d", "#0f62fe", "#24a148", "#da1e28", "#8a3ffc"]
    for k, s in enumerate(result.systems):
        vals, labels = [], []
        for g in groups:
            metric = result.headline[g]
            v = result.summary[g][s].get(metric)
            vals.append(v * 100 if v is not None and metric != "bleu" else (v or 0))
            labels.append(f"{g}\n({metric.upper()}{'' if metric == 'bleu' else ' %'})")
        bars = ax.bar(
            np.arange(len(groups)) + k * width, vals, width, label=chart_name(s), color=colors[k % len(colors)]
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(np.arange(len(groups)) + width * (len(result.systems) - 1) / 2, labels)
    ax.set_title("Headline metric per system")
    ax.set_ylabel("WER / CER in % (lower is better), BLEU (higher)", fontsize=8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    paths.append(out_dir / "metrics.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    if len(result.systems) > 1:
        base = result.systems[0]
        n = len(result.systems) - 1
        fig, axes = plt.subplots(1, n, figsize=(min(12, 6 * n), 4.5), squeeze=False)
        for ax, s in zip(axes[0], result.systems[1:]):
            deltas = []
            for u in result.utterances():
                a, b = u["systems"][base], u["systems"][s]
                if a.get("hypothesis") is not None and b.get("hypothesis") is not None:
                    deltas.append(100 * (b["error"] - a["error"]))
            deltas.sort()
            ax.bar(
                range(len(deltas)),
                deltas,
                color=["#24a148" if d < 0 else "#da1e28" if d > 0 else "#8d8d8d" for d in deltas],
            )
            better = sum(d < 0 for d in deltas)
            worse = sum(d > 0 for d in deltas)
            ax.set_title(
                f"{chart_name(s)} vs {chart_name(base)}\nper-utterance error change: {better} better, {worse} worse, "
                f"{len(deltas) - better - worse} same",
                fontsize=9,
            )
            ax.set_xlabel("utterances (sorted)")
            ax.set_ylabel("error change (points)")
            ax.axhline(0, color="black", lw=0.8)
            ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        paths.append(out_dir / "deltas.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def write_report(result: EvalResult, out_dir: str | Path, title: str = "Evaluation") -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "utterances": out_dir / "utterances.jsonl",
        "summary": out_dir / "summary.json",
        "report": out_dir / "report.md",
    }
    paths["utterances"].write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in result.utterances()))
    paths["summary"].write_text(
        json.dumps(
            {
                "systems": result.systems,
                "groups": result.summary,
                "decoding": {"mode": result.decoding_mode, **result.decoding},
            },
            indent=2,
        )
        + "\n"
    )
    paths["report"].write_text(report_markdown(result, title))
    for p in plot_charts(result, out_dir):
        paths[p.stem] = p
    return paths
