"""Ask about this recording: the second pass under a transcript (Transcribe, Live). The transcript goes to the
Granite text model with a task of the table (second_pass.TEXT_TASKS) or a free question; the answer streams in as
it is generated, with the model that gave it. Offered only when the operator gave a text model."""

from __future__ import annotations

import time
from collections.abc import Iterator

import gradio as gr

from ..coerce import to_text
from ..languages import TEXT_LANGUAGES
from ..second_pass import TEXT_TASKS, SecondPass, last
from ..session import Workbench
from ..text_engine import TextModelError
from .common import language_choices

BUTTON_TASKS = [n for n, t in TEXT_TASKS.items() if t.source == "transcript" and not t.needs]
MAX_QUESTION_CHARS = 1000


def transcript_of(text, segments) -> str:
    """The transcript as the page shows it: one line per segment with its start (and speaker) when the segments
    table has more than one row, else the text."""
    rows = segments.values.tolist() if hasattr(segments, "values") else (segments or {}).get("data", [])
    rows = [r for r in rows if len(r) >= 3 and str(r[2]).strip()]
    if len(rows) > 1:
        return "\n".join(f"[{r[0]}] {str(r[2]).strip()}" for r in rows)
    return (to_text(text, "transcript") or "").strip().removesuffix("…").strip()  # (Live: "…" while it waits)


def text_model(wb: Workbench) -> SecondPass:
    if wb.second_pass is None:
        raise ValueError("No text model: start the demo with --text-model or --text-server.")
    return wb.second_pass


def answer_stream(
    wb: Workbench, transcript, task: str, question=None, language=None, segments=None
) -> Iterator[tuple[str, str]]:
    """(the answer so far, a note on who answers) while the text model writes; a problem is a gr.Error."""
    try:
        yield from _answers(wb, transcript, task, question, language, segments)
    except (ValueError, TextModelError) as exc:
        raise gr.Error(str(exc), title="Second pass") from None


def _answers(wb: Workbench, transcript, task, question, language, segments) -> Iterator[tuple[str, str]]:
    second = text_model(wb)
    task = to_text(task, "task") or "summary"
    question = (to_text(question, "question") or "").strip() or None
    if question and len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"Ask in at most {MAX_QUESTION_CHARS} characters.")
    text = transcript_of(transcript, segments)
    if not text or text.startswith("(") and text.endswith(")"):  # empty, or a note such as "(no speech detected)"
        raise ValueError("Transcribe a recording first: there is no transcript to ask about.")
    started, answer, parts = time.monotonic(), "", 1
    yield "", "Waiting for the text model…"
    for answer, parts in second.stream(text, task, question, to_text(language, "language") or None):  # noqa: B007
        yield answer, f"`{second.engine.name}` is writing…"
    split = f" in {parts} parts (the transcript is longer than its context)" if parts > 1 else ""
    yield answer.strip(), f"Answered by `{second.engine.name}`{split} in {time.monotonic() - started:.1f} s."


def ask_panel(wb: Workbench, key: str, text: gr.Textbox, segments=None, api: bool = False) -> None:
    """The panel under a transcript (`text`, and its `segments` table where the tab has one); `api`: also
    offer it as the /ask endpoint (once in the app)."""
    if wb.second_pass is None:
        return
    with gr.Accordion("Ask about this recording", open=True, elem_id=f"{key}-ask"):
        gr.Markdown("A second pass: the transcript goes to a Granite text model (IBM's two-pass design).")
        with gr.Row():
            buttons = {n: gr.Button(TEXT_TASKS[n].label, size="sm", elem_id=f"{key}-ask-{n}") for n in BUTTON_TASKS}
        with gr.Row(equal_height=True):
            question = gr.Textbox(
                label="Your question", placeholder="Who will call the client?", scale=4, elem_id=f"{key}-question"
            )
            ask = gr.Button("Ask", scale=1, min_width=100, elem_id=f"{key}-ask-question")
        with gr.Row(equal_height=True):
            language = gr.Dropdown(
                language_choices(TEXT_LANGUAGES), value="en", label="Translate the transcript into", scale=4
            )
            translate = gr.Button("Translate", scale=1, min_width=100, elem_id=f"{key}-ask-translate")
        answer = gr.Textbox(label="Answer", lines=6, buttons=["copy"], elem_id=f"{key}-answer")
        note = gr.Markdown("", elem_id=f"{key}-answer-note")
    seg = [segments] if segments is not None else []

    def run(task):
        def stream(transcript, question_text, lang, *segs):
            yield from answer_stream(wb, transcript, task, question_text, lang, segs[0] if segs else None)

        return stream

    # the text model's work counts against --concurrency with the speech model's (one queue for all model work)
    common = dict(outputs=[answer, note], api_name=False, concurrency_id="model", show_progress="hidden")
    for name, button in buttons.items():
        button.click(run(name), [text, question, language, *seg], **common)
    ask.click(run("question"), [text, question, language, *seg], **common)
    question.submit(run("question"), [text, question, language, *seg], **common)
    translate.click(run("translate"), [text, question, language, *seg], **common)
    if api:

        def ask_api(transcript, task="summary", question="", language="en"):
            """The second pass over a transcript: task (summary, actions, punctuate, translate, question,
            keywords), the question, the language to translate into; the answer."""
            return last(answer_stream(wb, transcript, task, question, language), ("", ""))[0]

        gr.Button(visible=False).click(
            ask_api,
            [text, gr.Textbox("summary", visible=False), question, language],
            answer,
            api_name="ask",
            concurrency_id="model",
        )


MAX_SUGGESTED = 30  # keywords a suggestion gives at most (the task asks for 30; the prompt takes up to 50)


def suggested_keywords(wb: Workbench, document) -> Iterator[str]:
    """Domain terms from a pasted document, as a comma-separated list for the keyword box (streamed; the last one
    cleaned: no repeats, at most MAX_SUGGESTED)."""
    from ..keywords import split_keywords

    try:
        answer = ""
        for answer, _ in text_model(wb).stream(to_text(document, "document") or "", "keywords"):  # noqa: B007
            yield answer
    except (ValueError, TextModelError) as exc:
        raise gr.Error(str(exc), title="Second pass") from None
    unique = [w for w in dict.fromkeys(w.strip(" .;:-*") for w in split_keywords(answer)) if w]
    if not unique:
        raise gr.Error("The text model suggested no terms.", title="Second pass")
    yield ", ".join(unique[:MAX_SUGGESTED])


def keyword_suggester(wb: Workbench, keywords: gr.Textbox) -> None:
    """Under a keyword box: paste a document (a drug list, a product sheet, an agenda), get its domain terms."""
    if wb.second_pass is None:
        return
    with gr.Accordion("Suggest keywords from a document (text model)", open=False, elem_id="keywords-suggest"):
        document = gr.Textbox(
            label="Document", lines=5, placeholder="Paste a text of the domain: an agenda, a product sheet, a drug list"
        )
        button = gr.Button("Suggest keywords", size="sm", elem_id="keywords-suggest-button")

    def suggest(doc):
        yield from suggested_keywords(wb, doc)

    button.click(
        suggest,
        document,
        keywords,
        api_name=False,
        concurrency_id="model",
        show_progress="minimal",
    )
