"""Live: the microphone streams, the text grows at every pause; when the recording stops, the whole recording
is transcribed as one clip (the final text equals transcribing the recorded file)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

import gradio as gr

from ...audio import Audio
from ...keywords import split_keywords
from ...languages import (
    TEXT_LANGUAGES,
    TRANSLATION_DIRECTIONS,
    UnsupportedLanguageError,
    check_text_language,
    language_name,
)
from ...live import LiveBudget, LiveTranscript
from ...prompts import TaskSpec
from ...session import Workbench
from ..ask import ask_panel
from ..common import asr_language_dropdown, language_choices, user_errors
from . import Tab, UIContext

MAX_LIVE_SECONDS = 600.0
# samples all live recordings hold together: 4 ten-minute recordings at 48 kHz (13 at 16 kHz), 16-bit
BUDGET = LiveBudget(256 * 2**20)
# decodes the closed phrases of every live stream, one at a time (the model serves one request at a time anyway)
DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-decode")


SPOKEN = ""  # "Show in": the spoken language (no translation)


def _spec(language: str | None, keywords: str | None) -> TaskSpec:
    words = split_keywords(keywords)
    return TaskSpec("asr", language=language or None, keywords=tuple(words))


def live_route(wb: Workbench, language, keywords, target, adapter) -> tuple[Callable[[Audio], str], str]:
    """How a piece of the recording becomes the text shown, and who does it (in words): the transcript; or, shown in
    another language, speech translation by the speech model where it has that direction, else the transcript
    translated by the second pass's text model."""
    asr = _spec(language, keywords)
    if not target or target == (language or SPOKEN):
        return (lambda clip: wb.inference.run(clip, asr, None, adapter).text), ""
    caps = wb.inference.capabilities()
    if language and (language, target) in TRANSLATION_DIRECTIONS and (caps is None or caps.can("ast")):
        spec = TaskSpec("ast", language=language, target=target)
        note = f"Translated by the speech model ({language_name(language)} → {language_name(target)})."
        return (lambda clip: wb.inference.run(clip, spec, None, adapter).text), note
    if wb.second_pass is None:
        raise UnsupportedLanguageError(
            f"The speech model does not translate {language_name(language) if language else 'speech'} into "
            f"{language_name(target)}"
            + ("" if language else " without the spoken language (pick it)")
            + ", and this demo has no text model to translate its transcript (--text-model)."
        )
    target = check_text_language(target)
    second = wb.second_pass

    def transcribe_then_translate(clip: Audio) -> str:
        text = wb.inference.run(clip, asr, None, adapter).text
        return second.ask(text, "translate", language=target).text if text.strip() else ""

    return transcribe_then_translate, f"Transcribed by the speech model, then translated by `{second.engine.name}`."


@user_errors(text=("language", "keywords", "model", "target"))
def live_piece(
    wb: Workbench,
    piece,
    live: LiveTranscript | None,
    language: str | None,
    keywords: str | None,
    model: str | None,
    executor: Executor | None = None,
    target: str | None = None,
):
    """One streamed piece: (text so far, the session's state, who writes it). With an `executor`, the piece is kept
    and the decoding happens there (the microphone drops audio while a piece waits for its answer). `target`: show
    the speech in that language."""
    if piece is None:
        return (live.text() if live else ""), live, (live.note if live else "")
    if live is None:
        decode, note = live_route(wb, language, keywords, target, wb.inference.adapter_for(model))
        live = LiveTranscript(
            decode,
            max_seconds=min(MAX_LIVE_SECONDS, wb.limits.max_audio_seconds),
            executor=executor,
            budget=BUDGET,
        )
        live.note = note
    return live.feed(piece), live, live.note


@user_errors
def live_final(wb: Workbench, live: LiveTranscript | None):
    """The recording stopped: the whole of it as one clip, the way its phrases went (the text a file upload of it
    gives, or its translation); the recording itself, to listen to or download."""
    if live is None or live.seconds == 0:
        return "", None, None
    live.finish()
    try:
        return live.decode(live.recording()), None, live.recorded()
    finally:
        live.close()  # the recording goes back to the visitor; the server keeps none of it


def _close(live: LiveTranscript | None) -> None:
    """The session is gone (its tab closed): free its recording at once."""
    if live is not None:
        live.close()


def show_in_choices(wb: Workbench) -> list[tuple[str, str]]:
    """ "Show in": the spoken language, or the languages speech can be shown in here (the speech model's
    translation targets; with a text model, also every language it writes)."""
    codes = {t for _, t in TRANSLATION_DIRECTIONS} | (set(TEXT_LANGUAGES) if wb.second_pass else set())
    return [("The spoken language (no translation)", SPOKEN)] + language_choices(sorted(codes))


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown(
        "Speak: the text appears phrase by phrase, each as soon as you pause (voice activity detection); "
        "when you stop recording, the whole recording is transcribed once more as one clip — the same "
        "text an upload of it gives. Pick a language under **Show in** to read the speech translated as you "
        "talk (a translation microphone)."
    )
    state = gr.State(None, delete_callback=_close)
    with gr.Row(elem_classes="wb-wrap"):
        with gr.Column(scale=5, min_width=300):
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone", elem_id="live-mic")
            language = asr_language_dropdown(elem_id="live-lang")
            target = gr.Dropdown(show_in_choices(wb), value=SPOKEN, label="Show in", elem_id="live-target")
            keywords = gr.Textbox("", label="Keywords (optional)", placeholder="comma-separated", max_lines=1)
            model = ctx.model_selector("model-live")
        with gr.Column(scale=7, min_width=300):
            text = gr.Textbox(label="Live text", lines=8, elem_id="live-text", buttons=["copy"])
            note = gr.Markdown("", elem_id="live-note")
            recorded = gr.Audio(
                label="The recording (the final text is its transcript, or its translation)",
                interactive=False,
                type="numpy",
                format="wav",
                elem_id="live-recording",
            )
            ask_panel(wb, "live", text)

    def piece_api(piece, live, language, keywords, model, target):
        return live_piece(wb, piece, live, language, keywords, model, DECODER, target)

    def final_api(live):
        return live_final(wb, live)

    # taking a piece is quick and uses no model (DECODER does): pieces are never queued behind model work
    mic.stream(
        piece_api,
        [mic, state, language, keywords, model, target],
        [text, state, note],
        stream_every=0.5,
        time_limit=MAX_LIVE_SECONDS,
        api_name=False,
        concurrency_id="live-pieces",
        concurrency_limit=16,
        show_progress="hidden",
    )
    mic.stop_recording(
        final_api, state, [text, state, recorded], api_name=False, show_progress_on=text, concurrency_id="model"
    )


TAB = Tab(
    "live",
    "Live",
    "Streaming transcription from the microphone: the text grows at every pause; the final "
    "text equals transcribing the whole recording. Or a translation microphone: the speech shown in another "
    "language as you talk.",
    build,
)
