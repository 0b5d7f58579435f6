"""The model table: one entry per Granite Speech family member, the one place that says what each can do.

Everything else derives from it: the CLI's choices and refusals, the demo's model picker and which controls
it offers, the OpenAI routes, `evaluate`, and `python -m granite_workbench models` (which prints it). A loaded
model is matched to its entry by id, else by its config's `model_type` (a fine-tuned or local folder gets the
capabilities of its architecture).

Sources, per entry (checked 2026-12 with the stored model cards; what could not be checked here is said):
- granite-4.0-1b-speech: model card (ASR en/fr/de/es/pt/ja with punctuation; AST X->en and en->X incl. it, zh;
  keyword biasing by prompt); ~2.31 B parameters (encoder 440 M, projector 36 M, LM 1,837 M: its config).
- granite-speech-4.1-2b: model card ("multilingual ASR and bidirectional AST for English, French, German,
  Spanish, Portuguese and Japanese", keyword-biased ASR in its training data; Open ASR mean WER 5.33 in its
  `.eval_results`); loaded with AutoProcessor + AutoModelForMultimodalLM. Its config's `model_type` could not
  be read here: taken as `granite_speech` (the card's classes); the loaded config decides.
- granite-speech-4.1-2b-plus: model card ("similar capabilities to the Granite-Speech-4.1-2B model" plus
  speaker-attributed ASR and word-level timing by prompt; "doesn't provide punctuation and capitalization");
  transformers `granite_speech_plus` (projector reads `cat_hidden_layers` of the encoder).
- granite-speech-5.0-470m-turboctc: model card ("compact 470 million parameter English ASR model", CTC,
  "inference is done non-autoregressively with greedy decoding", 16,384 BPE units; AutoModelForCTC);
  transformers `granite_speech5_ctc`. No language model: no prompt, no translation, no keywords. Whether its
  output carries punctuation is not stated in the stored card: the table says no, so the second pass may add it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .languages import ASR_LANGUAGES, TRANSLATION_DIRECTIONS

LLM_DECODING = ("greedy", "speculative", "speculative-exact")
# granite-speech-4.1-2b-plus model card: every example sends this system turn before the instruction
PLUS_SYSTEM_PROMPT = (
    "Knowledge Cutoff Date: April 2024.\nToday's Date: December 19, 2024.\nYou are Granite, developed by IBM. "
    "You are a helpful AI assistant"
)


@dataclass(frozen=True)
class ModelSpec:
    """One family member. `tasks`: task-table names it runs; `decoding`: engine.DECODING_MODES it allows
    (speculative decoding needs a language model and a CTC head); `timestamps`: where word times come from
    (`ctc` alignment of the CTC head's emissions, `tags` the model writes)."""

    id: str
    short: str  # for people and pickers
    architecture: str  # the config's model_type
    model_class: str  # transformers class
    parameters: str
    tasks: frozenset[str]
    languages: tuple[str, ...]  # ASR
    directions: tuple[tuple[str, str], ...] = ()  # speech translation (source, target)
    punctuates: bool = True
    decoding: tuple[str, ...] = ("greedy",)
    timestamps: tuple[str, ...] = ("ctc",)
    dtype: str = "bfloat16"  # on a GPU and on CPUs with bf16 kernels (loading.py decides per machine)
    tiny: str = ""  # the offline miniature of this architecture (`--model tiny...`)
    llm: bool = True  # has a language model (is prompted; a second pass can be asked of it)
    recipes: tuple[str, ...] = ("lm_lora",)  # fine-tuning recipes (finetune/recipes.py), the first is `auto`'s
    system_prompt: str | None = None  # the system turn its model card sends before the instruction
    summary: str = ""
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def can(self, task: str) -> bool:
        return task in self.tasks

    @property
    def translates(self) -> bool:
        return "ast" in self.tasks


ASR = frozenset({"asr", "asr_keywords", "ast"})
MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        ModelSpec(
            "ibm-granite/granite-4.0-1b-speech",
            "Granite 4.0 1B Speech",
            "granite_speech",
            "GraniteSpeechForConditionalGeneration",
            "2.3 B (1 B language model)",
            ASR,
            ASR_LANGUAGES,
            TRANSLATION_DIRECTIONS,
            decoding=LLM_DECODING,
            tiny="tiny",
            summary="ASR in 6 languages, speech translation, keyword biasing",
            source="https://huggingface.co/ibm-granite/granite-4.0-1b-speech",
        ),
        ModelSpec(
            "ibm-granite/granite-speech-4.1-2b",
            "Granite Speech 4.1 2B",
            "granite_speech",
            "GraniteSpeechForConditionalGeneration",
            "2 B",
            ASR,
            ASR_LANGUAGES,
            TRANSLATION_DIRECTIONS,
            decoding=LLM_DECODING,
            tiny="tiny",
            summary="more accurate (Open ASR mean WER 5.33); same tasks as 4.0",
            source="https://huggingface.co/ibm-granite/granite-speech-4.1-2b",
            notes=("model_type taken as granite_speech (not readable here); the loaded config decides",),
        ),
        ModelSpec(
            "ibm-granite/granite-speech-4.1-2b-plus",
            "Granite Speech 4.1 2B Plus",
            "granite_speech_plus",
            "GraniteSpeechPlusForConditionalGeneration",
            "2 B",
            ASR | {"asr_speakers", "asr_timestamps"},
            ASR_LANGUAGES,
            TRANSLATION_DIRECTIONS,
            punctuates=False,
            decoding=("greedy",),
            timestamps=("tags",),
            tiny="tiny-plus",
            system_prompt=PLUS_SYSTEM_PROMPT,
            summary="who spoke when: speaker labels and word times by prompt; no punctuation",
            source="https://huggingface.co/ibm-granite/granite-speech-4.1-2b-plus",
        ),
        ModelSpec(
            "ibm-granite/granite-speech-5.0-470m-turboctc",
            "Granite Speech 5.0 Turbo CTC",
            "granite_speech5_ctc",
            "GraniteSpeech5ForCTC",
            "470 M",
            frozenset({"asr"}),
            ("en",),
            punctuates=False,
            decoding=("greedy",),
            timestamps=("ctc",),
            tiny="tiny-ctc",
            llm=False,
            recipes=("ctc_lora", "ctc_full"),
            summary="English only, CTC without a language model: the fast CPU / edge model",
            source="https://huggingface.co/ibm-granite/granite-speech-5.0-470m-turboctc",
            notes=("punctuation in its output is not stated in the stored card",),
        ),
    )
}
DEFAULT_MODEL_ID = "ibm-granite/granite-4.0-1b-speech"
BY_ARCHITECTURE = {
    "granite_speech": DEFAULT_MODEL_ID,
    "granite_speech_plus": "ibm-granite/granite-speech-4.1-2b-plus",
    "granite_speech5_ctc": "ibm-granite/granite-speech-5.0-470m-turboctc",
}
TINY = {m.tiny: m.id for m in reversed(MODELS.values()) if m.tiny}  # tiny alias -> the first model using it


class UnsupportedTaskError(ValueError):
    """A task the chosen model does not do; the message names the models that do."""


def spec_for(model_id: str | None, architecture: str | None = None) -> ModelSpec:
    """The table entry of a model: by id (hub id, its last part, or a tiny alias), else by architecture."""
    key = (model_id or "").strip()
    for m in MODELS.values():
        if key in (m.id, m.id.split("/")[-1]):
            return m
    if key in TINY:
        return MODELS[TINY[key]]
    if architecture in BY_ARCHITECTURE:
        return MODELS[BY_ARCHITECTURE[architecture]]
    raise ValueError(f"Unknown model {model_id!r} (architecture {architecture!r}). Known: {', '.join(MODELS)}.")


TASK_WORDS = {
    "asr": "transcribe",
    "asr_keywords": "take keywords",
    "ast": "translate",
    "asr_speakers": "label speakers",
    "asr_timestamps": "give word times from its own tags",
}


def short_name(model_id: str) -> str:
    return model_id.rstrip("/").split("/")[-1]


def require_task(able, task: str, name: str | None = None) -> None:
    """Refuse a task that `able` (a ModelSpec or an engine's Capabilities) does not do, naming the models that do."""
    if able.can(task):
        return
    who = name or short_name(getattr(able, "id", "this model"))
    models = [short_name(m.id) for m in MODELS.values() if m.can(task)]
    raise UnsupportedTaskError(f"{who} does not {TASK_WORDS.get(task, task)}; these models do: {', '.join(models)}.")


def capability_problem(engine, spec, decoding: str = "greedy", word_timestamps: bool = False) -> str | None:
    """Why `engine` cannot answer the task `spec` (prompts.TaskSpec) as asked, in words; None when it can."""
    caps, name = engine.capabilities, short_name(engine.model_id or "this model")
    try:
        require_task(caps, spec.task, name)
    except UnsupportedTaskError as exc:
        return str(exc)
    if spec.language and caps.languages and spec.language not in caps.languages and not spec.info.translation:
        return f"{name} transcribes {', '.join(caps.languages)} only (asked for {spec.language})."
    if decoding not in caps.decoding:
        return (
            f"{name} decodes {' or '.join(caps.decoding)} only here; {decoding} decoding needs a language model "
            "with a CTC head in this process."
        )
    if word_timestamps and not caps.word_timestamps:
        return f"{name} gives no word times here (they come from the model in this process)."
    return None


def timed_by_the_model(capabilities, spec, word_timestamps: bool):
    """(spec, word_timestamps for the engine): ASR with word times on a model that writes its own time tags
    (4.1-2b-plus) becomes its timestamp mode, instead of aligning its text to CTC emissions afterwards."""
    from .prompts import TaskSpec

    if word_timestamps and spec.task == "asr" and capabilities.can("asr_timestamps"):
        return TaskSpec("asr_timestamps", language=spec.language), False
    return spec, word_timestamps


def check_capable(engine, spec, decoding: str = "greedy", word_timestamps: bool = False) -> None:
    """Raise UnsupportedTaskError with `capability_problem`'s reason."""
    problem = capability_problem(engine, spec, decoding, word_timestamps)
    if problem:
        raise UnsupportedTaskError(problem)


def table_rows() -> list[dict[str, str]]:
    """The table for people (`python -m granite_workbench models`, README, the demo's model picker)."""
    return [
        {
            "model": m.id,
            "architecture": m.architecture,
            "size": m.parameters,
            "tasks": ", ".join(sorted(m.tasks)),
            "languages": " ".join(m.languages),
            "punctuation": "yes" if m.punctuates else "no",
            "decoding": ", ".join(m.decoding),
            "word times": "+".join(m.timestamps),
            "fine-tuning": ", ".join(m.recipes),
            "tiny": m.tiny,
            "what for": m.summary,
        }
        for m in MODELS.values()
    ]
