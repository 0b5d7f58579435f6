"""`evaluate --models`: which Granite for my data — several models over the same rows, one in memory at a time."""

import json
import weakref
from pathlib import Path

import pytest
from conftest import PHRASES

from granite_workbench.cli import main
from granite_workbench.comparison import ModelChoice, compare_models, disagreements, parse_models

pytestmark = pytest.mark.slow
MODELS = ["tiny", "tiny-plus", "tiny-ctc"]
SHORT = ["--limit", "6", "--max-new-tokens", "12", "--batch-size", "4", "--quiet"]


def hypotheses(folder) -> list[dict]:
    return [
        {s: v["hypothesis"] for s, v in json.loads(l)["systems"].items()}
        for l in (folder / "utterances.jsonl").read_text().splitlines()
    ]


def test_models_equal_each_models_own_evaluate_row_for_row(tmp_path):
    assert main(
        ["evaluate", str(PHRASES), "--models", ",".join(MODELS), "--out-dir", str(tmp_path / "all"), *SHORT]
    ) in (0, 1)
    together = hypotheses(tmp_path / "all")
    assert len(together) == 6 and all(set(row) == set(MODELS) for row in together)
    for model in MODELS:
        assert main(["evaluate", str(PHRASES), "--model", model, "--out-dir", str(tmp_path / model), *SHORT]) in (0, 1)
        alone = [row["base"] for row in hypotheses(tmp_path / model)]
        assert [row[model] for row in together] == alone, model
    assert len({tuple(row[m] for row in together) for m in MODELS}) == 3, "premise: the three models answer differently"
    costs = json.loads((tmp_path / "all" / "models.json").read_text())
    assert [c["system"] for c in costs] == MODELS
    assert all(c["rtfx"] > 0 and c["parameters"] > 100_000 and c["peak_memory_bytes"] > 0 for c in costs)
    assert all(c["audio_seconds"] == pytest.approx(costs[0]["audio_seconds"]) for c in costs)  # the same rows
    report = (tmp_path / "all" / "report.md").read_text()
    assert "## Models on this machine" in report and all(f"| {m} |" in report for m in MODELS)
    assert (tmp_path / "all" / "speed_accuracy.png").stat().st_size > 10_000
    spread = [json.loads(l)["spread"] for l in (tmp_path / "all" / "disagreements.jsonl").read_text().splitlines()]
    assert spread == sorted(spread, reverse=True) and spread[0] > 0


def test_one_model_in_memory_at_a_time_and_rows_a_model_cannot_do(tmp_path):
    """Each model is released before the next loads; a translation row fails for the CTC model with the reason
    and is counted, while the others answer it."""
    from granite_workbench.loading import load_model
    from granite_workbench.manifest import read_manifest, validate

    clip = str(PHRASES.parent / "phrase00.flac")
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"audio": clip, "text": "turn on the kitchen lights"})
        + "\n"
        + json.dumps({"audio": clip, "text": "allume", "task": "ast", "language": "en", "target_language": "fr"})
        + "\n"
    )
    rows, _ = validate(read_manifest(tmp_path / "m.jsonl"), None, source="m", max_audio_seconds=60, max_label_tokens=0)
    alive: list = []

    def load(model):
        assert not [r for r in alive if r() is not None], "the previous model is still in memory"
        lm = load_model(model)
        alive.append(weakref.ref(lm))
        return lm

    result, costs = compare_models([ModelChoice("tiny"), ModelChoice("tiny-ctc")], rows, load, max_new_tokens=8)
    assert result.summary["all"]["tiny-ctc"]["failed"] == 1 and result.summary["all"]["tiny"]["failed"] == 0
    assert "does not translate" in result.errors["tiny-ctc"][1]
    assert costs[1].audio_seconds == pytest.approx(rows[0].duration, abs=0.01)  # only the row it answered
    assert disagreements(result) == [] or all(d["spread"] > 0 for d in disagreements(result))


def test_models_flag_is_checked():
    assert parse_models("tiny, tiny-ctc@ckpt/run/step-000600") == [
        ModelChoice("tiny"),
        ModelChoice("tiny-ctc", "ckpt/run/step-000600"),
    ]
    assert ModelChoice("tiny-ctc", "ckpt/run/step-000600").label == "tiny-ctc@run-step-000600"
    for bad, msg in [("tiny@", "MODEL@ADAPTER_FOLDER"), ("tiny,tiny", "one system twice"), (" , ", "names no model")]:
        with pytest.raises(ValueError, match=msg):
            parse_models(bad)


def test_models_with_adapter_flag_is_refused(tmp_path, capsys):
    assert main(["evaluate", str(PHRASES), "--models", "tiny", "--adapter", "x", "--out-dir", str(tmp_path)]) == 2
    assert "drop --adapter" in capsys.readouterr().err


def test_evaluate_tab_compares_models(tiny_dir, trained_adapter):
    """The Evaluate tab's panel: the demo's model, another kind and an adapter of the checkpoints folder, over the
    same rows; the demo's model keeps no adapter of the comparison afterwards."""
    from conftest import ready_workbench

    from granite_workbench.registry import AdapterRegistry
    from granite_workbench.ui.tabs.evaluate_models import compare_models_action, default_models

    run, _ = trained_adapter
    wb = ready_workbench(tiny_dir, registry=AdapterRegistry(run.parent))
    assert default_models(wb) == f"{tiny_dir}\ntiny-ctc"
    ticks = []
    models = f"{tiny_dir}\ntiny-ctc\n{tiny_dir}@{run.name}/step-000600"
    note, table, chart, spread, files = compare_models_action(
        wb, "data/phrases/train.jsonl", None, models, "4", lambda value, **kw: ticks.append(kw.get("desc"))
    )
    assert "4 utterances × 3 models" in note
    assert list(table["model"]) == [tiny_dir.name, "tiny-ctc", f"{tiny_dir.name}@{run.name}-step-000600"]
    assert table["WER %"].iloc[2] == 0.0 and table["WER %"].iloc[0] > 50  # the adapter learned these phrases
    assert all(table["RTFx"] > 0)
    assert Path(chart).stat().st_size > 10_000 and "Where the models disagree most" in spread and "<audio" in spread
    assert "Model 3 of 3" in " ".join(filter(None, ticks))
    assert wb.inference.engine().adapter_names() == []  # the comparison's adapter was taken off again
    assert {Path(f).name for f in files} == {"report.md", "models.json", "utterances.jsonl", "disagreements.jsonl"}
