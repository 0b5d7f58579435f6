"""4.1-2b-plus answers (speaker turns, word-time tags) into words, segments and subtitles; malformed tags never
crash; subtitle cues keep their limits, also for one long "word"."""

import numpy as np
import pytest

from granite_workbench.ctc import Word
from granite_workbench.plus_tags import read_tagged
from granite_workbench.subtitles import MAX_CUE_SECONDS, MAX_LINE_CHARS, cues


def test_speaker_turns_in_order_of_the_answer():
    t = read_tagged("[Speaker 1]: hello how are you [Speaker 2]: i'm fine [Speaker 1]: good", 6.0)
    assert t.text == "hello how are you i'm fine good" and not t.problems and not t.timed
    assert [(w.word, w.speaker) for w in t.words] == [
        ("hello", 1),
        ("how", 1),
        ("are", 1),
        ("you", 1),
        ("i'm", 2),
        ("fine", 2),
        ("good", 1),
    ]
    assert t.words[0].start == 0.0 and t.words[-1].end == 6.0 and not any(w.aligned for w in t.words)


def test_time_tags_are_end_times_with_silences_and_the_ten_second_wrap():
    """The card: `[T:N]` after each word is its end in centiseconds, `_` a silence, N modulo 1000 (10 s)."""
    t = read_tagged("hello [T:45] world [T:82] _ [T:140] again [T:990] and [T:30] more [T:75]", 12.0)
    assert t.timed and not t.problems and t.text == "hello world again and more"
    assert [(w.word, w.start, w.end) for w in t.words] == [
        ("hello", 0.0, 0.45),
        ("world", 0.45, 0.82),
        ("again", 1.4, 9.9),
        ("and", 9.9, 10.3),
        ("more", 10.3, 10.75),
    ]
    assert all(w.aligned for w in t.words)


@pytest.mark.parametrize(
    ("answer", "text", "problem"),
    [
        ("[Speaker 1: hello [T:45] world [T:82]", "hello world", "without its closing bracket"),
        ("hello [T:45 world [T:82]", "hello world", "without its closing bracket"),
        ("[Speaker hello there", "hello there", "malformed tag '[Speaker'"),
        ("one two [T:120] three", "one two three", "2 words shared one time tag"),
        ("one [T:50] two [T:9000]", "one two", "past the chunk's end"),
        ("one [T:50] two three", "one two three", "after the last time tag"),
        ("[laughs] ok [T:20]", "[laughs] ok", "shared one time tag"),
    ],
)
def test_malformed_tags_keep_the_text_and_say_what_was_wrong(answer, text, problem):
    t = read_tagged(answer, 3.0)
    assert t.text == text
    assert any(problem in p for p in t.problems), t.problems
    ends = [w.end for w in t.words]
    assert ends == sorted(ends) and all(0 <= w.start <= w.end <= 3.0 for w in t.words)


def test_garbage_never_raises():
    rng = np.random.default_rng(0)
    alphabet = list("[]:T_ Speaker0123456789ab")
    for _ in range(300):
        answer = "".join(rng.choice(alphabet, size=int(rng.integers(0, 60))))
        t = read_tagged(answer, 5.0)
        assert all(0 <= w.start <= w.end <= 5.5 for w in t.words)


def test_cues_break_at_speaker_changes_and_label_them():
    from granite_workbench.transcribe import Result
    from granite_workbench.writers import render

    words = [Word(0.0, 0.4, "hello", speaker=1), Word(0.4, 0.8, "there", speaker=1), Word(0.9, 1.3, "hi", speaker=2)]
    r = Result("a.wav", "asr_speakers", "hello there hi", words=words, duration=1.3)
    assert render(r, "srt") == (
        "1\n00:00:00,000 --> 00:00:00,800\n[Speaker 1] hello there\n\n"
        "2\n00:00:00,900 --> 00:00:01,300\n[Speaker 2] hi\n"
    )
    assert render(r, "vtt") == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:00.800\n<v Speaker 1>hello there\n\n"
        "00:00:00.900 --> 00:00:01.300\n<v Speaker 2>hi\n"
    )


def test_a_long_unspaced_word_is_cut_into_cues_within_the_limits():
    """A 23 s run without spaces (Japanese, or the tiny model's text) used to become one 23 s cue."""
    word = Word(0.0, 23.0, "今日は良い天気ですね" * 12)
    out = cues([word])
    assert len(out) > 1 and "".join(c.text.replace("\n", "") for c in out) == word.word
    assert all(c.end - c.start <= MAX_CUE_SECONDS + 1e-6 for c in out)
    assert all(len(line) <= MAX_LINE_CHARS for c in out for line in c.lines)
    assert out[0].start == 0.0 and out[-1].end == 23.0


def test_a_long_segment_without_word_times_is_cut_into_cues():
    from granite_workbench.transcribe import Result, Segment
    from granite_workbench.writers import timed_lines

    text = " ".join(f"word{i}" for i in range(60))
    r = Result("a.wav", "asr", text, segments=[Segment(0.0, 30.0, text)], duration=30.0)
    lines = timed_lines(r)
    assert len(lines) > 4 and " ".join(t.replace("\n", " ") for _, _, t, _ in lines) == text
    assert all(e - s <= MAX_CUE_SECONDS + 1e-6 for s, e, _, _ in lines)


def test_the_transcriber_reads_tagged_answers_into_segments_and_words():
    """Through the Python API with an engine that answers like the plus model: speaker segments, words with
    times from the tags, the source of the times said, problems reported, the text without tags."""
    from granite_workbench.audio import Audio
    from granite_workbench.engine import FakeEngine
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    answers = {
        "asr_speakers": "[Speaker 1]: good morning [Speaker 2]: hi there [Speaker 1]: bye",
        "asr_timestamps": "good [T:40] morning [T:95] _ [T:150] hi [T:180] there [T:",
    }
    tr = Transcriber(FakeEngine(fn=lambda r: answers[r.spec.task]))
    clip = Audio(np.full(16000 * 3, 0.05, dtype=np.float32), "talk")
    speakers, times = tr.run([clip, clip], [TaskSpec("asr_speakers"), TaskSpec("asr_timestamps")])
    assert speakers.ok and speakers.text == "good morning hi there bye"
    assert [(s.speaker, s.text) for s in speakers.segments] == [(1, "good morning"), (2, "hi there"), (1, "bye")]
    assert speakers.segments[0].start == 0.0 and speakers.segments[-1].end <= 3.0
    assert "word times: spread over each chunk (approximate)" in speakers.info
    assert times.ok and times.text == "good morning hi there"
    assert [(w.word, w.start, w.end) for w in times.words][:3] == [
        ("good", 0.0, 0.4),
        ("morning", 0.4, 0.95),
        ("hi", 1.5, 1.8),
    ]
    assert "word times: the model's own tags" in times.info
    assert any("malformed tag '[T:'" in i for i in times.info)


def test_only_the_plus_model_is_asked_for_speakers():
    from granite_workbench.models import UnsupportedTaskError, require_task, spec_for

    require_task(spec_for("ibm-granite/granite-speech-4.1-2b-plus"), "asr_speakers")
    with pytest.raises(
        UnsupportedTaskError,
        match="granite-4.0-1b-speech does not label speakers; these models do: granite-speech-4.1-2b-plus",
    ):
        require_task(spec_for("ibm-granite/granite-4.0-1b-speech"), "asr_speakers")


def test_training_targets_round_trip_through_the_reader():
    """What fine-tuning writes (the model card's formats) reads back as the same words, speakers and times."""
    from granite_workbench.plus_tags import turn_words, write_speakers, write_timestamps

    turns = [
        {"speaker": "agent", "text": "hello  there"},
        {"speaker": "caller", "text": "hi"},
        {"speaker": "agent", "text": "bye"},
    ]
    assert write_speakers(turns) == "[Speaker 1]: hello there [Speaker 2]: hi [Speaker 1]: bye"
    assert turn_words(write_speakers(turns)) == [("hello", 1), ("there", 1), ("hi", 2), ("bye", 1)]
    words = [{"word": "one", "end": 0.45}, {"word": "two", "end": 9.9}, {"word": "three", "end": 12.34}]
    tagged = write_timestamps(words)
    assert tagged == "one [T:45] two [T:990] three [T:234]"  # modulo 10 s, as the card writes them
    assert [(w.word, w.end) for w in read_tagged(tagged, 13.0).words] == [("one", 0.45), ("two", 9.9), ("three", 12.34)]


def test_speaker_and_time_scores():
    """WDER: the best mapping of speaker numbers, a word without a speaker is wrong; word-time error over the
    words that match."""
    from granite_workbench.metrics import speaker_word_errors, word_time_errors
    from granite_workbench.plus_tags import turn_words

    ref = turn_words("[Speaker 1]: hello there [Speaker 2]: hi how are you")
    assert speaker_word_errors(ref, turn_words("[Speaker 2]: hello there [Speaker 1]: hi how are you")).rate == 0
    assert speaker_word_errors(ref, turn_words("[Speaker 1]: hello there hi [Speaker 2]: how are you")).wrong == 1
    assert speaker_word_errors(ref, turn_words("hello there hi how are you")).rate == 1.0  # the tags were lost
    counts = word_time_errors([("Hello,", 0.45), ("world", 0.82)], [("hello", 0.5), ("word", 1.0)])
    assert counts.words == 1 and counts.rate == pytest.approx(0.05)
