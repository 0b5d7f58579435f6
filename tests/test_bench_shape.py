"""The benchmarks' real-shape model: the config gives the published parameter counts (built on the meta device)."""

import json
import sys

import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))


def test_real_shape_config_matches_the_model_card():
    from real_shape import CONFIG, parameter_counts
    from transformers import GraniteSpeechConfig, GraniteSpeechForConditionalGeneration

    cfg = json.loads(CONFIG.read_text())
    config = GraniteSpeechConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "model_type")})
    with torch.device("meta"):
        model = GraniteSpeechForConditionalGeneration(config)
    counts = parameter_counts(model)
    assert round(counts["total"] / 1e9, 2) == 2.31
    assert round(counts["encoder"] / 1e6) == 440 and round(counts["projector"] / 1e6) == 36
    assert round((counts["language_model"] + counts["lm_head"]) / 1e6) == 1837


def test_table_formatting():
    from common import table

    out = table([{"a": 1, "b": "xy"}], ["a", "b"])
    assert out.splitlines() == ["| a | b  |", "|---|----|", "| 1 | xy |"]
