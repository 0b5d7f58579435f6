"""Dataset: record or upload clips, let the model draft their transcripts, correct them, save a manifest with
train/dev/test splits under the data folder — ready for the Train and Evaluate tabs (workbench mode)."""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr
import pandas as pd

from ...adapters import BASE
from ...audio import load_audio
from ...dataset_builder import MAX_ROWS, DatasetError, DraftRow, save_dataset
from ...keywords import split_keywords
from ...languages import TRANSLATION_DIRECTIONS
from ...manifest import Row, read_manifest, validate
from ...paths import DATA_DIR
from ...prompts import TaskSpec
from ...session import Workbench
from ...tasks import TASK_NAMES
from ..common import ASR_LANG_CHOICES, gpu, language_choices, progress_callback, user_errors
from . import Tab, UIContext

COLUMNS = ["clip", "text", "task", "language", "target_language", "keywords", "seconds"]
# The table shows the manifest's fields with spaces (a header wraps between words, not inside one) in fixed shares:
# left to its content, the text column takes the whole width and squeezes the others off to the right.
HEADERS = [c.replace("_", " ") for c in COLUMNS]
COLUMN_WIDTHS = ["18%", "29%", "10%", "11%", "11%", "11%", "10%"]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS).astype({"seconds": "float64"})


def dataset_root(wb: Workbench) -> Path:
    """Where datasets are saved: `datasets/` in the first --data-root, else in the bundled data folder."""
    return (wb.files.data_roots[0] if wb.files.data_roots else DATA_DIR) / "datasets"


def _table(table) -> pd.DataFrame:
    """The table's value (a DataFrame or Gradio's dict, headers as shown or as fields) with the manifest's fields."""
    if table is None:
        return empty_table()
    df = (
        table
        if isinstance(table, pd.DataFrame)
        else pd.DataFrame(table.get("data", []), columns=table.get("headers", COLUMNS))
    )
    df = df.rename(columns=lambda c: str(c).replace(" ", "_"))
    return df.reindex(columns=COLUMNS).fillna("")


def _shown(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_axis(HEADERS, axis=1)


@user_errors(text=("task", "language", "target", "keywords"))
def add_clips(
    wb: Workbench,
    table,
    clips: list[str] | None,
    files,
    recording,
    task: str,
    language: str,
    target: str | None,
    keywords: str | None,
):
    """Add uploaded clips and/or a recording as rows (text empty, the defaults for the rest). Returns (table,
    clips, message). The clips are copied into a folder of this session's own (the browser may forget them)."""
    wb.policy.require_workbench("Building datasets")
    df, clips = _table(table), list(clips or [])
    new = [f for f in (files or []) if f] + ([recording] if recording else [])
    if not new:
        raise DatasetError("Upload clips or record one with the microphone first.")
    if task not in TASK_NAMES:
        raise DatasetError(f"Unknown task {task!r}; choose {', '.join(TASK_NAMES)}.")
    if len(clips) + len(new) > MAX_ROWS:
        raise DatasetError(f"At most {MAX_ROWS} rows per dataset.")
    folder = Path(clips[0]).parent if clips else wb.files.draft_folder()
    # a new clip's number is above every kept row's: below it, a removed row's number may be another row's file
    last = max((int(Path(c).stem) for c in clips if Path(c).stem.isdigit()), default=0)
    refused, rows = [], []
    for f in new:
        src = Path(f if isinstance(f, str) else getattr(f, "name", f))
        try:
            clip = load_audio(str(src), max_seconds=wb.limits.max_audio_seconds, name=src.name)
        except Exception as exc:  # AudioError and anything odd: that clip only
            refused.append(f"{src.name}: {exc}")
            continue
        last += 1
        dest = folder / f"{last:04d}{src.suffix.lower() or '.wav'}"
        shutil.copyfile(src, dest)
        clips.append(str(dest))
        rows.append(
            {
                "clip": src.name if src.name else dest.name,
                "text": "",
                "task": task,
                "language": language or "en",
                "target_language": target or "",
                "keywords": ", ".join(split_keywords(keywords)),
                "seconds": round(clip.duration, 2),
            }
        )
    df = pd.concat([df, pd.DataFrame(rows, columns=COLUMNS)], ignore_index=True) if rows else df
    msg = f"Added {len(rows)} clip(s); {len(clips)} in all. Next: **Draft transcripts**, then correct the text column."
    if refused:
        msg += " Not added: " + "; ".join(refused)
    return df, clips, msg


@user_errors(text=("model",))
def draft(wb: Workbench, table, clips: list[str] | None, model: str | None = BASE, progress=None):
    """The model's transcript (or translation) as a draft for every row whose text is empty."""
    df, clips = _table(table), list(clips or [])
    if df.empty:
        return df, "The table is empty: press **Add clips** to put the uploaded or recorded clips in it, then draft."
    todo = [i for i in range(min(len(df), len(clips))) if not str(df.at[i, "text"]).strip()]
    if not todo:
        return df, "Every row has a text already; clear a row's text to draft it again."
    tick = progress_callback(progress, "Drafting…", "clips")
    failed = []
    for k, i in enumerate(todo):
        try:
            spec = _spec(df.iloc[i])
            df.at[i, "text"] = wb.inference.run(clips[i], spec, None, model).text
        except Exception as exc:  # one bad row: reported, the others go on
            failed.append(f"row {i + 1}: {exc}")
        if tick:
            tick(k + 1, len(todo))
    msg = f"Drafted {len(todo) - len(failed)} row(s): listen to each, correct the text, then **Save**."
    return df, msg + (" Failed: " + "; ".join(failed) if failed else "")


def _draft_row(row, clip: str = "") -> DraftRow:
    """A table row as the dataset row it stands for (empty cells: asr, en, no target, no keywords)."""
    return DraftRow(
        clip,
        text=str(row["text"] or ""),
        task=str(row["task"] or "asr"),
        language=str(row["language"] or "en"),
        target_language=str(row["target_language"] or "") or None,
        keywords=split_keywords(str(row["keywords"] or "")),
    )


def _spec(row) -> TaskSpec:
    """The task spec of a table row (a keyword task without keywords is its plain variant)."""
    d = _draft_row(row)
    return Row(
        audio="", text="", task=d.task, language=d.language, target_language=d.target_language, keywords=d.keywords
    ).spec()


def listen(table, clips: list[str] | None, number) -> str | None:
    """The clip of row `number` (1-based) to play back."""
    clips = list(clips or [])
    try:
        i = int(number) - 1
    except (TypeError, ValueError):
        raise gr.Error("Enter a row number.") from None
    if not 0 <= i < len(clips):
        raise gr.Error(f"No row {number}; there are {len(clips)}.")
    return clips[i]


def remove_row(table, clips: list[str] | None, number):
    df, clips = _table(table), list(clips or [])
    i = int(number or 0) - 1
    if not 0 <= i < len(clips):
        raise gr.Error(f"No row {number}; there are {len(clips)}.")
    Path(clips.pop(i)).unlink(missing_ok=True)
    return df.drop(index=i).reset_index(drop=True), clips, f"Removed row {i + 1}; {len(clips)} left."


@user_errors(text=("name",))
def save(
    wb: Workbench,
    name: str,
    table,
    clips: list[str] | None,
    dev_percent: float,
    test_percent: float,
    overwrite: bool = False,
) -> str:
    """Save the rows and their audio as a dataset with splits; the report names every row left out and every
    problem the validation finds."""
    wb.policy.require_workbench("Building datasets")
    df, clips = _table(table), list(clips or [])
    if len(df) != len(clips):
        raise DatasetError(f"The table has {len(df)} rows for {len(clips)} clips; add rows with **Add clips**.")
    rows = [_draft_row(r, clips[i]) for i, r in df.iterrows()]
    saved = save_dataset(
        name,
        rows,
        dataset_root(wb),
        dev_share=(dev_percent or 0) / 100,
        test_share=(test_percent or 0) / 100,
        overwrite=bool(overwrite),
        max_seconds=wb.limits.max_audio_seconds,
    )
    tokenizer = wb.inference.tokenizer()
    _, report = validate(
        read_manifest(saved.manifest("all")),
        tokenizer,
        source="all.jsonl",
        max_audio_seconds=wb.limits.max_audio_seconds,
        max_label_tokens=10_000,
    )
    label = f"{dataset_root(wb).parent.name if wb.files.data_roots else 'data'}/datasets/{saved.folder.name}"
    splits = ", ".join(f"{k} {v}" for k, v in saved.counts.items() if k != "all" and v)
    lines = [
        f"Saved **{saved.counts['all']} rows** to `{label}/` ({splits}).",
        f"Train on `{label}/train.jsonl`"
        + (f", evaluate on `{label}/dev.jsonl`" if saved.counts["dev"] else "")
        + " in the **Train** tab.",
    ]
    missing = [s for s, share in (("dev", dev_percent), ("test", test_percent)) if share and not saved.counts[s]]
    if missing:
        lines.append(
            f"No {' or '.join(missing)} split: with {saved.counts['all']} rows every row went to training (a dev or "
            "test split takes one row or more from 3 rows on, and always leaves rows to train on)."
        )
    if saved.skipped:
        lines.append("Left out: " + "; ".join(saved.skipped) + ".")
    lines.append(
        "Validation: every row is usable."
        if not report.problems
        else "Validation found problems (training skips these rows):\n\n```\n" + report.summary() + "\n```"
    )
    return "\n\n".join(lines)


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown(
        "Build a dataset from your own recordings: add clips (upload many at once, or record), let the "
        "model draft the transcripts, correct them in the table, listen back, and save. The manifest and "
        "its train/dev/test splits appear in the **Train** and **Evaluate** tabs."
    )
    clips = gr.State([], delete_callback=lambda paths: paths and wb.files.remove_draft(Path(paths[0]).parent))
    with gr.Row(elem_classes="wb-wrap"):
        with gr.Column(scale=4, min_width=300):
            files = gr.File(
                label="Clips (many at once)",
                file_count="multiple",
                type="filepath",
                file_types=["audio"],
                elem_id="dataset-files",
            )
            recording = gr.Audio(sources=["microphone"], type="filepath", label="…or record one", elem_id="dataset-mic")
            with gr.Row(elem_classes="wb-wrap"):
                task = gr.Dropdown(list(TASK_NAMES), value="asr", label="Task", elem_id="dataset-task", min_width=110)
                language = gr.Dropdown(
                    ASR_LANG_CHOICES,
                    value="en",
                    label="Language",
                    allow_custom_value=True,
                    elem_id="dataset-language",
                    min_width=170,  # "English (en)" whole; the target wraps onto a line of its own
                )
                # the languages translations go into (any direction's target), as the other tabs' dropdowns
                target = gr.Dropdown(
                    [("(none)", "")] + language_choices(sorted({t for _, t in TRANSLATION_DIRECTIONS})),
                    value="",
                    label="Target language (translation rows)",
                    allow_custom_value=True,
                    min_width=170,
                    elem_id="dataset-target",
                )
            keywords = gr.Textbox(
                "", label="Keywords (keyword-biased rows)", placeholder="comma-separated", max_lines=1
            )
            add = gr.Button("Add clips", variant="primary", elem_id="dataset-add")
            model = ctx.model_selector("model-dataset")
            draft_btn = gr.Button("Draft transcripts", elem_id="dataset-draft")
        with gr.Column(scale=8, min_width=300):
            message = gr.Markdown("No clips yet.", elem_id="dataset-message")
            table = gr.Dataframe(
                _shown(empty_table()),
                headers=HEADERS,
                interactive=True,
                wrap=True,
                column_widths=COLUMN_WIDTHS,
                pinned_columns=1,
                elem_id="dataset-table",
                label="Rows (edit the text; row numbers start at 1)",
            )
            with gr.Row(elem_classes="wb-wrap"):
                number = gr.Number(1, label="Row", precision=0, minimum=1, min_width=80, elem_id="dataset-row")
                play = gr.Button("Listen", min_width=80, elem_id="dataset-listen")
                drop = gr.Button("Remove", min_width=80, variant="stop")
            player = gr.Audio(label="Row audio", interactive=False, elem_id="dataset-player")
            with gr.Row(elem_classes="wb-wrap"):
                name = gr.Textbox(
                    "",
                    label="Dataset name",
                    placeholder="e.g. kitchen-commands",
                    max_lines=1,
                    elem_id="dataset-name",
                    min_width=160,
                )
                dev = gr.Slider(0, 40, value=10, step=5, label="Dev %", min_width=120)
                test = gr.Slider(0, 40, value=10, step=5, label="Test %", min_width=120)
            overwrite = gr.Checkbox(False, label="Overwrite a dataset of the same name")
            save_btn = gr.Button("Save dataset", variant="primary", elem_id="dataset-save")
            report = gr.Markdown("", elem_id="dataset-report")

    def add_api(table, clips, files, recording, task, language, target, keywords):
        df, clips, msg = add_clips(wb, table, clips, files, recording, task, language, target, keywords)
        return _shown(df), clips, msg, None, None

    @gpu
    def draft_api(table, clips, model, progress=gr.Progress()):
        df, msg = draft(wb, table, clips, model, progress)
        return _shown(df), msg

    def remove_api(table, clips, number):
        df, clips, msg = remove_row(table, clips, number)
        return _shown(df), clips, msg

    def save_api(name, table, clips, dev, test, overwrite):
        return save(wb, name, table, clips, dev, test, overwrite)

    add.click(
        add_api,
        [table, clips, files, recording, task, language, target, keywords],
        [table, clips, message, files, recording],
        api_name=False,
    )
    draft_btn.click(
        draft_api,
        [table, clips, model],
        [table, message],
        api_name=False,
        concurrency_id="model",
        show_progress_on=table,
    )
    play.click(listen, [table, clips, number], player, api_name=False)
    drop.click(remove_api, [table, clips, number], [table, clips, message], api_name=False)
    saved = save_btn.click(save_api, [name, table, clips, dev, test, overwrite], report, api_name=False)
    ctx.manifest_events.append(saved)


TAB = Tab(
    "dataset",
    "Dataset",
    "Record or upload clips, draft their transcripts with the model, correct them and "
    "save a manifest with train/dev/test splits.",
    build,
    modes=("workbench",),
)
