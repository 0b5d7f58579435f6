"""Long audio: VAD cuts fall in silence, fixed windows are stitched without lost or doubled words.

The long clip is real recorded speech: Debian's Asterisk prompts strung together with pauses.
A fake "oracle" recognizer answers each chunk with the words actually spoken inside it (a word
counts when its centre lies in the chunk), so any lost or doubled word is the stitcher's fault.
"""

import numpy as np
import pytest
from conftest import asterisk_audio, asterisk_transcripts

from granite_workbench.audio import SAMPLE_RATE, Audio, load_audio
from granite_workbench.chunking import Chunk, fixed_windows, plan_chunks, seam, stitch, vad_chunks
from granite_workbench.engine import FakeEngine
from granite_workbench.prompts import TaskSpec
from granite_workbench.transcribe import Transcriber


@pytest.fixture(scope="module")
def long_speech():
    """About 2 minutes of real speech: (audio, [(start, end, text) per prompt])."""
    texts = asterisk_transcripts("en")
    names = [n for n in sorted(texts) if "/" not in n and len(texts[n].split()) >= 4][:60]
    rng = np.random.default_rng(0)
    pieces, layout, t = [], [], 0.0
    for name in names:
        x = load_audio(asterisk_audio(name)).samples
        if len(x) > 12 * SAMPLE_RATE:  # keep single prompts well under the chunk limit
            continue
        gap = np.zeros(int(rng.uniform(0.5, 1.2) * SAMPLE_RATE), dtype=np.float32)
        pieces += [x, gap]
        layout.append((t, t + len(x) / SAMPLE_RATE, texts[name]))
        t += (len(x) + len(gap)) / SAMPLE_RATE
        if t > 120:
            break
    return Audio(np.concatenate(pieces), name="long.wav"), layout


def timed_words(layout):
    """Each word with its centre time, spread evenly over its prompt."""
    out = []
    for start, end, text in layout:
        words = text.split()
        for k, w in enumerate(words):
            out.append((start + (k + 0.5) * (end - start) / len(words), w))
    return out


def oracle(layout):
    words = timed_words(layout)

    def fn(req):
        lo, hi = req.offset, req.offset + req.duration
        return " ".join(w for c, w in words if lo <= c < hi)

    return fn


def test_vad_cuts_only_in_silence(long_speech):
    audio, layout = long_speech
    chunks = plan_chunks(audio, "vad", max_seconds=20)
    assert len(chunks) >= 6
    assert all(c.duration <= 20 + 1e-6 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):  # every cut lies in silence: quiet audio around it
        assert a.end <= b.start
        for cut in (a.end, b.start):
            around = audio.slice(max(cut - 0.05, 0), cut + 0.05)
            assert np.sqrt(np.mean(around**2)) < 0.01, cut
    for s, e, _ in layout:  # every prompt is covered by the chunks
        covered = sum(max(0.0, min(e, c.end) - max(s, c.start)) for c in chunks)
        assert covered >= (e - s) - 0.1, (s, e)


@pytest.mark.parametrize("mode,max_s,overlap", [("vad", 20, 3), ("fixed", 20, 3), ("fixed", 15, 5), ("fixed", 9, 2)])
def test_stitched_text_has_every_word_once(long_speech, mode, max_s, overlap):
    audio, layout = long_speech
    spec = TaskSpec("asr_keywords", keywords=("extension", "pound"))
    backend = FakeEngine(fn=oracle(layout))
    seen_specs = []
    inner = backend.fn
    backend.fn = lambda r: (seen_specs.append(r.spec), inner(r))[1]
    tr = Transcriber(engine=backend, chunking=mode, max_chunk_seconds=max_s, overlap_seconds=overlap, batch_size=4)
    res = tr.run([audio], spec)[0]
    expected = " ".join(w for _, w in timed_words(layout))
    assert res.ok and res.text == expected
    assert len(res.segments) > 3
    assert all(a.end <= b.start + 1e-6 for a, b in zip(res.segments, res.segments[1:]))  # ordered, no overlap
    assert all(s.keywords == ("extension", "pound") for s in seen_specs)  # keywords on every chunk
    assert len(seen_specs) == len(plan_chunks(audio, mode, max_s, overlap))


def test_seam_prefers_agreeing_run():
    a = "press one for sales press two for support".split()
    b = "for support press three for billing".split()
    keep, first = seam(a, b, overlap_words_hint=2)
    assert " ".join(a[:keep] + b[first:]) == "press one for sales press two for support press three for billing"


def test_seam_without_agreement_drops_half_the_overlap_each_side():
    a = "alpha beta gamma delta".split()
    b = "epsilon zeta eta theta".split()
    keep, first = seam(a, b, overlap_words_hint=2)
    assert (keep, first) == (3, 1)


def test_fixed_windows_cover_and_overlap():
    chunks = fixed_windows(0.0, 100.0, 30.0, 4.0)
    assert chunks[0].start == 0 and chunks[-1].end == 100
    assert all(b.start == pytest.approx(a.end - 4.0) for a, b in zip(chunks, chunks[1:]))
    segs = stitch(chunks, ["a"] * len(chunks))
    assert [round(s[0], 1) for s in segs] == [0.0, 28.0, 54.0, 80.0]


def test_vad_groups_regions_and_splits_long_speech():
    audio = Audio(np.zeros(100 * SAMPLE_RATE, dtype=np.float32))
    regions = [(1, 5), (6, 12), (13, 20), (30, 75), (80, 82)]
    chunks = vad_chunks(audio, 20, 2, regions=regions)
    assert (chunks[0].start, chunks[0].end) == (pytest.approx(0.7), pytest.approx(20.3))  # three regions grouped
    assert all(c.duration <= 20 + 1e-6 for c in chunks)
    # the 45 s region (30-75) is split into overlapping fixed windows
    assert [(round(c.start, 1), round(c.end, 1), c.overlap_before) for c in chunks[1:4]] == [
        (29.7, 49.7, 0.0),
        (47.7, 67.7, 2.0),
        (65.7, 75.3, 2.0),
    ]
    assert chunks[-1].start == pytest.approx(79.7) and chunks[-1].end == pytest.approx(82.3)


def test_short_clip_is_one_chunk_and_bad_mode_refused():
    audio = Audio(np.zeros(10 * SAMPLE_RATE, dtype=np.float32))
    assert plan_chunks(audio, "vad") == [Chunk(0.0, 10.0)]
    with pytest.raises(ValueError, match="Unknown chunking mode"):
        plan_chunks(audio, "magic")
