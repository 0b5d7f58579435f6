"""The manifest format (one place): JSONL / CSV rows and Hugging Face datasets, validated row by row.

Used by fine-tuning (training and eval data), the evaluation command and the demo's Evaluate tab.

Manifest rows (JSONL: one object per line; CSV: a header with these columns):
    audio            path to the clip, relative to the manifest's folder (required)
    text             the transcript (asr, asr_keywords) or the translation (ast) (required)
    task             asr | ast | asr_keywords (default: the config's default_task)
    language         spoken language (default: the config's default_language)
    target_language  translation target (ast only)
    keywords         list, or a string separated by '|' or ',' (asr_keywords; drawn from the text if absent)
    speakers         asr_speakers (4.1-2b-plus): the turns, a list of {"speaker", "text"[, "start", "end"]} in order
                     (speaker: any label; numbered by appearance in the model's `[Speaker N]:` format); `text` may
                     then be left out (the turns' words)
    words            asr_timestamps (4.1-2b-plus): the words with times, a list of {"word", "end"[, "start"]} (or
                     [start, end, word]) in seconds (written in the model's `word [T:centiseconds]` format); `text`
                     may be left out
    (CSV: speakers / words as JSON text.)

Validation reports every bad row with its line number and reason (missing/unreadable audio, empty text,
clip too long, label too long, unsupported language or direction); `on_bad_rows` decides whether the
rest trains (skip) or nothing does (stop).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .audio import AudioError, load_audio
from .keywords import split_keywords
from .languages import UnsupportedLanguageError
from .prompts import TaskSpec
from .tasks import TASK_NAMES, TASKS

MANIFEST_COLUMNS = ("audio", "text", "task", "language", "target_language", "keywords", "speakers", "words")
REQUIRED_COLUMNS = ("audio", "text")


class DataError(ValueError):
    """The data set as a whole cannot be used (missing columns, unreadable manifest, nothing left)."""


@dataclass
class Row:
    audio: Any  # a path, or {"bytes"/"path"} from a datasets Audio column
    text: str
    task: str = "asr"
    language: str = "en"
    target_language: str | None = None
    keywords: list[str] = field(default_factory=list)
    speakers: list[dict] = field(default_factory=list)  # asr_speakers truth: turns {speaker, text[, start, end]}
    words: list[dict] = field(default_factory=list)  # asr_timestamps truth: {word, end[, start]}
    line: int = 0  # line (JSONL), row (CSV, 1 = first data row) or index (datasets)
    duration: float = 0.0
    error: str | None = None  # the row cannot be used at all (not JSON, not an object, audio outside the folders)
    error_kind: str = "bad line"
    ref: str = ""  # the audio as the manifest wrote it (for messages: never the resolved server path)

    def spec(self, keywords: Iterable[str] | None = None) -> TaskSpec:
        """The task spec for this row; a keyword task without keywords is its plain variant."""
        kws = tuple(keywords if keywords is not None else self.keywords)
        task = TASKS[self.task]
        if task.translation:
            return TaskSpec(self.task, language=self.language, target=self.target_language)
        if task.keywords and not kws:
            return TaskSpec(task.without_keywords, language=self.language)
        return TaskSpec(self.task, language=self.language, keywords=kws if task.keywords else ())

    def answer(self) -> str:
        """What the model should write for this row: the text, or for the plus model's tagged tasks the turns or
        timed words in its own tag format (plus_tags)."""
        from .plus_tags import write_speakers, write_timestamps

        if self.task == "asr_speakers" and self.speakers:
            return write_speakers(self.speakers)
        if self.task == "asr_timestamps" and self.words:
            return write_timestamps(self.words)
        return self.text

    @property
    def source(self):
        """What `load_audio` takes: a path, or the bytes of a datasets Audio column."""
        if isinstance(self.audio, dict):
            return self.audio.get("bytes") or self.audio.get("path")
        return self.audio

    @property
    def name(self) -> str:
        """The clip's file name (for messages and reports)."""
        path = self.audio.get("path") if isinstance(self.audio, dict) else self.audio
        return Path(str(path or "audio")).name

    def load(self, max_seconds: float | None = None):
        return load_audio(self.source, name=self.name, **({"max_seconds": max_seconds} if max_seconds else {}))


@dataclass
class Problem:
    line: int
    audio: str
    problem: str  # short kind, e.g. "missing audio"
    detail: str


@dataclass
class ValidationReport:
    source: str
    total: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def bad_lines(self) -> set[int]:
        return {p.line for p in self.problems}

    @property
    def ok(self) -> int:
        return self.total - len(self.bad_lines)

    def summary(self) -> str:
        head = f"{self.source}: {self.total} rows, {self.ok} usable, {len(self.bad_lines)} with problems"
        lines = [f"  line {p.line}: {p.problem}: {p.detail}" for p in self.problems[:50]]
        more = [f"  ... and {len(self.problems) - 50} more"] if len(self.problems) > 50 else []
        return "\n".join([head, *lines, *more])

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "total": self.total,
            "usable": self.ok,
            "problems": [asdict(p) for p in self.problems],
        }

    def write(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")


def read_manifest(
    path: str | Path,
    default_task: str = "asr",
    default_language: str = "en",
    *,
    label: str | None = None,
    confine_to: Sequence[str | Path] | None = None,
    require_text: bool = True,
) -> list[Row]:
    """Rows of a JSONL or CSV manifest; audio paths resolved against the manifest's folder.

    `label`: how messages name the manifest (default: its path). `confine_to`: folders the audio must stay in
    (links followed); a row whose audio leaves them gets an error instead of being read. `require_text` False:
    only `audio` is required (rows to transcribe, not to train or score on)."""
    required = REQUIRED_COLUMNS if require_text else ("audio",)
    path = Path(path)
    label = label or str(path)
    if not path.is_file():
        raise DataError(f"Manifest {label} not found.")
    base = path.parent
    records: list[tuple[int, dict]] = []
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = _missing(required, set(reader.fieldnames or []))
            if missing:
                raise DataError(
                    f"{label}: missing column(s) {', '.join(missing)}; the header has "
                    f"{', '.join(reader.fieldnames or []) or 'nothing'}. Expected: {', '.join(MANIFEST_COLUMNS)}."
                )
            records = [(i, rec) for i, rec in enumerate(reader, start=1)]
    else:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                records.append((i, f"not valid JSON ({exc.msg})"))
                continue
            records.append((i, rec if isinstance(rec, dict) else "not a JSON object"))
        present = {k for _, r in records if isinstance(r, dict) for k in r}
        missing = _missing(required, present)
        if records and missing:
            raise DataError(
                f"{label}: no row has the field(s) {', '.join(missing)}. Expected: {', '.join(MANIFEST_COLUMNS)}."
            )
    rows = []
    for i, rec in records:
        if isinstance(rec, str):  # the line itself is broken
            rows.append(Row(audio=None, text="", line=i, error=rec))
            continue
        audio = rec.get("audio")
        if isinstance(audio, str) and audio and not Path(audio).is_absolute():
            audio = str(base / audio)
        rows.append(_row(rec, audio, "text", i, default_task, default_language))
        if confine_to is not None and isinstance(audio, str) and audio and not inside(audio, confine_to):
            rows[-1].error, rows[-1].error_kind = (
                (f"{rec.get('audio')!r} is outside the manifest's folder and the data folders"),
                "audio outside the data folders",
            )
    return rows


def _missing(required, present: set[str]) -> list[str]:
    """Required columns absent; the text may come from the speaker turns or the timed words instead."""
    return [c for c in required if c not in present and not (c == "text" and present & {"speakers", "words"})]


def _records(value: Any, column: str, keys: tuple[str, ...]) -> list[dict]:
    """A list-of-objects column (JSON text in CSV), each with `keys`; ValueError naming what is wrong."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{column}: not JSON") from None
    if column == "words" and isinstance(value, list):  # [start, end, word] triples are read too
        value = [
            {"start": v[0], "end": v[1], "word": v[2]} if isinstance(v, (list, tuple)) and len(v) == 3 else v
            for v in value
        ]
    if not isinstance(value, list) or not all(isinstance(v, dict) and all(k in v for k in keys) for v in value):
        raise ValueError(f"{column}: expected a list of objects with {' and '.join(keys)}")
    if column == "words" and not all(_number(v["end"]) for v in value):
        raise ValueError("words: every end is a time in seconds")
    return value


def _number(value: Any) -> bool:
    try:
        return float(value) >= 0
    except (TypeError, ValueError):
        return False


def inside(path: str | Path, folders: Sequence[str | Path]) -> bool:
    """Is `path` (links followed, `..` resolved) inside one of `folders`?"""
    real = Path(path).resolve()
    return any(real.is_relative_to(Path(f).resolve()) for f in folders)


def _row(rec: dict, audio: Any, text_column: str, line: int, default_task: str, default_language: str) -> Row:
    try:
        speakers = _records(rec.get("speakers"), "speakers", ("speaker", "text"))
        words = _records(rec.get("words"), "words", ("word", "end"))
    except ValueError as exc:
        return Row(audio=audio, text="", line=line, error=str(exc), error_kind="bad column")
    text = str(rec.get(text_column) or "") or " ".join(
        [str(t["text"]) for t in speakers] or [str(w["word"]) for w in words]
    )
    return Row(
        audio=audio,
        text=text,
        speakers=speakers,
        words=words,
        task=str(rec.get("task") or default_task),
        language=str(rec.get("language") or default_language),
        target_language=rec.get("target_language") or None,
        keywords=split_keywords(rec.get("keywords")),
        line=line,
        ref=rec.get("audio") if isinstance(rec.get("audio"), str) else "",
    )


def read_dataset(
    name: str,
    split: str,
    audio_column: str = "audio",
    text_column: str = "text",
    default_task: str = "asr",
    default_language: str = "en",
) -> list[Row]:
    """Rows of a Hugging Face dataset: a saved folder, `audiofolder:DIR`, or a hub id (cached / online)."""
    import datasets

    if name.startswith("audiofolder:"):
        ds = datasets.load_dataset("audiofolder", data_dir=name.split(":", 1)[1], split=split)
    elif Path(name).is_dir() and (Path(name) / "dataset_dict.json").exists():
        ds = datasets.load_from_disk(name)[split]
    elif Path(name).is_dir() and (Path(name) / "dataset_info.json").exists():
        ds = datasets.load_from_disk(name)
    else:
        ds = datasets.load_dataset(name, split=split)
    missing = [c for c in (audio_column, text_column) if c not in ds.column_names]
    if missing:
        raise DataError(
            f"Dataset {name} ({split}) has no column(s) {', '.join(missing)}; it has "
            f"{', '.join(ds.column_names)}. Set audio_column / text_column."
        )
    if isinstance(ds.features[audio_column], datasets.Audio):  # decode with our own audio code
        ds = ds.cast_column(audio_column, datasets.Audio(decode=False))
    return [_row(rec, rec[audio_column], text_column, i, default_task, default_language) for i, rec in enumerate(ds)]


def read_rows(source: str, split: str = "test") -> list[Row]:
    """A manifest (.jsonl / .csv) or a Hugging Face dataset's split (saved folder, audiofolder:DIR, hub id)."""
    if Path(str(source)).suffix.lower() in (".jsonl", ".csv"):
        return read_manifest(source)
    return read_dataset(source, split)


def validate(
    rows: list[Row], tokenizer, *, source: str, max_audio_seconds: float, max_label_tokens: int, extra=None
) -> tuple[list[Row], ValidationReport]:
    """Check every row; return the good rows (with durations) and the report. `tokenizer` None (a remote
    engine): label lengths are not checked. `extra(row)`: the model's own checks of a row that passed these
    ((kind, detail) pairs, e.g. a fine-tuning recipe's)."""
    report = ValidationReport(source=source, total=len(rows))
    good: list[Row] = []
    for row in rows:
        problems = _row_problems(row, tokenizer, max_audio_seconds, max_label_tokens)
        if not problems and extra is not None:
            problems = extra(row)
        if problems:
            report.problems += [Problem(row.line, row.name if row.audio else "", k, d) for k, d in problems]
        else:
            good.append(row)
    return good, report


def _row_problems(row: Row, tokenizer, max_audio_seconds: float, max_label_tokens: int) -> list[tuple[str, str]]:
    if row.error:
        return [(row.error_kind, row.error)]
    problems: list[tuple[str, str]] = []
    task = TASKS.get(row.task)
    if task is None:
        problems.append(("unknown task", f"{row.task!r}; expected one of {', '.join(TASK_NAMES)}"))
    else:
        try:
            row.spec(row.keywords or ["x"] if task.keywords else None)
        except (UnsupportedLanguageError, ValueError) as exc:
            kind = "unsupported direction" if task.translation else "unsupported language"
            problems.append((kind, str(exc)))
    if row.task == "asr_speakers" and not row.speakers:
        problems.append(("no speaker turns", "asr_speakers rows need a speakers column (the turns, in order)"))
    if row.task == "asr_timestamps" and not row.words:
        problems.append(("no word times", "asr_timestamps rows need a words column (each word with its end)"))
    if not row.text.strip():
        problems.append(("empty text", "the transcript / translation is empty"))
    elif (
        tokenizer is not None
        and len(tokenizer(row.answer(), add_special_tokens=False)["input_ids"]) + 1 > max_label_tokens
    ):
        n = len(tokenizer(row.answer(), add_special_tokens=False)["input_ids"]) + 1
        problems.append(("label too long", f"{n} tokens (limit {max_label_tokens})"))
    if not row.audio:
        problems.append(("missing audio", "no audio given"))
        return problems
    src = row.source
    if isinstance(src, str) and not Path(src).exists():
        problems.append(("missing audio", f"{row.ref or row.name} does not exist"))
        return problems
    try:
        clip = row.load(max_audio_seconds)
        row.duration = clip.duration
    except AudioError as exc:
        kind = "clip too long" if "too long" in str(exc) else "unreadable audio"
        problems.append((kind, str(exc)))
    return problems
