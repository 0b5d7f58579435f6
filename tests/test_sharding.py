"""Manifest batch work (transcribe --manifest, evaluate): sharded across processes with `accelerate launch`,
saved per part, resumed after a kill, equal to a single-process run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PHRASES, ROOT

ACCELERATE_2 = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
    "--main_process_port",
    "29517",
    "-m",
    "granite_workbench",
]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """The 16 learned phrases, then two rows that fail: missing audio, a language the model has no ASR for."""
    folder = tmp_path_factory.mktemp("manifest")
    rows = [json.loads(x) for x in PHRASES.read_text().splitlines()]
    for r in rows:
        r["audio"] = str(PHRASES.parent / r["audio"])
    rows.insert(5, {"audio": "nowhere.wav", "text": "lost", "language": "en"})
    korean = folder / "ko.flac"
    korean.write_bytes((PHRASES.parent / "phrase00.flac").read_bytes())
    rows.insert(9, {"audio": str(korean), "text": "x", "language": "ko"})
    path = folder / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def args_for(manifest, out, tiny_dir, adapter, batch_size=4):
    return [
        "transcribe",
        "--manifest",
        str(manifest),
        "--model",
        str(tiny_dir),
        "--adapter",
        str(adapter),
        "--out-dir",
        str(out),
        "--batch-size",
        str(batch_size),
        "--max-new-tokens",
        "24",
        "--quiet",
    ]


@pytest.fixture(scope="module")
def single(manifest, tiny_dir, trained_adapter, tmp_path_factory):
    """One in-process run: (exit status, out folder)."""
    from granite_workbench.cli import main

    out = tmp_path_factory.mktemp("single")
    return main(args_for(manifest, out, tiny_dir, trained_adapter[1], batch_size=1)), out


def test_manifest_transcription_in_order_with_failures_per_row(single, manifest):
    rc, out = single
    got = lines(out / "transcripts.jsonl")
    expected = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert rc == 1  # two rows failed
    assert [g["line"] for g in got] == list(range(1, 19))
    ok = [(g, e) for g, e in zip(got, expected) if g["error"] is None]
    assert len(ok) == 16
    assert sum(g["text"] == e["text"] for g, e in ok) >= 15  # the adapter learned these phrases
    assert "does not exist" in got[5]["error"] or "not found" in got[5]["error"]
    assert got[9]["error"].startswith("line 10:") and "ko" in got[9]["error"]
    assert (out / "phrase00.txt").read_text().strip() == got[0]["text"]
    assert not (out / "parts").exists()  # merged and cleaned up


def test_manifest_equals_transcribing_the_files(single, tiny_dir, trained_adapter, tmp_path):
    from granite_workbench.cli import main

    got = [g for g in lines(single[1] / "transcripts.jsonl") if g["error"] is None][:4]
    files = [g["name"] for g in got]
    rc = main(
        [
            "transcribe",
            *[str(PHRASES.parent / f) for f in files],
            "--model",
            str(tiny_dir),
            "--adapter",
            str(trained_adapter[1]),
            "--out-dir",
            str(tmp_path),
            "--max-new-tokens",
            "24",
            "--quiet",
        ]
    )
    assert rc == 0
    assert [(tmp_path / f"{Path(f).stem}.txt").read_text().strip() for f in files] == [g["text"] for g in got]


def test_saved_parts_are_skipped_and_another_run_is_refused(tmp_path):
    from granite_workbench.sharding import ResumeError, ShardedRun

    run = ShardedRun(tmp_path, {"rows": ["a", "b", "c"]}, 3)
    assert run.mine == [0, 1, 2] and run.resumed == 0
    run.save([{"index": 1, "x": "B"}])
    (run.dir / ".00000002.jsonl.tmp").write_text('{"index": 2, "x": "half')  # an interrupted write: ignored
    again = ShardedRun(tmp_path, {"rows": ["a", "b", "c"]}, 3)
    assert again.mine == [0, 2] and again.resumed == 1
    again.save([{"index": 0, "x": "A"}, {"index": 2, "x": "C"}])
    assert [e["x"] for e in again.merged()] == ["A", "B", "C"]
    with pytest.raises(ResumeError, match="different run"):
        ShardedRun(tmp_path, {"rows": ["a", "b", "X"]}, 3)
    again.cleanup()
    assert not run.dir.exists()


def test_missing_rows_are_not_merged(tmp_path):
    from granite_workbench.sharding import ResumeError, ShardedRun

    run = ShardedRun(tmp_path, {"n": 2}, 2)
    run.save([{"index": 0}])
    with pytest.raises(ResumeError, match="1 rows have no saved result"):
        run.merged()


def test_manifest_usage_errors(tmp_path, manifest):
    from granite_workbench.cli import main

    assert main(["transcribe", "--manifest", str(manifest), "--model", "tiny"]) == 2  # no --out-dir
    assert (
        main(["transcribe", "a.wav", "--manifest", str(manifest), "--model", "tiny", "--out-dir", str(tmp_path)]) == 2
    )  # both


@pytest.mark.slow
def test_killed_run_resumes_on_two_processes_and_equals_one(single, manifest, tiny_dir, trained_adapter, tmp_path):
    out = tmp_path / "out"
    argv = args_for(manifest, out, tiny_dir, trained_adapter[1], batch_size=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "granite_workbench", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    parts = out / "parts"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(parts.glob("[0-9]*.jsonl"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)
    saved = len(list(parts.glob("[0-9]*.jsonl")))
    proc.kill()
    proc.wait()
    assert 3 <= saved < 18, f"the run was not caught in the middle ({saved} parts)"

    p = subprocess.run(ACCELERATE_2 + argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, p.stderr[-3000:]  # the two bad rows
    assert f"resuming: {saved} of 18 rows already done" in p.stderr
    assert "18 rows over 2 processes" in p.stderr
    assert lines(out / "transcripts.jsonl") == lines(single[1] / "transcripts.jsonl")
    assert not parts.exists()


@pytest.mark.slow
def test_evaluate_on_two_processes_equals_one(manifest, tiny_dir, trained_adapter, tmp_path):
    from granite_workbench.cli import main

    common = [
        "evaluate",
        str(manifest),
        "--model",
        str(tiny_dir),
        "--adapter",
        str(trained_adapter[1]),
        "--batch-size",
        "3",
        "--max-new-tokens",
        "24",
        "--quiet",
    ]
    assert main(common + ["--out-dir", str(tmp_path / "one")]) == 1  # the two bad rows are reported
    p = subprocess.run(
        ACCELERATE_2 + common + ["--out-dir", str(tmp_path / "two")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.returncode == 1, p.stderr[-3000:]
    assert "line 6: missing audio" in p.stderr and "line 10: unsupported language" in p.stderr
    one, two = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two"))
    assert one == two
    assert one["groups"]["all"]["base"]["utterances"] == 16
    assert one["groups"]["all"][one["systems"][1]]["wer"] < 0.05 < one["groups"]["all"]["base"]["wer"]
    assert lines(tmp_path / "one" / "utterances.jsonl") == lines(tmp_path / "two" / "utterances.jsonl")
