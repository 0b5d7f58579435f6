import pytest

from granite_workbench.languages import (
    ASR_LANGUAGES,
    TRANSLATION_DIRECTIONS,
    UnsupportedLanguageError,
    check_asr_language,
    check_direction,
    sources,
    targets_for,
)
from granite_workbench.prompts import MAX_KEYWORDS, TaskSpec, clean_keywords, instruction, render_prompt


def test_language_table_matches_model_card():
    assert ASR_LANGUAGES == ("en", "fr", "de", "es", "pt", "ja")
    assert set(TRANSLATION_DIRECTIONS) == {
        ("fr", "en"),
        ("de", "en"),
        ("es", "en"),
        ("pt", "en"),
        ("ja", "en"),
        ("en", "fr"),
        ("en", "de"),
        ("en", "es"),
        ("en", "pt"),
        ("en", "ja"),
        ("en", "it"),
        ("en", "zh"),
    }
    assert targets_for("en") == ["fr", "de", "es", "pt", "ja", "it", "zh"]
    assert targets_for("fr") == ["en"] and targets_for("it") == []
    assert sources() == ["en", "fr", "de", "es", "pt", "ja"]


@pytest.mark.parametrize("src,tgt", [("fr", "de"), ("it", "en"), ("zh", "en"), ("en", "ko"), ("en", "en")])
def test_unsupported_direction_lists_supported(src, tgt):
    with pytest.raises(UnsupportedLanguageError) as err:
        check_direction(src, tgt)
    msg = str(err.value)
    assert f"{src!r} -> {tgt!r}" in msg and "en->zh" in msg and "ja->en" in msg


def test_asr_language_check_normalizes_and_refuses():
    assert check_asr_language(" EN ") == "en"
    with pytest.raises(UnsupportedLanguageError, match="Supported: en, fr, de, es, pt, ja"):
        check_asr_language("it")


@pytest.mark.parametrize("src,tgt", TRANSLATION_DIRECTIONS)
def test_every_direction_has_a_prompt(src, tgt):
    from granite_workbench.languages import language_name

    text = instruction(TaskSpec("ast", language=src, target=tgt))
    assert text == f"<|audio|>translate the speech to {language_name(tgt)}"


def test_asr_and_keyword_prompts():
    assert instruction(TaskSpec("asr")) == "<|audio|>can you transcribe the speech into a written format?"
    spec = TaskSpec("asr_keywords", keywords=("Granite", " watsonx ", "granite", "LoRA"))
    assert spec.keywords == ("Granite", "watsonx", "LoRA")
    assert instruction(spec) == (
        "<|audio|>can you transcribe the speech into a written format? Keywords: Granite, watsonx, LoRA"
    )
    # plain ASR with keywords given becomes keyword-biased ASR
    assert instruction(TaskSpec("asr", keywords=("a",))).endswith("Keywords: a")


def test_keyword_limits():
    assert clean_keywords("a, b,, c\nd") == ("a", "b", "c", "d")
    with pytest.raises(ValueError, match="Too many keywords: 100"):
        clean_keywords([f"kw{i}" for i in range(100)])
    assert len(clean_keywords([f"kw{i}" for i in range(MAX_KEYWORDS)])) == MAX_KEYWORDS
    with pytest.raises(ValueError, match="needs at least one keyword"):
        TaskSpec("asr_keywords")
    with pytest.raises(ValueError, match="Unknown task"):
        TaskSpec("summarize")


def test_prompt_goes_through_chat_template(tiny_lm):
    prompt = render_prompt(tiny_lm.tokenizer, TaskSpec("ast", language="en", target="ja"))
    assert prompt == "USER: <|audio|>translate the speech to Japanese\n ASSISTANT:"


# granite-4.0-1b-speech's chat template as IBM's notebooks show it (the project's notes, "The real chat
# template"); typed here independently of granite_workbench.tiny, so the comparison can fail.
REAL_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {{ message['content'] }}\n"
    " ASSISTANT:{% elif message['role'] == 'assistant' %}{{ message['content'] }}{% endif %}"
    "{% endfor %}"
)
SPECS = [
    TaskSpec("asr"),
    TaskSpec("asr_keywords", keywords=("metoprolol", "Holter")),
    TaskSpec("ast", language="en", target="ja"),
    TaskSpec("ast", language="fr", target="en"),
]


def real_render(messages) -> str:
    import jinja2

    return jinja2.Environment().from_string(REAL_TEMPLATE).render(messages=messages)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.task)
def test_tiny_template_renders_like_the_real_one(tiny_lm, spec):
    """Prompt and full training sequence: identical to the real template, token for token in structure."""
    import random

    import numpy as np

    from finetune.data import Row
    from finetune.examples import ExampleBuilder
    from granite_workbench.prompts import audio_token_count

    tok = tiny_lm.tokenizer
    user = {"role": "user", "content": instruction(spec)}
    assert render_prompt(tok, spec) == real_render([user])
    text = "the patient takes metoprolol"
    row = Row(
        audio="",
        text=text,
        task=spec.task,
        language=spec.language or "en",
        target_language=spec.target,
        keywords=list(spec.keywords),
    )
    samples = np.zeros(32000, dtype=np.float32) + 0.01
    ex = ExampleBuilder(tiny_lm.processor, keyword_distractors=0).build(row, samples, random.Random(0))
    expected = real_render([user, {"role": "assistant", "content": text}])
    expected = expected.replace("<|audio|>", "<|audio|>" * audio_token_count(len(samples)), 1) + tok.eos_token
    assert tok.decode(ex["input_ids"]) == expected
    # structure: prompt (no labels) | the answer, starting right after "ASSISTANT:" with no space | eos
    n_prompt = sum(1 for lab in ex["labels"] if lab == -100)
    assert tok.decode(ex["input_ids"][:n_prompt]).endswith("\n ASSISTANT:")
    assert tok.decode(ex["labels"][n_prompt:]) == text + "<|end_of_text|>"
    assert ex["labels"][-1] == tok.eos_token_id and ex["labels"][:n_prompt] == [-100] * n_prompt


def test_tiny_model_has_the_real_layout(tiny_lm):
    """Special tokens where the real tokenizer has them; the real config's structure at small sizes."""
    import json
    from pathlib import Path

    tok, cfg = tiny_lm.tokenizer, tiny_lm.model.config
    real = json.loads(
        (Path(__file__).resolve().parent.parent / "bench" / "granite-4.0-1b-speech.config.json").read_text()
    )
    assert tok.eos_token == tok.bos_token == "<|end_of_text|>" and tok.pad_token == "<|pad|>"
    # real: pad 100256, eos 100257, audio 100352 = the last id of the 100353-token vocabulary
    assert tok.convert_tokens_to_ids("<|audio|>") == cfg.audio_token_index == cfg.text_config.vocab_size - 1
    assert tok.pad_token_id + 1 == tok.eos_token_id < cfg.audio_token_index
    assert real["audio_token_index"] == real["text_config"]["vocab_size"] - 1
    assert real["text_config"]["pad_token_id"] + 1 == real["text_config"]["eos_token_id"]
    text = cfg.text_config
    for key in ("embedding_multiplier", "residual_multiplier", "logits_scaling"):
        assert getattr(text, key) == real["text_config"][key], key
    assert text.attention_multiplier == 1 / (text.hidden_size // text.num_attention_heads)
    enc = cfg.encoder_config
    assert enc.output_dim == real["encoder_config"]["output_dim"] == 348 and enc.input_dim == 160
    ctc = tiny_lm.model.model.encoder
    assert ctc.out.out_features == 348 and ctc.out_mid.in_features == 348  # the CTC head and its feedback
    assert cfg.has_lora_adapter is False and cfg.tie_word_embeddings is False
    assert (cfg.window_size, cfg.downsample_rate) == (real["window_size"], real["downsample_rate"])


@pytest.mark.parametrize("src,tgt", TRANSLATION_DIRECTIONS)
def test_translation_prompt_matches_the_sources(src, tgt):
    """vLLM / IBM unitxt: 'translate the speech to {Language}', the English name (never the code, e.g. 'ja')."""
    names = {
        "en": "English",
        "fr": "French",
        "de": "German",
        "es": "Spanish",
        "pt": "Portuguese",
        "ja": "Japanese",
        "it": "Italian",
        "zh": "Chinese",
    }
    assert instruction(TaskSpec("ast", language=src, target=tgt)) == f"<|audio|>translate the speech to {names[tgt]}"
