"""Live transcription: a recording fed in one-second pieces, as Gradio's streaming microphone sends it — the text
grows phrase by phrase, and the final text equals transcribing the whole recording."""

import json

import numpy as np
import pytest
import soundfile as sf

gr = pytest.importorskip("gradio")

from conftest import PHRASES, ready_workbench

from granite_workbench import TaskSpec
from granite_workbench.audio import load_audio
from granite_workbench.ui.tabs.live import live_final, live_piece

TEXTS = [json.loads(x)["text"] for x in PHRASES.read_text().splitlines()[:3]]


@pytest.fixture(scope="module")
def wb(tiny_dir, trained_adapter):
    return ready_workbench(tiny_dir, trained_adapter[1], max_new_tokens=24)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """Three phrases with a second of silence after each (a speaker pausing), as 48 kHz int16 like a browser."""
    silence = np.zeros(16_000, dtype=np.float32)
    parts = []
    for i in range(3):
        parts += [load_audio(str(PHRASES.parent / f"phrase0{i}.flac")).samples, silence]
    audio = np.concatenate(parts)
    up = (np.interp(np.arange(0, len(audio), 1 / 3), np.arange(len(audio)), audio) * 32767).astype(np.int16)
    path = tmp_path_factory.mktemp("live") / "recording.wav"  # what the microphone recorded, as a file
    sf.write(path, up, 48_000, subtype="PCM_16")
    return path, (48_000, up)


def test_text_grows_while_speaking_and_final_equals_the_file(wb, recording):
    path, (rate, samples) = recording
    live, seen = None, []
    for k in range(0, len(samples), rate):  # one-second pieces
        text, live, note = live_piece(wb, (rate, samples[k : k + rate]), live, "en", "", "phrases")
        seen.append(text.removesuffix(" …"))
    words = [len(t.split()) for t in seen]
    assert words == sorted(words) and words[len(words) // 2] > 0  # grows, and starts before the end
    assert len(live.texts) == 3 and live.texts[0] == TEXTS[0]  # phrase by phrase, each decoded at its pause
    # (the tiny model knows its training clips only as recorded; cut out of a stream, the later phrases start at a
    # different point and it garbles them — the real model does not care, the final pass below is exact)
    final, state, (rec_rate, rec) = live_final(wb, live)
    assert state is None and note == ""
    assert final == wb.inference.run(str(path), TaskSpec("asr", language="en"), None, "phrases").text  # as an upload
    assert rec_rate == rate and np.array_equal(rec, samples)  # the recording offered is the stream as it came


def stream_through(wb, samples, rate, language, target):
    live, seen, notes = None, [], set()
    for k in range(0, len(samples), rate):
        text, live, note = live_piece(wb, (rate, samples[k : k + rate]), live, language, "", "phrases", None, target)
        seen.append(text.removesuffix(" …"))
        notes.add(note)
    return live, seen, notes


def test_translation_microphone_by_the_speech_model(wb, recording):
    """Shown in French while English is spoken: each phrase is translated by the speech model (en->fr is one of its
    directions), and the final text is the recorded file translated as an upload."""
    path, (rate, samples) = recording
    live, seen, notes = stream_through(wb, samples, rate, "en", "fr")
    assert notes == {"Translated by the speech model (English → French)."}
    assert len(live.texts) == 3 and [len(t) for t in seen] == sorted(len(t) for t in seen)
    spec = TaskSpec("ast", language="en", target="fr")
    assert live.texts[0] == wb.inference.run(str(PHRASES.parent / "phrase00.flac"), spec, None, "phrases").text
    final, _, _ = live_final(wb, live)
    assert final == wb.inference.run(str(path), spec, None, "phrases").text


def test_translation_microphone_by_the_text_model(wb, tiny_dir, trained_adapter, recording):
    """Into a language the speech model cannot reach (Korean): each phrase is transcribed, then translated by the
    text model; the final text is the recording's transcript translated once. Without a text model: refused
    with the reason."""
    from granite_workbench.second_pass import SecondPass
    from granite_workbench.text_engine import LocalTextEngine

    second = SecondPass(LocalTextEngine("tiny"), max_new_tokens=12)
    with_text = ready_workbench(tiny_dir, trained_adapter[1], max_new_tokens=24, second_pass=second)
    path, (rate, samples) = recording
    live, _, notes = stream_through(with_text, samples, rate, "en", "ko")
    assert notes == {"Transcribed by the speech model, then translated by `tiny text model (random weights)`."}
    phrase = with_text.inference.run(
        str(PHRASES.parent / "phrase00.flac"), TaskSpec("asr", language="en"), None, "phrases"
    )
    assert len(live.texts) == 3 and live.texts[0] == second.ask(phrase.text, "translate", language="ko").text
    final, _, _ = live_final(with_text, live)
    whole = with_text.inference.run(str(path), TaskSpec("asr", language="en"), None, "phrases").text
    assert final == second.ask(whole, "translate", language="ko").text and final
    with pytest.raises(gr.Error, match="does not translate English into Korean.*no text model"):
        live_piece(wb, (rate, samples[:rate]), None, "en", "", "phrases", None, "ko")


def test_a_stream_too_long_is_refused(wb):
    from granite_workbench.live import LiveTranscript

    live = LiveTranscript(lambda clip: "", max_seconds=2)
    live.feed((16_000, np.zeros(16_000, dtype=np.float32)))
    with pytest.raises(Exception, match="limited to"):
        live.feed((16_000, np.zeros(2 * 16_000, dtype=np.float32)))


def test_pieces_are_taken_at_once_while_phrases_decode_in_the_background(recording):
    """Gradio's microphone drops what it records while a piece waits for its answer: with an executor, taking a
    piece never waits for the model, no audio is lost, and the phrases still appear one by one."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from granite_workbench.live import PENDING, LiveTranscript

    _, (rate, samples) = recording

    def slow_decode(clip):
        time.sleep(1.5)  # slower than the one-second pieces come
        return f"phrase of {clip.duration:.1f} s"

    with ThreadPoolExecutor(1) as pool:
        live = LiveTranscript(slow_decode, executor=pool)
        took, seen = [], []
        for k in range(0, len(samples), rate):
            started = time.perf_counter()
            seen.append(live.feed((rate, samples[k : k + rate])))
            took.append(time.perf_counter() - started)
            time.sleep(1.0)  # the pieces come in real time
        assert max(took) < 1.0, took  # never the 1.5 s of a decode (the VAD look runs in the background)
        assert any(s.endswith(PENDING) for s in seen)  # "…" while a phrase is being decoded
        live.finish()
    got_rate, got = live.recorded()
    assert got_rate == rate and np.array_equal(got, samples)  # every sample kept, in order
    words = [len(s.removesuffix(PENDING).split()) for s in seen]
    assert words == sorted(words) and live.texts and all(t.startswith("phrase of") for t in live.texts)
    assert words[len(words) // 2] > 0  # phrases appeared while the speaker was still talking


def test_a_failed_background_decode_is_reported_on_the_next_piece():
    from concurrent.futures import ThreadPoolExecutor

    from granite_workbench.audio import AudioError
    from granite_workbench.live import LiveTranscript

    def broken(clip):
        raise RuntimeError("model exploded")

    speech = load_audio(str(PHRASES.parent / "phrase00.flac")).samples
    stream = np.concatenate([speech, np.zeros(16_000, dtype=np.float32)])
    with ThreadPoolExecutor(1) as pool:
        live = LiveTranscript(broken, executor=pool)
        live.feed((16_000, stream))
        live.finish()
        with pytest.raises(AudioError, match="model exploded"):
            live.feed((16_000, np.zeros(16_000, dtype=np.float32)))


@pytest.mark.parametrize("rate", [4_000_000_000, 1_000_000, 100, 0, -16000])
def test_a_forged_sample_rate_is_refused_before_anything_is_kept(rate):
    """The 10-minute cap counts samples at the stream's rate: a piece whose header claims 4 GHz must not pass 300 M
    samples off as milliseconds (it was taken, RSS +590 MB)."""
    from granite_workbench.audio import AudioError
    from granite_workbench.live import LiveBudget, LiveTranscript

    budget = LiveBudget(64 * 2**20)
    live = LiveTranscript(lambda clip: "x", budget=budget)
    with pytest.raises(AudioError, match="outside what microphones record"):
        live.feed((rate, np.zeros(8000, dtype=np.int16)))
    assert len(live.raw) == 0 and budget.held() == 0


def test_samples_are_counted_at_the_real_rate_and_pieces_are_bounded():
    from granite_workbench.audio import AudioError
    from granite_workbench.live import LiveTranscript

    live = LiveTranscript(lambda clip: "", max_seconds=20.0)
    with pytest.raises(AudioError, match="at most 10 seconds"):  # one piece of a minute: not a microphone
        live.feed((48_000, np.zeros(60 * 48_000, dtype=np.int16)))
    for _ in range(2):
        live.feed((48_000, np.zeros(10 * 48_000, dtype=np.int16)))
    with pytest.raises(AudioError, match="limited to 20 seconds"):  # 20 s at 48 kHz reached: nothing more
        live.feed((48_000, np.zeros(480, dtype=np.int16)))
    assert len(live.raw) == 20 * 48_000 and live.raw.dtype == np.int16  # kept as 16-bit: half of float's memory


def test_live_recordings_share_one_memory_budget_freed_when_sessions_close():
    import gc

    from granite_workbench.audio import AudioError
    from granite_workbench.live import LiveBudget, LiveTranscript
    from granite_workbench.ui.tabs.live import _close

    piece = (48_000, np.zeros(10 * 48_000, dtype=np.int16))  # 0.96 MB
    budget = LiveBudget(3 * 2**20)
    a, b = (LiveTranscript(lambda clip: "", budget=budget) for _ in range(2))
    a.feed(piece), a.feed(piece), b.feed(piece)
    with pytest.raises(AudioError, match="as many live recordings as it can"):
        b.feed(piece)
    _close(a)  # Gradio's delete callback when a's tab closes
    assert budget.held() == piece[1].nbytes
    b.feed(piece)
    del b
    gc.collect()
    assert budget.held() == 0  # a dropped stream holds nothing


def test_the_live_state_is_freed_by_gradios_delete_callback(wb):
    from granite_workbench.ui import build_demo
    from granite_workbench.ui.tabs.live import _close

    demo = build_demo(wb)
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State) and b.delete_callback is _close]
    assert len(states) == 1
