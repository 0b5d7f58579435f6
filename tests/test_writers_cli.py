import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import espeak

from granite_workbench.transcribe import Result, Segment
from granite_workbench.writers import render, write_result

ROOT = Path(__file__).resolve().parent.parent


def sample_result():
    return Result(
        name="talk.wav",
        task="asr",
        text="Hello there. General Kenobi!",
        duration=3725.5,
        segments=[Segment(0.0, 1.25, "Hello there."), Segment(3661.5, 3665.5, "General Kenobi!")],
    )


def test_srt_and_vtt_exact():
    r = sample_result()
    assert render(r, "srt") == (
        "1\n00:00:00,000 --> 00:00:01,250\nHello there.\n\n2\n01:01:01,500 --> 01:01:05,500\nGeneral Kenobi!\n"
    )
    assert render(r, "vtt") == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello there.\n\n01:01:01.500 --> 01:01:05.500\nGeneral Kenobi!\n"
    )
    assert render(r, "txt") == "Hello there. General Kenobi!\n"
    data = json.loads(render(r, "json"))
    assert data["segments"][1] == {"start": 3661.5, "end": 3665.5, "text": "General Kenobi!", "speaker": None}
    with pytest.raises(ValueError, match="Unknown format 'docx'"):
        render(r, "docx")


def test_write_result_names_file_after_clip(tmp_path):
    path = write_result(sample_result(), tmp_path / "out", "srt")
    assert path == tmp_path / "out" / "talk.srt" and path.read_text().startswith("1\n")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def run_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "granite_workbench", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_end_to_end_every_format(tmp_path, tiny_dir):
    a = espeak("hello from the command line", tmp_path / "a.wav")
    b = espeak("a second clip", tmp_path / "b.wav")
    out = tmp_path / "out"
    p = run_cli(
        "transcribe",
        a,
        b,
        "--model",
        tiny_dir,
        "--out-dir",
        out,
        "--format",
        "all",
        "--keywords",
        "Granite, LoRA",
        "--max-new-tokens",
        "8",
    )
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == [f"{s}.{e}" for s in "ab" for e in ("json", "srt", "txt", "vtt")]
    data = json.loads((out / "a.json").read_text())
    assert data["task"] == "asr_keywords" and data["keywords"] == ["Granite", "LoRA"] and data["duration"] > 1
    assert (out / "a.vtt").read_text().startswith("WEBVTT\n\n00:00:00.000 --> ")
    assert (out / "a.txt").read_text().strip() == data["text"]
    assert "summary: 2/2 clips ok, 0 failed" in p.stderr and "tiny offline smoke model" in p.stderr


@pytest.mark.slow
def test_cli_translate_to_stdout_and_failure_exit(tmp_path, tiny_dir):
    a = espeak("good morning", tmp_path / "a.wav")
    p = run_cli(
        "translate",
        a,
        tmp_path / "missing.wav",
        "--lang",
        "en",
        "--to",
        "zh",
        "--model",
        "tiny",
        "--format",
        "srt",
        "--max-new-tokens",
        "4",
        "--quiet",
    )
    assert p.returncode == 1
    assert "FAILED missing.wav: file not found." in p.stderr
    assert "== a.wav\n1\n00:00:00,000 --> " in p.stdout
    assert "summary: 1/2 clips ok, 1 failed" in p.stderr


def test_cli_usage_errors(tmp_path):
    p = run_cli("translate", "x.wav", "--lang", "fr", "--to", "de", "--model", "tiny")
    assert p.returncode == 2 and "Unsupported translation direction 'fr' -> 'de'" in p.stderr
    p = run_cli("transcribe", "x.wav", "--format", "docx", "--model", "tiny")
    assert p.returncode == 2 and "unknown format(s) docx" in p.stderr
    p = run_cli("transcribe", "x.wav", "--model", "/no/such/folder")
    assert p.returncode == 2 and "Model folder '/no/such/folder' does not exist." in p.stderr
    p = run_cli("transcribe", "x.wav", env_extra={"HF_HUB_OFFLINE": "1"})
    assert p.returncode == 2 and "--model tiny" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("transcribe", "x.wav", "--model", "tiny", "--quantization", "4bit")
    assert p.returncode == 2 and "needs a CUDA GPU" in p.stderr


def test_cli_help_reads_well():
    p = run_cli("--help")
    assert p.returncode == 0 and "transcribe" in p.stdout and "translate" in p.stdout
    p = run_cli("transcribe", "--help")
    assert "--keywords" in p.stdout and "exit status: 0 when every clip succeeded" in p.stdout
