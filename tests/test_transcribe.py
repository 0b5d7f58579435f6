import numpy as np
import pytest
from conftest import asterisk_audio, espeak, tone

from granite_workbench.engine import FakeEngine
from granite_workbench.prompts import TaskSpec, render_prompt
from granite_workbench.transcribe import Transcriber


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    texts = [
        "hello world",
        "please leave a message after the tone",
        "the quick brown fox jumps over the lazy dog near the river bank",
        "thank you",
        "goodbye for now",
        "one two three four five six seven",
    ]
    return [espeak(t, d / f"c{i}.wav", speed=150 + 10 * i) for i, t in enumerate(texts)] + [
        asterisk_audio("agent-pass"),
        asterisk_audio("vm-goodbye"),
    ]


def test_batched_equals_one_at_a_time(tiny_lm, clips):
    spec = TaskSpec("asr")
    batched = Transcriber(tiny_lm, batch_size=4, max_new_tokens=12).run(clips, spec)
    single = Transcriber(tiny_lm, batch_size=1, max_new_tokens=12).run(clips, spec)
    assert all(r.ok for r in batched)
    assert [r.text for r in batched] == [r.text for r in single]
    assert len({r.text for r in batched}) > 1  # different clips give different text


def test_matches_model_card_loop(tiny_lm, clips):
    """The workbench's output equals the plain processor -> generate -> decode loop."""
    import torch

    from granite_workbench.audio import load_audio

    spec = TaskSpec("ast", language="en", target="fr")
    ours = Transcriber(tiny_lm, batch_size=8, max_new_tokens=10).run(clips[:4], spec)
    proc, model = tiny_lm.processor, tiny_lm.model
    prompt = render_prompt(proc.tokenizer, spec)
    for res, clip in zip(ours, clips[:4]):
        inputs = proc(text=prompt, audio=load_audio(clip).samples, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=10, do_sample=False, num_beams=1)
        ref = proc.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        assert res.text == " ".join(ref.split())  # the workbench normalises whitespace


def test_bad_clip_fails_alone(tiny_lm, clips, tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"not audio" * 100)
    inputs = [clips[0], tmp_path / "junk.wav", np.zeros(16000, dtype=np.float32), clips[1], tmp_path / "missing.wav"]
    res = Transcriber(tiny_lm, max_new_tokens=5).run(inputs, TaskSpec("asr"))
    assert [r.ok for r in res] == [True, False, False, True, False]
    assert "not a readable audio file" in res[1].error and "file not found" in res[4].error
    assert "without its sample rate" in res[2].error
    assert res[0].text and res[3].text


def test_generation_error_fails_only_that_clip():
    backend = FakeEngine(fn=lambda r: f"ok {r.clip}", fail_on={"clip2"})
    clips = [tone(1.0 + i / 10) for i in range(5)]
    res = Transcriber(engine=backend, batch_size=8).run([(16000, c) for c in clips], TaskSpec("asr"))
    assert [r.ok for r in res] == [True, False, True, True, True]
    assert "generation failed" in res[1].error and "fake failure on clip2" in res[1].error
    assert res[0].text == "ok clip1" and res[4].text == "ok clip5"


def test_length_sorted_batches_and_silence():
    seen = []

    def fn(r):
        seen.append(r.duration)
        return "x"

    backend = FakeEngine(fn=fn)
    durations = [1.0, 5.0, 2.0, 4.0, 3.0]
    clips = [(16000, tone(d)) for d in durations] + [(16000, np.zeros(16000, dtype=np.float32))]
    res = Transcriber(engine=backend, batch_size=2).run(clips, TaskSpec("asr"))
    assert seen == sorted(durations, reverse=True)
    assert backend.calls == [2, 2, 1]
    assert res[-1].ok and res[-1].text == "" and res[-1].note == "silent"


def test_per_clip_specs_and_progress():
    backend = FakeEngine(fn=lambda r: f"{r.spec.task}:{r.spec.target}")
    ticks = []
    specs = [TaskSpec("asr"), TaskSpec("ast", language="en", target="de"), TaskSpec("asr_keywords", keywords=("a",))]
    res = Transcriber(engine=backend, batch_size=2).run(
        [(16000, tone(1))] * 3, specs, progress=lambda d, t: ticks.append((d, t))
    )
    assert [r.text for r in res] == ["asr:None", "ast:de", "asr_keywords:None"]
    assert ticks == [(2, 3), (3, 3)]


def test_convenience_api(tiny_lm, clips):
    tr = Transcriber(tiny_lm, max_new_tokens=5)
    one = tr.transcribe(clips[0], language="en", keywords="Granite, LoRA")
    assert one.ok and one.task == "asr_keywords" and one.keywords == ["Granite", "LoRA"]
    many = tr.translate(clips[:2], source="en", target="ja")
    assert [r.target for r in many] == ["ja", "ja"] and len(many[0].segments) == 1
