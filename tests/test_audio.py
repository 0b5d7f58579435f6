import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import espeak, tone

from granite_workbench.audio import SAMPLE_RATE, AudioError, load_audio, to_mono_float
from granite_workbench.prompts import audio_token_count


def test_int16_stereo_44k_wav(tmp_path):
    x = tone(1.0, 44100)
    stereo = np.stack([x, x * 0.5], axis=1)
    sf.write(tmp_path / "a.wav", (stereo * 32767).astype(np.int16), 44100, subtype="PCM_16")
    a = load_audio(tmp_path / "a.wav")
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert abs(len(a.samples) - SAMPLE_RATE) <= 1
    assert 0.2 < np.abs(a.samples).max() < 0.26  # mean of the two channels: 0.75 * 0.3


@pytest.mark.parametrize("fmt,subtype", [("flac", "PCM_24"), ("ogg", "VORBIS"), ("wav", "FLOAT")])
def test_sndfile_formats(tmp_path, fmt, subtype):
    sf.write(tmp_path / f"a.{fmt}", tone(0.5, 22050), 22050, format=fmt.upper(), subtype=subtype)
    a = load_audio(tmp_path / f"a.{fmt}")
    assert abs(a.duration - 0.5) < 0.01


@pytest.mark.parametrize("ext", ["mp3", "m4a", "webm"])
def test_ffmpeg_formats(tmp_path, ext):
    wav = espeak("testing one two three", tmp_path / "s.wav")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(tmp_path / f"s.{ext}")], check=True)
    ref = load_audio(wav)
    a = load_audio(tmp_path / f"s.{ext}")
    assert abs(a.duration - ref.duration) < 0.1
    assert load_audio((tmp_path / f"s.{ext}").read_bytes()).duration == pytest.approx(a.duration, abs=0.05)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint8, np.float64, np.int8])
def test_array_dtypes_scale_to_unit_range(dtype):
    x = tone(0.5, 8000, amp=0.5)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = (
            x * (info.max - (info.max + 1) / 2 if info.min == 0 else info.max)
            + ((info.max + 1) / 2 if info.min == 0 else 0)
        ).astype(dtype)
    else:
        arr = x.astype(dtype)
    a = load_audio(arr, 8000)
    assert a.samples.dtype == np.float32 and len(a.samples) == 8000
    assert np.abs(a.samples).max() == pytest.approx(0.5, abs=0.02)


def test_gradio_tuple_and_channels_first():
    x = (tone(1.0, 48000) * 32767).astype(np.int16)
    a = load_audio((48000, np.stack([x, x])))  # (channels, samples)
    assert len(a.samples) == SAMPLE_RATE


def test_float_above_one_is_rescaled_not_clipped():
    a = load_audio(tone(1.0, amp=4.0), SAMPLE_RATE)
    assert np.abs(a.samples).max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "bad,msg",
    [
        (np.array([], dtype=np.float32), "empty audio"),
        (np.full(16000, np.nan, dtype=np.float32), "NaN or infinite"),
        (np.concatenate([tone(1), [np.inf]]).astype(np.float32), "NaN or infinite"),
        (np.zeros((2, 2, 100), dtype=np.float32), "1-D or 2-D"),
        (np.zeros(100, dtype=np.float32), "too short"),
        (np.array(["a", "b"]), "unsupported sample type"),
    ],
)
def test_bad_arrays(bad, msg):
    with pytest.raises(AudioError, match=msg):
        load_audio(bad, SAMPLE_RATE)


def test_bad_files(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + bytes(range(256)) * 4)
    (tmp_path / "notes.txt").write_text("this is not audio at all\n" * 50)
    with pytest.raises(AudioError, match="empty file"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="corrupt.wav: not a readable audio file"):
        load_audio(tmp_path / "corrupt.wav")
    with pytest.raises(AudioError, match="notes.txt: not a readable audio file"):
        load_audio(tmp_path / "notes.txt")
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "missing.flac")
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)
    with pytest.raises(AudioError, match="without its sample rate"):
        load_audio(tone(1.0))
    with pytest.raises(AudioError, match="unsupported audio input"):
        load_audio(12345)


def test_too_long_is_refused_before_decoding(tmp_path):
    sf.write(tmp_path / "long.wav", np.zeros(16000 * 30, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"too long \(30.0 s; the limit is 10.0 s\)"):
        load_audio(tmp_path / "long.wav", max_seconds=10)
    with pytest.raises(AudioError, match=r"too long \(2.0 h; the limit is 1.0 h\)"):
        load_audio(np.zeros(8000 * 7200, dtype=np.int16), 8000, max_seconds=3600)


def test_silence_is_flagged():
    assert load_audio(np.zeros(16000, dtype=np.float32), SAMPLE_RATE).silent
    assert not load_audio(tone(1.0), SAMPLE_RATE).silent


def test_to_mono_float_keeps_values():
    x = np.array([[0.5, -0.5], [0.25, 0.25]], dtype=np.float32)  # (samples, channels)
    assert to_mono_float(x).tolist() == [0.0, 0.25]


@pytest.mark.parametrize("n", [1600, 1601, 3200, 16000, 16159, 16160, 32000, 47999, 48000, 160000, 480000, 123457])
def test_audio_token_count_matches_processor(tiny_lm, n):
    proc = tiny_lm.processor
    feats = proc.audio_processor([np.zeros(n, dtype=np.float32)])
    assert audio_token_count(n) == feats["audio_embed_sizes"][0]
    enc = proc(text="<|audio|>hi", audio=np.zeros(n, dtype=np.float32) + 0.01, return_tensors="pt")
    assert int((enc["input_ids"] == tiny_lm.model.config.audio_token_index).sum()) == audio_token_count(n)


def test_audio_token_formula_from_notes():
    assert audio_token_count(32000) == 21  # 2 s -> 21 tokens (model notes)
    assert audio_token_count(160000) == 102  # 10 s -> about 10 tokens per second
