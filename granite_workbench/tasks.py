"""The task table: one entry per task the model does, read by every part of the workbench.

Each entry says how the task is prompted (with the prompt's source), what a data row needs, how it is
scored and how a report groups it. Prompts, manifests, evaluation, fine-tuning and the UI read this table;
adding a task means adding an entry here (and its prompt wording, if new, with a source).

Prompt sources (docs/model-facts.md has the details):
- `asr`: the granite-4.0-1b-speech model card, `<|audio|>can you transcribe the speech into a written format?`
- `asr_keywords`: the model card's keyword-biasing example appends ` Keywords: kw1, kw2` to the ASR prompt.
- `asr_speakers`, `asr_timestamps`: the granite-speech-4.1-2b-plus model card's SAA_PROMPT and TS_PROMPT, verbatim
  (they start with a space after `<|audio|>`, as the card writes them); only the plus model does them (models.py).
- `ast`: vLLM's GraniteSpeech prompt and IBM's unitxt recipes, `translate the speech to {Language}` (no
  period, the language's English name). No canonical string is published for 4.0-1B; the model card warns
  that an unfamiliar prompt is ignored and the model transcribes instead, so a wrong string fails silently.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAR_LANGUAGES = ("ja", "zh")  # scored by characters: no spaces between words


@dataclass(frozen=True)
class Task:
    name: str
    label: str  # for people (UI, reports)
    prompt: str  # the instruction after `<|audio|>`; {keywords} and {target_name} are filled in
    source: str  # where the prompt wording comes from
    translation: bool = False  # needs a target language; the output is in another language
    keywords: bool = False  # the prompt carries a keyword list (required)
    metrics: tuple[str, ...] = ("wer", "cer")  # what evaluation computes for its rows
    with_keywords: str | None = None  # the task this one becomes when a keyword list is given
    without_keywords: str | None = None  # the task this one becomes when its keyword list is empty
    tagged: bool = False  # the answer carries speaker or time tags (plus_tags.py reads them)

    def primary_metric(self, language: str | None) -> str:
        """The headline metric: BLEU for translation, CER for Japanese/Chinese, else WER."""
        if self.translation:
            return "bleu"
        return "cer" if language in CHAR_LANGUAGES else "wer"

    def group(self, language: str | None, target: str | None) -> str:
        """The report group a row of this task falls in."""
        return f"{self.name} {language}->{target}" if self.translation else f"{self.name} {language}"


ASR_PROMPT = "can you transcribe the speech into a written format?"
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("asr", "Speech recognition", ASR_PROMPT, "granite-4.0-1b-speech model card", with_keywords="asr_keywords"),
        Task(
            "asr_keywords",
            "Keyword-biased speech recognition",
            ASR_PROMPT + " Keywords: {keywords}",
            "granite-4.0-1b-speech model card (keyword biasing)",
            keywords=True,
            metrics=("wer", "cer", "keyword_recall", "keyword_precision", "b_wer", "u_wer"),
            without_keywords="asr",
        ),
        Task(
            "ast",
            "Speech translation",
            "translate the speech to {target_name}",
            "vLLM GraniteSpeech / IBM unitxt",
            translation=True,
            metrics=("bleu", "chrf"),
        ),
        Task(
            "asr_speakers",
            "Who spoke when (speaker labels)",
            " Speaker attribution: Transcribe and denote who is speaking by adding [Speaker 1]: and [Speaker 2]: "
            "tags before speaker turns.",
            "granite-speech-4.1-2b-plus model card (SAA_PROMPT)",
            tagged=True,
        ),
        Task(
            "asr_timestamps",
            "Word times from the model",
            " Timestamps: Transcribe the speech. After each word, add a timestamp tag showing the end time in "
            "centiseconds, e.g. hello [T:45] world [T:82]",
            "granite-speech-4.1-2b-plus model card (TS_PROMPT)",
            tagged=True,
        ),
    )
}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown task {name!r}. Supported: {', '.join(TASK_NAMES)}.") from None
