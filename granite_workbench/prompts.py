"""The prompt table: one instruction string per task, rendered through the tokenizer's chat template.

Sources (see docs/granite-speech-notes): the ASR instruction and the `Keywords:` suffix are
the model card's; Granite 4.0 1B publishes no canonical translation string, so we use
vLLM's `translate the speech to {Language}`. Change a string here and every caller
(CLI, demo, fine-tuning, evaluation) follows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from .languages import check_asr_language, check_direction, language_name

AUDIO_TOKEN = "<|audio|>"
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 100

Task = Literal["asr", "ast", "asr_keywords"]
TASKS: tuple[str, ...] = ("asr", "ast", "asr_keywords")

PROMPTS: dict[str, str] = {
    "asr": "can you transcribe the speech into a written format?",
    "asr_keywords": "can you transcribe the speech into a written format? Keywords: {keywords}",
    "ast": "translate the speech to {target_name}",
}


@dataclass(frozen=True)
class TaskSpec:
    """What to ask the model for one clip: the task plus its languages and keywords."""

    task: str = "asr"
    language: str | None = None  # source language (informational for ASR; checked if given)
    target: str | None = None  # translation target
    keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # validate early, with the supported lists
        if self.task not in TASKS:
            raise ValueError(f"Unknown task {self.task!r}. Supported: {', '.join(TASKS)}.")
        if self.task == "ast":
            check_direction(self.language or "en", self.target)
        elif self.language:
            check_asr_language(self.language)
        if self.task == "asr_keywords" and not self.keywords:
            raise ValueError("Task 'asr_keywords' needs at least one keyword.")
        object.__setattr__(self, "keywords", clean_keywords(self.keywords))


def clean_keywords(keywords: Sequence[str] | str | None) -> tuple[str, ...]:
    """Split, strip and de-duplicate keywords (order kept); refuse absurd lists."""
    if keywords is None:
        return ()
    if isinstance(keywords, str):
        keywords = keywords.replace("\n", ",").split(",")
    out: list[str] = []
    seen: set[str] = set()
    for kw in keywords:
        kw = " ".join(str(kw).split())
        if not kw or kw.lower() in seen:
            continue
        if len(kw) > MAX_KEYWORD_CHARS:
            raise ValueError(f"Keyword too long ({len(kw)} characters, limit {MAX_KEYWORD_CHARS}): {kw[:30]!r}...")
        seen.add(kw.lower())
        out.append(kw)
    if len(out) > MAX_KEYWORDS:
        raise ValueError(
            f"Too many keywords: {len(out)} (limit {MAX_KEYWORDS}). Long lists dilute the bias; "
            "keep the terms that matter for this clip."
        )
    return tuple(out)


def instruction(spec: TaskSpec) -> str:
    """The user-turn text for one task, starting with the audio placeholder."""
    task = spec.task
    if task == "asr" and spec.keywords:
        task = "asr_keywords"
    text = PROMPTS[task].format(
        keywords=", ".join(spec.keywords),
        target_name=language_name(spec.target) if spec.target else "",
    )
    return AUDIO_TOKEN + text


def render_prompt(tokenizer, spec: TaskSpec) -> str:
    """Render the instruction through the loaded tokenizer's chat template (generation prompt added)."""
    messages = [{"role": "user", "content": instruction(spec)}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
