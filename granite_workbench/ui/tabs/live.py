"""Live: the microphone streams, the text grows at every pause; when the recording stops, the whole recording
is transcribed as one clip (the final text equals transcribing the recorded file)."""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor

import gradio as gr

from ...keywords import split_keywords
from ...live import LiveBudget, LiveTranscript
from ...prompts import TaskSpec
from ...session import Workbench
from ..ask import ask_panel
from ..common import asr_language_dropdown, user_errors
from . import Tab, UIContext

MAX_LIVE_SECONDS = 600.0
# samples all live recordings hold together: 4 ten-minute recordings at 48 kHz (13 at 16 kHz), 16-bit
BUDGET = LiveBudget(256 * 2**20)
# decodes the closed phrases of every live stream, one at a time (the model serves one request at a time anyway)
DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-decode")


def _spec(language: str | None, keywords: str | None) -> TaskSpec:
    words = split_keywords(keywords)
    return TaskSpec("asr", language=language or None, keywords=tuple(words))


@user_errors(text=("language", "keywords", "model"))
def live_piece(
    wb: Workbench,
    piece,
    live: LiveTranscript | None,
    language: str | None,
    keywords: str | None,
    model: str | None,
    executor: Executor | None = None,
):
    """One streamed piece: (text so far, the session's state). With an `executor`, the piece is kept and the
    decoding happens there (the microphone drops audio while a piece waits for its answer)."""
    if piece is None:
        return (live.text() if live else ""), live
    spec = _spec(language, keywords)
    adapter = wb.inference.adapter_for(model)
    if live is None:
        live = LiveTranscript(
            lambda clip: wb.inference.run(clip, spec, None, adapter).text,
            max_seconds=min(MAX_LIVE_SECONDS, wb.limits.max_audio_seconds),
            executor=executor,
            budget=BUDGET,
        )
    return live.feed(piece), live


@user_errors(text=("language", "keywords", "model"))
def live_final(
    wb: Workbench, live: LiveTranscript | None, language: str | None, keywords: str | None, model: str | None
):
    """The recording stopped: the whole of it as one clip (the text a file upload of it gives); the recording
    itself, to listen to or download."""
    if live is None or live.seconds == 0:
        return "", None, None
    live.finish()
    try:
        res = wb.inference.run(live.recording(), _spec(language, keywords), None, model)
        return res.text, None, live.recorded()
    finally:
        live.close()  # the recording goes back to the visitor; the server keeps none of it


def _close(live: LiveTranscript | None) -> None:
    """The session is gone (its tab closed): free its recording at once."""
    if live is not None:
        live.close()


def build(ctx: UIContext) -> None:
    wb = ctx.wb
    gr.Markdown(
        "Speak: the text appears phrase by phrase, each as soon as you pause (voice activity detection); "
        "when you stop recording, the whole recording is transcribed once more as one clip — the same "
        "text an upload of it gives."
    )
    state = gr.State(None, delete_callback=_close)
    with gr.Row(elem_classes="wb-wrap"):
        with gr.Column(scale=5, min_width=300):
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone", elem_id="live-mic")
            language = asr_language_dropdown(elem_id="live-lang")
            keywords = gr.Textbox("", label="Keywords (optional)", placeholder="comma-separated", max_lines=1)
            model = ctx.model_selector("model-live")
        with gr.Column(scale=7, min_width=300):
            text = gr.Textbox(label="Live transcript", lines=8, elem_id="live-text", buttons=["copy"])
            recorded = gr.Audio(
                label="The recording (the final text is its transcript)",
                interactive=False,
                type="numpy",
                format="wav",
                elem_id="live-recording",
            )
            ask_panel(wb, "live", text)

    def piece_api(piece, live, language, keywords, model):
        return live_piece(wb, piece, live, language, keywords, model, DECODER)

    def final_api(live, language, keywords, model):
        return live_final(wb, live, language, keywords, model)

    # taking a piece is quick and uses no model (DECODER does): pieces are never queued behind model work
    mic.stream(
        piece_api,
        [mic, state, language, keywords, model],
        [text, state],
        stream_every=0.5,
        time_limit=MAX_LIVE_SECONDS,
        api_name=False,
        concurrency_id="live-pieces",
        concurrency_limit=16,
        show_progress="hidden",
    )
    mic.stop_recording(
        final_api,
        [state, language, keywords, model],
        [text, state, recorded],
        api_name=False,
        show_progress_on=text,
        concurrency_id="model",
    )


TAB = Tab(
    "live",
    "Live",
    "Streaming transcription from the microphone: the text grows at every pause; the final "
    "text equals transcribing the whole recording.",
    build,
)
