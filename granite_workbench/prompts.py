"""The prompt table: one instruction string per task, rendered through the tokenizer's chat template.

Each string with its source (details in docs/model-facts.md):
- ASR `can you transcribe the speech into a written format?` and the keyword suffix
  ` Keywords: kw1, kw2`: the granite-4.0-1b-speech model card (prompt and keyword-biasing example).
- Translation `translate the speech to {Language}` (no period; the language's English name, also for
  Japanese and Chinese): vLLM's GraniteSpeech prompt and IBM's unitxt recipes. No canonical string is
  published for 4.0-1B; the model card warns that an unfamiliar prompt is ignored and the model then
  transcribes, so a wrong string fails silently. vLLM's code falls back to the language *code*
  (`to ja`) for languages missing from its table: a known trap avoided here by `language_name`.

What the model sees, for inference and training alike (IBM's notebooks for 4.0-1B):
    prompt = chat template of one user turn  ->  `USER: <|audio|>{instruction}\n ASSISTANT:`
             with `<|audio|>` repeated once per audio embedding (`audio_token_count`)
    answer = the text, straight after `ASSISTANT:` (no space), then eos (training targets only)
IBM's fine-tuning notebook builds targets as `text + tokenizer.eos_token`, tokenized separately and
appended to the prompt; IBM's decoding notebook prints `... ASSISTANT:for timothy was ...`. Inference
decodes what follows the prompt and removes only surrounding white space.
Change a string here and every caller (CLI, demo, fine-tuning, evaluation) follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .keywords import split_keywords
from .languages import LANGUAGES, TRANSLATION_DIRECTIONS, check_asr_language, check_direction, language_name
from .tasks import TASKS, get_task

AUDIO_TOKEN = "<|audio|>"
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 100


@dataclass(frozen=True)
class TaskSpec:
    """What to ask the model for one clip: the task plus its languages and keywords."""

    task: str = "asr"
    language: str | None = None  # source language (informational for ASR; checked if given)
    target: str | None = None  # translation target
    keywords: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # validate early, with the supported lists
        task = get_task(self.task)
        if task.translation:
            if self.language:
                check_direction(self.language, self.target)
            else:  # the source unsaid (the model does not need it): any direction into this target
                check_direction(next((s for s, t in TRANSLATION_DIRECTIONS if t == self.target), "en"), self.target)
        elif self.language:
            check_asr_language(self.language)
        object.__setattr__(self, "keywords", clean_keywords(self.keywords))
        if self.keywords and task.with_keywords:  # `asr` with a keyword list is keyword-biased ASR
            object.__setattr__(self, "task", task.with_keywords)
        if TASKS[self.task].keywords and not self.keywords:
            raise ValueError(f"Task {self.task!r} needs at least one keyword.")

    @property
    def info(self):
        """This spec's entry in the task table."""
        return TASKS[self.task]


def clean_keywords(keywords: Sequence[str] | str | None) -> tuple[str, ...]:
    """Split, strip and de-duplicate keywords (order kept); refuse absurd lists."""
    out: list[str] = []
    seen: set[str] = set()
    for kw in split_keywords(keywords):
        if len(kw) > MAX_KEYWORD_CHARS:
            raise ValueError(f"Keyword too long ({len(kw)} characters, limit {MAX_KEYWORD_CHARS}): {kw[:30]!r}...")
        if kw.lower() not in seen:
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
    text = spec.info.prompt.format(
        keywords=", ".join(spec.keywords),
        target_name=language_name(spec.target) if spec.target else "",
    )
    return AUDIO_TOKEN + text


def parse_instruction(text: str) -> TaskSpec:
    """The task an instruction asks for (the prompt table read backwards: what an OpenAI-style client sends as the
    text next to its audio). Case and surrounding white space are ignored; an unknown instruction is refused
    with the known ones, since the model would silently transcribe instead."""
    import re

    said = " ".join(text.replace(AUDIO_TOKEN, " ").split()).lower()
    names = {lang.name.lower(): code for code, lang in LANGUAGES.items()}
    for name, task in TASKS.items():
        pattern = re.escape(" ".join(task.prompt.split()).lower())
        pattern = pattern.replace(re.escape("{keywords}"), "(?P<keywords>.+)")
        pattern = pattern.replace(re.escape("{target_name}"), "(?P<target>[a-z ]+)")
        m = re.fullmatch(pattern + r"\.?", said)
        if not m:
            continue
        groups = m.groupdict()
        if "target" in groups:
            if groups["target"] not in names:
                raise ValueError(f"Unknown target language {groups['target']!r} in the instruction.")
            return TaskSpec(name, target=names[groups["target"]])
        if groups.get("keywords"):  # as written (the match was on lowercased text)
            original = re.search(re.escape(groups["keywords"]), " ".join(text.split()), re.I)
            return TaskSpec(name, keywords=original.group(0) if original else groups["keywords"])
        return TaskSpec(name)
    known = "; ".join(f"{t.prompt!r}" for t in TASKS.values())
    raise ValueError(f"Unknown instruction {text.strip()[:80]!r}. This model follows: {known}.")


def render_prompt(tokenizer, spec: TaskSpec, system: str | None = None) -> str:
    """Render the instruction through the loaded tokenizer's chat template (generation prompt added), after the
    model's system prompt where its card uses one (models.ModelSpec.system_prompt: 4.1-2b-plus)."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": instruction(spec)})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def audio_token_count(n_samples: int, window: int = 15, downsample: int = 5, hop: int = 160) -> int:
    """Number of `<|audio|>` tokens the processor inserts for `n_samples` of 16 kHz audio."""
    mel = n_samples // hop + 1
    enc = mel // 2
    return -(-enc // window) * (window // downsample)


def model_prompt(tokenizer, spec: TaskSpec, n_samples: int, system: str | None = None) -> str:
    """The prompt as the language model sees it: chat template, `<|audio|>` expanded for the clip."""
    prompt = render_prompt(tokenizer, spec, system)
    return prompt.replace(AUDIO_TOKEN, AUDIO_TOKEN * audio_token_count(n_samples), 1)


def answer_text(tokenizer, text: str) -> str:
    """A training target: the text straight after the generation prompt, then eos (IBM's construction)."""
    return text + tokenizer.eos_token
