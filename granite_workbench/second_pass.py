"""The second pass of Granite's two-pass design: a transcript goes to a Granite text model, in a separate call,
for a summary, action items, an answer, punctuation, a translation or keywords. The tasks are one table.

    from granite_workbench.second_pass import ask
    answer = ask(text_engine, result, "summary")          # result: a transcript (str) or a transcribe.Result
    answer = ask(text_engine, result, "question", question="Who will call the client?")
    print(answer.text, answer.model)

Long transcripts are split to fit the text model's context (`split_to_fit`): at line boundaries (one line per
segment or speaker turn, with its time and speaker), a line longer than the room at word boundaries. Tasks that
rewrite the transcript (punctuate, translate) answer part by part and the parts are joined; tasks that condense
it (summary, actions, question, keywords) answer each part and then combine the partial answers in one more call
(again in parts, when even those do not fit)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .languages import check_text_language, language_name
from .text_engine import TextEngine

# the room kept beside prompt and answer: chat-template tokens (role markers, the system turn) and a margin
TEMPLATE_TOKENS = 64


@dataclass(frozen=True)
class TextTask:
    name: str
    label: str  # the button's label
    instruction: str  # what the model is asked ({question}, {language} filled in)
    combine: str | None = None  # how partial answers become one (None: the parts' answers are joined in order)
    source: str = "transcript"  # what is sent: "transcript", "document" (keywords from a pasted text), "answers"
    max_new_tokens: int = 300
    needs: tuple[str, ...] = ()  # arguments the task cannot go without ("question", "language")


TEXT_TASKS: dict[str, TextTask] = {
    t.name: t
    for t in (
        TextTask(
            "summary",
            "Summary",
            "Summarise this transcript of a recording in a few sentences: what it is about and what was decided.",
            "These are summaries of consecutive parts of one recording. Write one summary of the whole recording "
            "in a few sentences.",
        ),
        TextTask(
            "actions",
            "Action items",
            "List the action items in this transcript of a recording, one per line starting with '- ', with who "
            "will do it when the transcript says so. If there are none, answer 'No action items.'",
            "These are the action items of consecutive parts of one recording. Merge them into one list, one per "
            "line starting with '- ', without repeats.",
        ),
        TextTask(
            "question",
            "Ask",
            "Answer the question about this transcript of a recording, from what the transcript says only; if "
            "it does not say, answer that the recording does not say.\n\nQuestion: {question}",
            "These are answers to the question '{question}' from consecutive parts of one recording. Give one "
            "answer from them; if none of them knows, answer that the recording does not say.",
            needs=("question",),
        ),
        TextTask(
            "punctuate",
            "Punctuate",
            "Rewrite this transcript with punctuation and capitalisation. Keep every word, in its order, and "
            "the line breaks; change nothing else. Answer with the rewritten transcript only.",
            max_new_tokens=1000,
        ),
        TextTask(
            "translate",
            "Translate",
            "Translate this transcript into {language}. Keep the line breaks. Answer with the translation only.",
            max_new_tokens=1000,
            needs=("language",),
        ),
        TextTask(
            "keywords",
            "Suggest keywords",
            "List the domain terms in this document that a speech recogniser could get wrong: names, products, "
            "jargon, acronyms. Answer with a comma-separated list of at most 30 terms and nothing else.",
            "Merge these comma-separated lists of terms into one list of at most 30 terms, without repeats. "
            "Answer with the comma-separated list only.",
            source="document",
            max_new_tokens=200,
        ),
    )
}


@dataclass
class Answer:
    """A second pass's answer: the task, what was asked, the text, which model answered, in how many parts."""

    task: str
    text: str
    model: str
    question: str | None = None
    language: str | None = None
    parts: int = 1
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [])}


def last(items, default):
    """The last item an iterator gives (`default` if none): a streamed answer, whole."""
    items = deque(items, maxlen=1)
    return items[0] if items else default


def get_text_task(name: str) -> TextTask:
    try:
        return TEXT_TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown second-pass task {name!r}. Choose one of: {', '.join(TEXT_TASKS)}.") from None


def task_for(then: str) -> tuple[str, str | None]:
    """`--then` / a button: a task name, or anything else is a question about the recording."""
    then = (then or "").strip()
    if not then:
        raise ValueError("Say what to do with the transcript: " + ", ".join(TEXT_TASKS) + ", or ask a question.")
    return (then, None) if then in TEXT_TASKS else ("question", then)


def transcript_lines(transcript) -> list[str]:
    """The transcript as lines for the text model: one per segment, with its time and speaker when the result
    has them (`[01:02] Speaker 1: ...`); a plain string as its own lines."""
    if isinstance(transcript, str):
        return [line for line in transcript.splitlines() if line.strip()]
    segments = [s for s in transcript.segments if s.text.strip()]
    if not segments:
        return transcript_lines(transcript.text)
    timed = len(segments) > 1 or segments[0].speaker is not None
    lines = []
    for s in segments:
        when = f"[{int(s.start) // 60:02d}:{int(s.start) % 60:02d}] " if timed else ""
        who = f"Speaker {s.speaker}: " if s.speaker is not None else ""
        lines.append(f"{when}{who}{s.text.strip()}")
    return lines


def render_messages(task: TextTask, text: str, question: str | None = None, language: str | None = None) -> list:
    """The chat messages of one call: the task's instruction, then the transcript (or document)."""
    what = {"document": "Document", "answers": "Answers"}.get(task.source, "Transcript")
    instruction = task.instruction.format(question=question or "", language=language_name(language or "en"))
    return [{"role": "user", "content": f"{instruction}\n\n{what}:\n{text}"}]


def split_to_fit(lines: list[str], room: int, count: Callable[[str], int]) -> list[str]:
    """The lines packed into parts of at most `room` tokens each (by `count`), in order; a line longer than that
    is cut at word boundaries."""
    if room < 16:
        raise ValueError("The text model's context leaves no room for the transcript (raise its context).")
    parts, current = [], []
    for line in lines:
        pieces = [line] if count(line) <= room else _cut(line, room, count)
        for piece in pieces:
            if current and count("\n".join([*current, piece])) > room:
                parts.append("\n".join(current))
                current = []
            current.append(piece)
    if current:
        parts.append("\n".join(current))
    return parts


def _cut(line: str, room: int, count: Callable[[str], int]) -> list[str]:
    out, words = [], []
    for word in line.split():
        if words and count(" ".join([*words, word])) > room:
            out.append(" ".join(words))
            words = []
        words.append(word)
    return out + ([" ".join(words)] if words else [])


class SecondPass:
    """A text engine with the demo's (or the CLI's) limits: answers of at most `max_new_tokens`, transcripts of
    at most `max_input_tokens`."""

    def __init__(self, engine: TextEngine, max_new_tokens: int | None = None, max_input_tokens: int | None = None):
        self.engine = engine
        self.max_new_tokens = max_new_tokens
        self.max_input_tokens = max_input_tokens

    def budget(self, task: TextTask) -> int:
        return min(task.max_new_tokens, self.max_new_tokens or task.max_new_tokens)

    def room(self, task: TextTask, question: str | None, language: str | None) -> int:
        """Tokens one part of the transcript may take: the context less the instruction, the template and the
        answer."""
        prompt = render_messages(task, "", question, language)[0]["content"]
        return self.engine.context_tokens - self.engine.count_tokens(prompt) - TEMPLATE_TOKENS - self.budget(task)

    def stream(
        self, transcript, task_name: str, question: str | None = None, language: str | None = None
    ) -> Iterator[tuple[str, int]]:
        """(the answer so far, parts) as it is generated."""
        task = get_text_task(task_name)
        for need, value in (("question", question), ("language", language)):
            if need in task.needs and not (value or "").strip():
                raise ValueError(f"The {task.name} task needs a {need}.")
        if "language" in task.needs:
            language = check_text_language(language)
        lines = transcript_lines(transcript)
        if not lines:
            raise ValueError("The transcript is empty: there is nothing to send to the text model.")
        whole = "\n".join(lines)
        size, room = self.engine.count_tokens(whole), self.room(task, question, language)
        if self.max_input_tokens and size > self.max_input_tokens:
            raise ValueError(
                f"The transcript is longer than this demo's second pass takes ({self.max_input_tokens:,} tokens)."
            )
        # the usual case, a transcript that fits, is counted once (split_to_fit counts every part as it grows)
        parts = [whole] if size <= room else split_to_fit(lines, room, self.engine.count_tokens)
        if task.combine is None or len(parts) == 1:
            done = ""
            for k, part in enumerate(parts):
                sep, text = ("\n" if k else ""), ""
                for text in self._one(task, part, question, language):
                    yield done + sep + text, len(parts)
                done += sep + text
            return
        partial = [self._whole(task, part, question, language) for part in parts]
        combine = TextTask(task.name, task.label, task.combine, None, "answers", task.max_new_tokens, task.needs)
        for text in self._combine(combine, partial, question, language):
            yield text, len(parts)

    def _combine(self, task: TextTask, partial: list[str], question, language) -> Iterator[str]:
        """The partial answers made one (in parts again while they do not fit together)."""
        room = self.room(task, question, language)
        while len(groups := split_to_fit(partial, room, self.engine.count_tokens)) > 1:
            partial = [self._whole(task, g, question, language) for g in groups]
        yield from self._one(task, groups[0], question, language)

    def _one(self, task: TextTask, text: str, question, language) -> Iterator[str]:
        """One call: the answer so far, piece by piece."""
        answer = ""
        for piece in self.engine.stream(render_messages(task, text, question, language), self.budget(task)):
            answer += piece
            yield answer

    def _whole(self, task: TextTask, text: str, question, language) -> str:
        return last(self._one(task, text, question, language), "").strip()

    def ask(self, transcript, task_name: str, question: str | None = None, language: str | None = None) -> Answer:
        """The whole answer at once."""
        text, parts = last(self.stream(transcript, task_name, question, language), ("", 1))
        return Answer(task_name, text.strip(), self.engine.name, question, language, parts)


def ask(engine: TextEngine, transcript, task: str, question: str | None = None, language: str | None = None) -> Answer:
    """One second-pass answer on `engine` (no limits beyond the task's own)."""
    return SecondPass(engine).ask(transcript, task, question, language)
