"""What the tabs share: error mapping, the model selector, language dropdowns, the manifest picker, HTML views.

Every problem a user can cause reaches the browser (and API clients) as a `gr.Error` with a specific
message, through `user_errors`; the server keeps serving.
"""

from __future__ import annotations

import difflib
import functools
import html
import inspect
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from ..adapters import BASE, AdapterError, display_name
from ..audio import AudioError
from ..coerce import to_flag, to_text, to_texts
from ..keywords import mark_keywords
from ..languages import ASR_LANGUAGES, LANGUAGES, UnsupportedLanguageError, sources, targets_for
from ..loading import ModelLoadError
from ..manifest import DataError
from ..service import ModelNotReady
from ..session import NotInThisMode, TranscriptionError, Workbench
from ..training_job import JobError
from ..transcribe import Result
from ..uploads import UploadError

try:  # ZeroGPU on Hugging Face Spaces
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:  # anywhere else: a no-op

    def gpu(fn):
        return fn


# domain error -> the title of its message box; the first match wins
USER_ERRORS: list[tuple[type[BaseException], str]] = [
    (ModelNotReady, "Model not ready"),
    (AudioError, "Unusable audio"),
    (AdapterError, "Adapter"),
    (UnsupportedLanguageError, "Unsupported language"),
    (DataError, "Manifest"),
    (UploadError, "Upload"),
    (JobError, "Train"),
    (NotInThisMode, "Not available here"),
    (TranscriptionError, "Transcription failed"),
    (ModelLoadError, "Model"),
    (ValueError, "Input"),
]


def user_errors(
    fn: Callable | None = None, *, text: tuple[str, ...] = (), lists: tuple[str, ...] = (), flags: tuple[str, ...] = ()
) -> Callable:
    """Turn the domain errors a user can cause into a gr.Error with the same message (signature kept).

    An API client can send any JSON value (and a gradio client turns a string naming a local file into an
    uploaded file), so the named parameters are read through coerce.py first: `text` must be text, `lists` a
    list of texts, `flags` true or false (a "false" string is False); the function gets the coerced values."""

    def decorate(f: Callable) -> Callable:
        signature = inspect.signature(f)
        readers = [*((n, to_text) for n in text), *((n, to_texts) for n in lists), *((n, to_flag) for n in flags)]

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            try:
                bound = signature.bind_partial(*args, **kwargs)
                for name, read in readers:
                    if name in bound.arguments:
                        bound.arguments[name] = read(bound.arguments[name], name)
                return f(*bound.args, **bound.kwargs)
            except gr.Error:
                raise
            except tuple(t for t, _ in USER_ERRORS) as exc:
                title = next(title for t, title in USER_ERRORS if isinstance(exc, t))
                raise gr.Error(str(exc), title=title) from None

        return wrapper

    return decorate(fn) if fn is not None else decorate


def progress_callback(progress: gr.Progress | None, desc: str = "Transcribing…", unit: str = "chunks"):
    """A (done, total) callback for the core that drives a gr.Progress bar (or nothing)."""
    if progress is None:
        return None
    progress(0, desc=desc)

    def tick(done: int, total: int) -> None:
        progress((done, total), desc=desc, unit=unit)

    return tick


# -- selectors --------------------------------------------------------------------------------------------


def example_picker(examples: list[list], inputs: list, label: str = "Examples") -> gr.Dataset:
    """The example clips as a table; a click fills `inputs` (the audio first). What gr.Examples shows, without
    its cost: gr.Examples probes every clip with ffprobe while the UI is built (~1 s of the demo's start on 2
    cores, BENCHMARKS.md "Demo cold start"); here the picked clip is processed when it is picked."""
    table = gr.Dataset(components=inputs, samples=examples, label=label, type="index", elem_classes="gwb-examples")
    one = len(inputs) == 1

    def pick(i):
        row = examples[i] if isinstance(i, int) and 0 <= i < len(examples) else [gr.skip()] * len(inputs)
        return row[0] if one else tuple(row)

    table.click(pick, table, inputs, api_name=False, show_progress="hidden")
    return table


def language_choices(codes) -> list[tuple[str, str]]:
    return [(f"{LANGUAGES[c].name} ({c})", c) for c in codes]


ASR_LANG_CHOICES = language_choices(ASR_LANGUAGES)


def asr_language_dropdown(**kw) -> gr.Dropdown:
    """Spoken language for ASR: detect automatically, or one of the model's ASR languages."""
    # any value is accepted from the API; an unsupported one gets the callback's message with the supported list
    return gr.Dropdown(
        [("Detect automatically", "")] + ASR_LANG_CHOICES,
        value="",
        label="Spoken language",
        allow_custom_value=True,
        **kw,
    )


def direction_dropdowns(source: str = "en", target: str = "fr") -> tuple[gr.Dropdown, gr.Dropdown]:
    """Source and target dropdowns for translation; the targets follow the source."""
    src = gr.Dropdown(
        language_choices(sources()), value=source, label="Spoken language", elem_id="src-lang", allow_custom_value=True
    )
    # the API may send any target; an unsupported one gets the callback's clear refusal
    tgt = gr.Dropdown(
        language_choices(targets_for(source)),
        value=target,
        label="Translate to",
        elem_id="tgt-lang",
        allow_custom_value=True,
    )

    def follow(source_code):
        choices = language_choices(targets_for(source_code))
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    src.change(follow, src, tgt, api_name=False)
    return src, tgt


def model_choices(wb: Workbench) -> list[tuple[str, str]]:
    return [("Base model", BASE)] + [(f"Adapter: {display_name(a['name'])}", a["name"]) for a in wb.adapters.loaded()]


# -- HTML views ---------------------------------------------------------------------------------------------
NO_SPEECH = "<span class='muted'>(no speech)</span>"


def transcript_html(body: str) -> str:
    return f"<div class='transcript'>{body or NO_SPEECH}</div>"


def highlight_html(text: str, keywords) -> str:
    """The text with every keyword occurrence marked."""
    return transcript_html(mark_keywords(text, keywords))


def diff_html(before: str, after: str) -> tuple[str, str, int, int]:
    """Word-level diff: removed words marked on the `before` side, new words on the `after` side; the number
    of words that differ, and of word positions in all (equal words + the longer side of each change)."""
    a, b = before.split(), after.split()
    left, right, changed, total = [], [], 0, 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        wa, wb_ = html.escape(" ".join(a[i1:i2])), html.escape(" ".join(b[j1:j2]))
        total += max(i2 - i1, j2 - j1)
        if op == "equal":
            left.append(wa)
            right.append(wb_)
            continue
        changed += max(i2 - i1, j2 - j1)
        if wa:
            left.append(f"<del class='diff'>{wa}</del>")
        if wb_:
            right.append(f"<ins class='diff'>{wb_}</ins>")
    return (
        transcript_html(" ".join(p for p in left if p)),
        transcript_html(" ".join(p for p in right if p)),
        changed,
        total,
    )


def diff_summary(changed: int, total: int) -> str:
    """'3 of 12 words changed' (never a share above 100%)."""
    return f"{changed} of {total} word{'s' if total != 1 else ''} changed"


def fmt_time(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


def words_html(res: Result) -> str:
    """The words with their times: each a span the page highlights while the audio plays (theme.HEAD)."""
    if not res.words:
        return ""
    spans, speaker = [], None
    for w in res.words:
        if w.speaker is not None and w.speaker != speaker:  # a turn starts: its label, in the speaker's colour
            spans.append(f"<b class='spk spk{w.speaker % 6}'>Speaker {w.speaker}</b>")
        speaker = w.speaker
        colour = f" spk{w.speaker % 6}" if w.speaker is not None else ""
        spans.append(
            f"<span class='w{colour}' data-s='{w.start:.2f}' data-e='{w.end:.2f}' "
            f"title='{w.start:.2f}–{w.end:.2f} s'>{html.escape(w.word)}</span>"
        )
    return f"<div class='gwb-words'>{' '.join(spans)}</div>"


def language_line(res: Result) -> str:
    """The spoken language when it was left to detection (`res.language` unset): the transcript's language, or
    that it is unclear."""
    if not res.language_left_to_detect or not res.text:
        return ""
    if res.detected_language:
        name = LANGUAGES[res.detected_language].name
        body = (
            f"Detected language: <b>{name}</b> ({res.detected_language}, {100 * res.language_confidence:.0f}% sure, "
            "from the transcript)"
        )
    else:
        body = "Detected language: unclear (too little text to tell); pick the language to be sure"
    return f"<p class='gwb-language muted'>{body}</p>"


def decoding_line(res: Result) -> str:
    """How the clip was decoded, when not plainly greedy (shown under the words)."""
    from ..engine import describe_paths

    parts = [] if set(res.decoding) <= {"greedy", "llm_passes"} else [f"Decoding: {describe_paths(res.decoding)}."]
    parts += [f"{x[0].upper()}{x[1:]}." for x in res.info]
    return "".join(f"<p class='muted'>{html.escape(p)}</p>" for p in parts)


def segments_table(res: Result) -> list[list[str]]:
    """Start, end, text; a speaker's turn starts with its label."""
    return [[fmt_time(s.start), fmt_time(s.end), speaker_label(s.speaker) + s.text] for s in res.segments]


def speaker_label(speaker: int | None) -> str:
    return "" if speaker is None else f"Speaker {speaker}: "


def text_or_note(res: Result) -> str:
    if res.note == "silent":
        return "(The clip is silent: nothing to transcribe.)"
    if res.note:
        return f"({res.note})"
    return res.text


# -- manifests ------------------------------------------------------------------------------------------------
def manifest_inputs(
    wb: Workbench, elem_id: str, label: str = "Manifest", prefer: str = "train"
) -> tuple[gr.Dropdown, gr.File]:
    """A picker of the manifests in the data folders and an upload field (the Train and Evaluate tabs); the
    first manifest whose name starts with `prefer` (a split) is the default."""
    manifests = list(wb.files.manifest_choices())
    first = next((m for m in manifests if Path(m).stem.startswith(prefer)), manifests[0] if manifests else None)
    picker = gr.Dropdown(
        manifests,
        value=first,
        label=label,
        allow_custom_value=True,
        elem_id=elem_id,
        info="From the bundled data folder" + (" and the data roots" if wb.files.data_roots else ""),
    )
    upload = gr.File(
        label="…or upload a manifest (.jsonl / .csv, or a .zip with its audio)",
        file_types=[".jsonl", ".csv", ".zip"],
        type="filepath",
    )
    return picker, upload
