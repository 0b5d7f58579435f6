import pytest

from granite_workbench.languages import (ASR_LANGUAGES, TRANSLATION_DIRECTIONS, UnsupportedLanguageError,
                                         check_asr_language, check_direction, sources, targets_for)
from granite_workbench.prompts import MAX_KEYWORDS, TaskSpec, clean_keywords, instruction, render_prompt


def test_language_table_matches_model_card():
    assert ASR_LANGUAGES == ("en", "fr", "de", "es", "pt", "ja")
    assert set(TRANSLATION_DIRECTIONS) == {
        ("fr", "en"), ("de", "en"), ("es", "en"), ("pt", "en"), ("ja", "en"),
        ("en", "fr"), ("en", "de"), ("en", "es"), ("en", "pt"), ("en", "ja"), ("en", "it"), ("en", "zh"),
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
    assert instruction(spec) == ("<|audio|>can you transcribe the speech into a written format? "
                                 "Keywords: Granite, watsonx, LoRA")
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
