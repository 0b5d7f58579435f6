"""What the tabs share: error mapping, the model selector, language dropdowns, the manifest picker, HTML views.

Every problem a user can cause reaches the browser (and API clients) as a `gr.Error` with a specific
message, through `user_errors`; the server keeps serving.
"""
from __future__ import annotations

import difflib
import functools
import html
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import gradio as gr

from ..adapters import BASE, AdapterError
from ..audio import AudioError
from ..keywords import mark_keywords
from ..languages import ASR_LANGUAGES, LANGUAGES, UnsupportedLanguageError, sources, targets_for
from ..manifest import DataError
from ..paths import DATA_DIR, PROJECT_ROOT
from ..service import ModelNotReady
from ..session import TranscriptionError, Workbench
from ..training_job import JobError
from ..transcribe import Result

try:  # ZeroGPU on Hugging Face Spaces
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:  # anywhere else: a no-op
    def gpu(fn):
        return fn

# domain error -> the title of its message box; the first match wins
USER_ERRORS: list[tuple[type[BaseException], str]] = [
    (ModelNotReady, "Model not ready"), (AudioError, "Unusable audio"), (AdapterError, "Adapter"),
    (UnsupportedLanguageError, "Unsupported language"), (DataError, "Manifest"), (JobError, "Train"),
    (TranscriptionError, "Transcription failed"), (ValueError, "Input"),
]


def user_errors(fn: Callable) -> Callable:
    """Turn the domain errors a user can cause into a gr.Error with the same message (signature kept)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except tuple(t for t, _ in USER_ERRORS) as exc:
            title = next(title for t, title in USER_ERRORS if isinstance(exc, t))
            raise gr.Error(str(exc), title=title) from None

    return wrapper


def progress_callback(progress: gr.Progress | None, desc: str = "Transcribing…", unit: str = "chunks"):
    """A (done, total) callback for the core that drives a gr.Progress bar (or nothing)."""
    if progress is None:
        return None
    progress(0, desc=desc)

    def tick(done: int, total: int) -> None:
        progress((done, total), desc=desc, unit=unit)

    return tick


# -- selectors --------------------------------------------------------------------------------------------
ASR_LANG_CHOICES = [(f"{LANGUAGES[c].name} ({c})", c) for c in ASR_LANGUAGES]


def language_choices(codes) -> list[tuple[str, str]]:
    return [(f"{LANGUAGES[c].name} ({c})", c) for c in codes]


def asr_language_dropdown(**kw) -> gr.Dropdown:
    """Spoken language for ASR: detect automatically, or one of the model's ASR languages."""
    return gr.Dropdown([("Detect automatically", "")] + ASR_LANG_CHOICES, value="", label="Spoken language", **kw)


def direction_dropdowns(source: str = "en", target: str = "fr") -> tuple[gr.Dropdown, gr.Dropdown]:
    """Source and target dropdowns for translation; the targets follow the source."""
    src = gr.Dropdown(language_choices(sources()), value=source, label="Spoken language", elem_id="src-lang")
    # the API may send any target; an unsupported one gets the callback's clear refusal
    tgt = gr.Dropdown(language_choices(targets_for(source)), value=target, label="Translate to",
                      elem_id="tgt-lang", allow_custom_value=True)

    def follow(source_code):
        choices = language_choices(targets_for(source_code))
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    src.change(follow, src, tgt, api_name=False)
    return src, tgt


def model_choices(wb: Workbench) -> list[tuple[str, str]]:
    return [("Base model", BASE)] + [(f"Adapter: {a['name']}", a["name"]) for a in wb.loaded_adapters()]


# -- HTML views ---------------------------------------------------------------------------------------------
NO_SPEECH = "<span class='muted'>(no speech)</span>"


def transcript_html(body: str) -> str:
    return f"<div class='transcript'>{body or NO_SPEECH}</div>"


def highlight_html(text: str, keywords) -> str:
    """The text with every keyword occurrence marked."""
    return transcript_html(mark_keywords(text, keywords))


def diff_html(before: str, after: str) -> tuple[str, str, int]:
    """Word-level diff: removed words marked on the `before` side, new words on the `after` side; the number
    of words that differ."""
    a, b = before.split(), after.split()
    left, right, changed = [], [], 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        wa, wb_ = html.escape(" ".join(a[i1:i2])), html.escape(" ".join(b[j1:j2]))
        if op == "equal":
            left.append(wa)
            right.append(wb_)
            continue
        changed += max(i2 - i1, j2 - j1)
        if wa:
            left.append(f"<del class='diff'>{wa}</del>")
        if wb_:
            right.append(f"<ins class='diff'>{wb_}</ins>")
    return transcript_html(" ".join(p for p in left if p)), transcript_html(" ".join(p for p in right if p)), changed


def fmt_time(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


def segments_table(res: Result) -> list[list[str]]:
    return [[fmt_time(s.start), fmt_time(s.end), s.text] for s in res.segments]


def text_or_note(res: Result) -> str:
    if res.note == "silent":
        return "(The clip is silent: nothing to transcribe.)"
    if res.note:
        return f"({res.note})"
    return res.text


# -- manifests ------------------------------------------------------------------------------------------------
def bundled_manifests() -> list[str]:
    return sorted(str(p.relative_to(PROJECT_ROOT)) for p in DATA_DIR.rglob("*.jsonl") if "examples" not in p.parts)


def manifest_inputs(elem_id: str) -> tuple[gr.Dropdown, gr.File]:
    """A bundled-manifest picker and an upload field (the Train and Evaluate tabs)."""
    manifests = bundled_manifests()
    picker = gr.Dropdown(manifests, value=manifests[0] if manifests else None, label="Bundled manifest",
                         allow_custom_value=True, elem_id=elem_id)
    upload = gr.File(label="…or upload a manifest (.jsonl / .csv, or a .zip with its audio)",
                     file_types=[".jsonl", ".csv", ".zip"], type="filepath")
    return picker, upload


def _manifest_from_upload(upload: str, dest: Path) -> str:
    """A JSONL/CSV file, or a .zip holding a manifest and its audio, unpacked under `dest`."""
    src = Path(upload)
    dest.mkdir(parents=True, exist_ok=True)
    if src.suffix.lower() == ".zip":
        with zipfile.ZipFile(src) as zf:
            for member in zf.namelist():  # no absolute paths or '..' in the archive
                target = (dest / member).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise DataError(f"Unsafe path in the archive: {member}")
            zf.extractall(dest)
        found = sorted(p for p in dest.rglob("*") if p.suffix.lower() in (".jsonl", ".csv"))
        if not found:
            raise DataError("The archive holds no .jsonl or .csv manifest.")
        return str(found[0])
    if src.suffix.lower() not in (".jsonl", ".csv"):
        raise DataError("Upload a .jsonl or .csv manifest, or a .zip with a manifest and its audio.")
    target = dest / src.name
    shutil.copy(src, target)
    return str(target)


def resolve_manifest(wb: Workbench, manifest: str | None, upload: str | None) -> str:
    """The manifest path to use: the upload if there is one, else the bundled pick."""
    if upload:
        return _manifest_from_upload(upload, Path(tempfile.mkdtemp(prefix="manifest-", dir=wb.downloads)))
    if manifest:
        return str((PROJECT_ROOT / manifest).resolve())
    raise DataError("Pick a bundled manifest or upload one.")
