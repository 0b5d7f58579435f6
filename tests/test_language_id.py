"""The detected language: which of the model's ASR languages a transcript is in (Transcribe tab, CLI, JSON)."""

import json

import numpy as np
import pytest
from conftest import ROOT

from granite_workbench.engine import FakeEngine
from granite_workbench.language_id import detect_language
from granite_workbench.prompts import TaskSpec
from granite_workbench.transcribe import Transcriber

PORTUGUESE = [
    "O paciente tem pressão alta e toma os remédios todos os dias.",
    "A consulta de cardiologia foi marcada para a próxima semana.",
]


def sample_sentences():
    """The sample domain set's transcripts in five languages, and two Portuguese sentences (no voice for pt)."""
    rows = [
        json.loads(line)
        for split in ("train", "dev", "test")
        for line in (ROOT / f"data/domain/{split}.jsonl").read_text().splitlines()
    ]
    pairs = {(r["language"], r["text"]) for r in rows if r.get("task", "asr") == "asr"}
    return sorted(pairs) + [("pt", s) for s in PORTUGUESE]


def test_every_asr_language_of_the_sample_data_is_recognised():
    pairs = sample_sentences()
    assert {lang for lang, _ in pairs} == {"en", "fr", "de", "es", "ja", "pt"}
    wrong = [
        (lang, text, detect_language(text))
        for lang, text in pairs
        if (d := detect_language(text)) is not None and d.code != lang
    ]
    unsure = [(lang, text) for lang, text in pairs if detect_language(text) is None]
    assert not wrong, wrong  # never a wrong answer
    assert len(unsure) <= len(pairs) // 10, unsure  # and an answer for nearly all


@pytest.mark.parametrize("text", ["", "   ", "42", "...", "OK"])
def test_no_answer_rather_than_a_guess(text):
    assert detect_language(text) is None


def audio(seconds=1.0):
    t = np.arange(int(16_000 * seconds)) / 16_000
    return 16_000, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_the_transcriber_reports_the_language_only_when_it_was_not_given():
    tr = Transcriber(engine=FakeEngine(fn=lambda r: "Il souffre d'une insuffisance cardiaque chronique."))
    auto = tr.run([audio()], TaskSpec("asr"))[0]
    assert auto.detected_language == "fr" and auto.language_confidence >= 0.9
    assert auto.to_dict()["detected_language"] == "fr"  # in the JSON the CLI writes
    given = tr.run([audio()], TaskSpec("asr", language="fr"))[0]
    assert given.detected_language is None and given.language == "fr"
    biased = tr.run([audio()], TaskSpec("asr", keywords=("insuffisance",)))[0]
    assert biased.detected_language == "fr"
    translated = tr.run([audio()], TaskSpec("ast", language="fr", target="en"))[0]
    assert translated.detected_language is None  # a translation is in the target language


def test_the_transcribe_tab_shows_it():
    pytest.importorskip("gradio")
    from granite_workbench.session import Workbench
    from granite_workbench.ui.tabs.transcribe import transcribe

    class Service:  # a ready model service around a fake engine
        generation, state, model_id = 1, "ready", "fake"
        answer = "Der Troponinwert ist im Normbereich."

        def engine(self, wait=0.0):
            return FakeEngine(fn=lambda r: self.answer)

    wb = Workbench(Service())
    *_, details = transcribe(wb, audio(), "")
    assert "Detected language: <b>German</b>" in details
    *_, details = transcribe(wb, audio(), "de")
    assert "Detected language" not in details  # asked for: nothing to detect
    Service.answer = "OK"
    wb.inference.cache.clear()
    *_, details = transcribe(wb, audio(), "")
    assert "Detected language: unclear" in details


def test_the_cli_summary_counts_the_detected_languages(capsys):
    from types import SimpleNamespace

    from granite_workbench.cli import summarize
    from granite_workbench.transcribe import Result

    results = [
        Result("a.wav", "asr", "x", duration=1.0, detected_language="fr", language_confidence=0.99),
        Result("b.wav", "asr", "x", duration=1.0, detected_language="fr", language_confidence=0.97),
        Result("c.wav", "asr", "x", duration=1.0, detected_language="en", language_confidence=0.95),
        Result("d.wav", "asr", "x", duration=1.0),
    ]
    assert summarize(SimpleNamespace(out_dir=None, decoding="greedy"), results) == 0
    assert "detected language (from the transcripts): fr 2 clips, en 1 clip" in capsys.readouterr().err
