"""Manifest-sized batch work for the CLI: `transcribe --manifest` and `evaluate`, sharded and resumable.

Both run the rows of a manifest through `ShardedRun` (sharding.py): each process saves a part after every batch,
the main process merges the parts in manifest order. A bad row fails that row (reported with its line), never
the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .manifest import Problem, Row, ValidationReport, validate
from .prompts import TaskSpec
from .sharding import ShardedRun
from .transcribe import Result, Transcriber


def row_signature(rows: Sequence[Row]) -> list[list[Any]]:
    """What identifies the rows of a run (for resuming): audio as written, task, languages, keywords, text."""
    return [
        [
            r.ref or str(r.audio if not isinstance(r.audio, dict) else r.audio.get("path")),
            r.task,
            r.language,
            r.target_language,
            list(r.keywords),
            r.text,
            r.error,
        ]
        for r in rows
    ]


def _groups(indices: list[int], size: int) -> Iterator[list[int]]:
    for k in range(0, len(indices), max(1, size)):
        yield indices[k : k + size]


def _bar(run: ShardedRun, desc: str, quiet: bool):
    from tqdm import tqdm

    st = run.state
    label = f"{desc} [{st.process_index + 1}/{st.num_processes}]" if st.num_processes > 1 else desc
    return tqdm(total=len(run.mine), unit="row", desc=label, disable=quiet, file=sys.stderr, position=st.process_index)


def _announce(run: ShardedRun) -> None:
    if run.state.is_main_process and run.resumed:
        print(
            f"resuming: {run.resumed} of {run.total} rows already done in {run.dir}, {run.total - run.resumed} to go",
            file=sys.stderr,
        )


def transcribe_rows(
    tr: Transcriber,
    rows: Sequence[Row],
    specs: Sequence[TaskSpec | str],
    out_dir: str | Path,
    *,
    what: dict[str, Any],
    write: Callable[[list[Result]], Any],
    adapter: str | None = None,
    state=None,
    quiet: bool = False,
) -> list[Result] | None:
    """One Result per row (in order) on the main process, None on the others; `write(results)` writes the
    outputs before the parts are removed. `specs`: a TaskSpec per row, or the reason the row cannot be run (it
    becomes that row's error)."""
    run = ShardedRun(out_dir, what, len(rows), state)
    _announce(run)
    bar = _bar(run, "transcribe", quiet)
    for group in _groups(run.mine, tr.batch_size):
        runnable = [i for i in group if isinstance(specs[i], TaskSpec)]
        results = dict(
            zip(
                runnable,
                tr.run(
                    [rows[i].source for i in runnable],
                    [specs[i] for i in runnable],
                    adapter=adapter,
                    names=[rows[i].name for i in runnable],
                ),
            )
        )
        for i in group:
            if i not in results:
                results[i] = Result(
                    name=f"line{rows[i].line}:{rows[i].name if rows[i].audio else ''}",
                    task=rows[i].task,
                    error=f"line {rows[i].line}: {specs[i]}",
                )
        run.save([{"index": i, "result": results[i].to_dict()} for i in group])
        bar.update(len(group))
    bar.close()
    entries = run.merged()
    if entries is None:
        return None
    out = [Result.from_dict(e["result"]) for e in entries]
    write(out)
    run.cleanup()
    return out


def evaluate_rows(
    engine,
    rows: Sequence[Row],
    systems: Sequence[str],
    out_dir: str | Path,
    *,
    what: dict[str, Any],
    source: str,
    write: Callable[..., Any],
    batch_size: int = 8,
    decoding=None,
    tokenizer=None,
    state=None,
    quiet: bool = False,
):
    """(EvalResult, ValidationReport) over all rows on the main process, None on the others; `write(result,
    report)` writes the outputs before the parts are removed. Rows that fail validation are reported and left
    out of the scores, as in a single-process evaluation."""
    from .engine import DecodingOptions
    from .evaluation import assemble, hypotheses

    options = decoding if isinstance(decoding, DecodingOptions) else DecodingOptions(decoding=decoding or "greedy")
    run = ShardedRun(out_dir, what, len(rows), state)
    _announce(run)
    bar = _bar(run, "evaluate", quiet)
    for group in _groups(run.mine, batch_size):
        good, report = validate(
            [rows[i] for i in group], tokenizer, source=source, max_audio_seconds=3 * 3600, max_label_tokens=10_000
        )
        outputs, _ = hypotheses(
            engine, good, systems, batch_size=batch_size, max_new_tokens=options.max_new_tokens, decoding=options
        )
        position = {id(r): k for k, r in enumerate(good)}
        entries = []
        for i in group:
            k = position.get(id(rows[i]))
            if k is None:
                entries.append({"index": i, "problems": [asdict(p) for p in report.problems if p.line == rows[i].line]})
            else:
                entries.append({"index": i, "systems": {s: outputs[s][k] for s in systems}})
        run.save(entries)
        bar.update(len(group))
    bar.close()
    entries = run.merged()
    if entries is None:
        return None
    report = ValidationReport(
        source=source, total=len(rows), problems=[Problem(**p) for e in entries for p in e.get("problems", [])]
    )
    scored = [e for e in entries if "systems" in e]
    result = assemble(
        [rows[e["index"]] for e in scored],
        systems,
        {s: [e["systems"][s] for e in scored] for s in systems},
        options.decoding,
    )
    write(result, report)
    run.cleanup()
    return result, report
