"""The demo's callbacks, called directly (no server)."""

import numpy as np
import pytest
import soundfile as sf

gr = pytest.importorskip("gradio")

from conftest import espeak

from granite_workbench.paths import EXAMPLES_DIR
from granite_workbench.service import ModelService
from granite_workbench.session import Workbench
from granite_workbench.ui.common import highlight_html
from granite_workbench.ui.layout import build_demo, load_model_action
from granite_workbench.ui.tabs.keywords import keyword_compare
from granite_workbench.ui.tabs.transcribe import transcribe
from granite_workbench.ui.tabs.translate import translate


@pytest.fixture(scope="module")
def wb(tiny_dir):
    service = ModelService(str(tiny_dir))
    service.start()
    assert service.wait(60), service.message
    return Workbench(service, max_audio_seconds=600, max_new_tokens=8)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(espeak("the patient takes metoprolol daily", tmp_path_factory.mktemp("ui") / "clip.wav"))


def test_transcribe_returns_text_segments_and_files(wb, clip):
    text, segs, files, words = transcribe(wb, clip, "en")
    assert isinstance(text, str) and len(segs) == 1 and segs[0][0] == "00:00.0"
    assert sorted(f.rsplit(".", 1)[1] for f in files) == ["json", "srt", "txt", "vtt"]
    assert open([f for f in files if f.endswith(".txt")][0]).read().strip() == text
    assert words == ""


def test_transcribe_decoding_setting_and_word_times(wb, clip):
    """The Transcribe tab's decoding settings: each (decoding, word times) pair is its own cached result; exact
    speculative decoding keeps the text; the words come back as timed spans; a bad mode is refused."""
    import json

    greedy = transcribe(wb, clip, "en")
    text, _, files, words = transcribe(wb, clip, "en", None, None, "speculative-exact", True)
    assert text == greedy[0]
    assert words.count("class='w'") == len(text.split()) and "Decoding: 1 chunk:" in words
    data = json.loads(open([f for f in files if f.endswith(".json")][0]).read())
    assert [w["word"] for w in data["words"]] == text.split()
    assert len(wb.inference.cache) >= 2
    with pytest.raises(gr.Error, match="Unknown decoding 'magic'"):
        transcribe(wb, clip, "en", None, None, "magic")


def test_translate_and_refused_direction(wb, clip):
    text, segs, files = translate(wb, clip, "en", "de")
    assert len(files) == 4
    with pytest.raises(gr.Error, match="Unsupported translation direction 'fr' -> 'de'"):
        translate(wb, clip, "fr", "de")


def test_results_are_cached_lazily(wb, clip):
    wb.inference.cache.clear()
    first = transcribe(wb, clip, "")
    assert len(wb.inference.cache) == 1
    assert transcribe(wb, clip, "")[0] == first[0] and len(wb.inference.cache) == 1


def test_keyword_compare_highlights_and_counts(monkeypatch, wb, clip):
    # a fake model output that mentions one keyword without the list and both with it
    from granite_workbench.transcribe import Result

    def fake_run(audio, spec, progress=None, adapter=None):
        text = "the patient takes metoprolol daily" if spec.keywords else "the patient takes metro prolol daily"
        return Result(name="clip", task=spec.task, text=text + " with Atorvastatin.")

    monkeypatch.setattr(wb.inference, "run", fake_run)
    plain, biased, summary = keyword_compare(wb, clip, "metoprolol, atorvastatin")
    assert plain.count("<mark") == 1 and biased.count("<mark") == 2
    assert "<mark class='kw'>Atorvastatin</mark>" in biased
    assert "**Without keywords:** 1/2 found — atorvastatin" in summary
    assert "**With keywords:** 2/2 found — metoprolol, atorvastatin" in summary


def test_highlight_escapes_html():
    html = highlight_html("<b>x</b> LoRA", ("lora",))
    assert "&lt;b&gt;" in html and "<mark class='kw'>LoRA</mark>" in html


@pytest.mark.parametrize("audio,msg", [(None, "No audio"), ("", "No audio")])
def test_no_audio(wb, audio, msg):
    with pytest.raises(gr.Error, match=msg):
        transcribe(wb, audio, "en")


def test_bad_inputs_give_specific_errors(wb, tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.4 not audio" * 20)
    sf.write(tmp_path / "long.flac", np.zeros(16000 * 700, dtype=np.int16), 16000)
    with pytest.raises(gr.Error, match="empty file"):
        transcribe(wb, str(tmp_path / "empty.wav"), "en")
    with pytest.raises(gr.Error, match="doc.pdf: not a readable audio file"):
        transcribe(wb, str(tmp_path / "doc.pdf"), "en")
    with pytest.raises(gr.Error, match=r"too long \(11.7 min; the limit is 10.0 min\)"):
        transcribe(wb, str(tmp_path / "long.flac"), "en")
    with pytest.raises(gr.Error, match="Too many keywords: 100"):
        keyword_compare(wb, str(tmp_path / "long.flac"), ", ".join(f"term{i}" for i in range(100)))
    with pytest.raises(gr.Error, match="at least one keyword"):
        keyword_compare(wb, str(tmp_path / "long.flac"), " , ")


def test_silent_clip_has_a_defined_answer(wb, tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(16000 * 2, dtype=np.float32), 16000)
    text, segs, _, _ = transcribe(wb, str(tmp_path / "quiet.wav"), "en")
    assert text == "(The clip is silent: nothing to transcribe.)" and segs == []


def test_model_not_ready_and_failed_load_messages(tmp_path):
    svc = ModelService("ibm-granite/granite-4.0-1b-speech")
    w = Workbench(svc)
    with pytest.raises(gr.Error, match="No model is loaded yet"):
        transcribe(w, str(EXAMPLES_DIR / "en_welcome.flac"), "en")
    svc.start()
    svc.wait(60)
    assert svc.state == "error" and "--model tiny" in svc.message
    with pytest.raises(gr.Error, match="No model is loaded: .* Use the Model panel"):
        transcribe(w, str(EXAMPLES_DIR / "en_welcome.flac"), "en")
    assert "Model error" in load_model_action(w, "tiny") or svc.state == "loading"
    assert svc.wait(60) and svc.lm.tiny


def test_layout_builds_with_named_endpoints(wb):
    demo = build_demo(wb)
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"transcribe", "translate", "keyword_compare", "load_model", "model_status"} <= names


@pytest.mark.parametrize(
    "given,rows", [("", None), ("  ", None), (None, None), ("0", None), ("8", 8), (3, 3), (2.0, 2)]
)
def test_evaluate_row_limit_reads_an_empty_field_as_every_row(given, rows):
    from granite_workbench.ui.tabs.evaluate import row_limit

    assert row_limit(given) == rows


@pytest.mark.parametrize("given", ["abc", "2.5", "-1", "nan", "inf"])
def test_evaluate_row_limit_refuses_what_is_not_a_row_count(given):
    from granite_workbench.ui.tabs.evaluate import row_limit

    with pytest.raises(ValueError, match="Only the first N rows"):
        row_limit(given)


def test_compare_without_a_loaded_adapter_points_to_the_adapters_tab(wb, clip):
    from granite_workbench.ui.tabs.compare import adapter_hint, compare

    assert wb.adapters.loaded() == [], "test premise: no adapter is loaded on this workbench"
    with pytest.raises(gr.Error, match="none is loaded yet — load one in the Adapters tab"):
        compare(wb, clip, "")
    assert "Adapters tab" in adapter_hint([]) and "Adapters tab" not in adapter_hint(["phrases"])
