"""The evaluation command end to end: tiny model + an adapter from the fine-tuning module."""

import json
import os
import subprocess
import sys

import pytest
from conftest import PHRASES, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mixed_manifest(tmp_path_factory):
    """The 16 training phrases (ASR), 4 of them again as keyword-biased rows, 2 translation rows, 1 bad clip."""
    d = tmp_path_factory.mktemp("evalset")
    rows = [json.loads(l) for l in PHRASES.read_text().splitlines()]
    for r in rows:
        r["audio"] = str(PHRASES.parent / r["audio"])
    extra = [dict(rows[i], task="asr_keywords", keywords=["kitchen", "garage"]) for i in (0, 7)]
    extra += [
        dict(rows[1], task="ast", target_language="fr", text="règle une minuterie de dix minutes"),
        dict(rows[3], task="ast", target_language="de", text="spiel etwas jazzmusik"),
    ]
    (d / "broken.wav").write_text("not audio")
    extra.append({"audio": str(d / "broken.wav"), "text": "broken", "language": "en"})
    (d / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + extra))
    return d / "eval.jsonl"


def test_evaluate_command_shows_the_adapter_improvement(trained_adapter, tiny_dir, mixed_manifest, tmp_path):
    _, final = trained_adapter
    out = tmp_path / "report"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "granite_workbench",
            "evaluate",
            str(mixed_manifest),
            "--model",
            str(tiny_dir),
            "--adapter",
            str(final),
            "--out-dir",
            str(out),
            "--max-new-tokens",
            "24",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ,
    )
    assert p.returncode == 1, p.stderr  # the broken clip is reported, not fatal
    assert "line 21: unreadable audio" in p.stderr
    summary = json.loads((out / "summary.json").read_text())
    adapter = summary["systems"][1]
    asr = summary["groups"]["asr en"]
    assert asr["base"]["wer"] >= 0.9 and asr[adapter]["wer"] <= 0.10
    assert asr[adapter]["utterances"] == 16
    kw = summary["groups"]["asr_keywords en"]
    # the adapter was trained on plain ASR prompts only; the keyword measures are reported for both systems
    assert {"keyword_recall", "keyword_precision", "b_wer", "u_wer"} <= set(kw[adapter]) and kw[adapter][
        "utterances"
    ] == 2
    assert set(summary["groups"]) == {"asr en", "asr_keywords en", "ast en->fr", "ast en->de", "all"}
    assert "bleu" in summary["groups"]["ast en->fr"]["base"]
    utts = [json.loads(l) for l in (out / "utterances.jsonl").read_text().splitlines()]
    assert len(utts) == 20
    first = utts[0]
    assert first["reference"] == "turn on the kitchen lights"
    assert first["systems"][adapter]["hypothesis"] == "turn on the kitchen lights"
    assert first["systems"][adapter]["errors"] == 0 and first["systems"]["base"]["errors"] > 0
    report = (out / "report.md").read_text()
    assert "## asr en" in report and f"| {adapter} |" in report and "## Worst utterances: base" in report
    assert (out / "metrics.png").stat().st_size > 5000 and (out / "deltas.png").stat().st_size > 5000


def test_numbers_match_the_training_log(trained_adapter, tiny_dir, tmp_path):
    """The final WER logged by fine-tuning equals the evaluation command's WER on the same data."""
    run, final = trained_adapter
    out = tmp_path / "r"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "granite_workbench",
            "evaluate",
            str(PHRASES),
            "--model",
            str(tiny_dir),
            "--adapter",
            str(final),
            "--no-base",
            "--out-dir",
            str(out),
            "--max-new-tokens",
            "24",
            "--quiet",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    summary = json.loads((out / "summary.json").read_text())
    logged = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if "wer" in l][-1]
    assert summary["groups"]["all"][summary["systems"][0]]["wer"] == pytest.approx(logged["wer"], abs=1e-12)
