"""Fine-tuning: learning proof, accelerate multi-process, exact resume, validation, adapter format."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import PHRASES, ROOT, espeak

from finetune.config import TrainConfig, build_parser, field_docs, load_config
from finetune.data import DataError, read_manifest, validate

A_FEW = [
    "--train_manifest",
    str(PHRASES),
    "--lr",
    "5e-4",
    "--lora_dropout",
    "0",
    "--projector_dropout",
    "0",
    "--warmup_steps",
    "2",
    "--save_steps",
    "3",
    "--max_steps",
    "6",
    "--tensorboard",
    "false",
]


def metrics(run: Path) -> list[dict]:
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def phrase_audiofolder(tmp_path: Path, n: int, text_column: str) -> tuple[Path, list[dict]]:
    """An `audiofolder` dataset of the first `n` phrases (metadata.csv with file_name and `text_column`)."""
    folder = tmp_path / "af"
    folder.mkdir()
    rows = [json.loads(l) for l in PHRASES.read_text().splitlines()][:n]
    for r in rows:
        (folder / r["audio"]).write_bytes((PHRASES.parent / r["audio"]).read_bytes())
    (folder / "metadata.csv").write_text(
        f"file_name,{text_column}\n" + "".join(f"{r['audio']},{r['text']}\n" for r in rows)
    )
    return folder, rows


# The learning proof's thresholds. Measured on an AMD EPYC (no AVX-512) with seeds 0-3: the loss falls
# 9-10x by step 150 and 130-150x by step 600, and WER on the training phrases is 0.0 from step 450 on
# (7-23% at step 300); the base model is at 100%+. Failing runs (learning rate 0, every label masked,
# LoRA contributing nothing) stay near 1x and 100%: the thresholds sit far from both.
EARLY_STEP, EARLY_FALL = 150, 4.0  # by step 150 the loss has fallen at least 4x
FINAL_FALL, ADAPTED_WER, BASE_WER = 30.0, 0.10, 0.90


def phrase_wer(tiny_lm, adapter: Path | None, dtype: str = "auto") -> tuple[float, list[str]]:
    """WER of greedy transcripts of the 16 training phrases, base model or with `adapter`."""
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model
    from granite_workbench.metrics import wer
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    rows = [json.loads(l) for l in PHRASES.read_text().splitlines()]
    lm = load_model(str(tiny_lm.model.name_or_path), dtype=dtype)
    name = engine_for(lm).adapters.load(adapter) if adapter else None
    out = [
        r.text
        for r in Transcriber(lm, max_new_tokens=24).run(
            [str(PHRASES.parent / r["audio"]) for r in rows], TaskSpec("asr"), adapter=name
        )
    ]
    return wer([r["text"] for r in rows], out), out


def loss_fall(run: Path, step: int) -> float:
    """Mean loss of the first 5 steps over the mean of the 5 steps up to `step`."""
    losses = [m["loss"] for m in metrics(run) if "loss" in m]
    return float(np.mean(losses[:5]) / max(np.mean(losses[step - 5 : step]), 1e-12))


@pytest.mark.slow
def test_learning_proof(trained_adapter, tiny_lm):
    """From a fixed seed, 600 steps on 16 spoken phrases: the loss falls >4x by step 150 and >30x by the end,
    and the adapted model reproduces its training transcripts (WER <= 10%) while the base model does not
    (WER >= 90%)."""
    run, final = trained_adapter
    assert loss_fall(run, EARLY_STEP) > EARLY_FALL
    assert loss_fall(run, 600) > FINAL_FALL
    base, _ = phrase_wer(tiny_lm, None)
    adapted, texts = phrase_wer(tiny_lm, final)
    assert base >= BASE_WER and adapted <= ADAPTED_WER, texts
    # the number logged during training is the same number
    final_eval = [m for m in metrics(run) if "wer" in m][-1]
    assert final_eval["step"] == 600 and final_eval["wer"] == pytest.approx(adapted, abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("breakage", ["learning rate 0", "labels all masked", "LoRA contributes nothing"])
def test_learning_proof_fails_when_learning_is_broken(breakage, tiny_dir, tiny_lm, tmp_path, monkeypatch):
    """The same recipe, broken on purpose, fails the proof's checks at step 150 (loss and WER)."""
    from finetune import examples
    from finetune.train import main

    args = [
        "--config",
        str(ROOT / "finetune/configs/cpu_smoke.yaml"),
        "--model",
        str(tiny_dir),
        "--max_steps",
        "600",
        "--stop_after_steps",
        str(EARLY_STEP),
        "--eval_steps",
        "0",
        "--output_dir",
        str(tmp_path / "run"),
        "--tensorboard",
        "false",
    ]
    if breakage == "learning rate 0":
        args += ["--lr", "0"]
    elif breakage == "LoRA contributes nothing":  # LoRA scaling alpha / r = 0, and the projector frozen
        args += ["--lora_alpha", "0", "--train_projector", "false"]
    else:
        build = examples.ExampleBuilder.build

        def masked(self, *a, **kw):
            ex = build(self, *a, **kw)
            return {**ex, "labels": [examples.IGNORE] * len(ex["labels"])}

        monkeypatch.setattr(examples.ExampleBuilder, "build", masked)
    assert main(args) == 0
    fall = loss_fall(tmp_path / "run", EARLY_STEP)
    adapted, _ = phrase_wer(tiny_lm, tmp_path / "run" / f"step-{EARLY_STEP:06d}")
    assert not fall > EARLY_FALL and adapted >= BASE_WER, (breakage, fall, adapted)


@pytest.mark.slow
def test_bf16_gives_the_fp32_text(trained_adapter, tiny_lm):
    """Greedy decoding in bfloat16 (what `--dtype auto` picks on a CPU with native bf16) gives the same text as
    float32 on the learned phrases; emulated bf16 on other CPUs computes the same rounding."""
    _, final = trained_adapter
    fp32, texts32 = phrase_wer(tiny_lm, final, "float32")
    bf16, texts16 = phrase_wer(tiny_lm, final, "bfloat16")
    assert texts16 == texts32 and bf16 == fp32 <= ADAPTED_WER


@pytest.mark.slow
def test_trained_model_answers_without_a_leading_space(trained_adapter, tiny_lm):
    """Trained on prompt + text + eos (IBM's format), the raw decode after `ASSISTANT:` starts with the text."""
    from granite_workbench.engine import Request, engine_for
    from granite_workbench.loading import load_model
    from granite_workbench.prompts import TaskSpec

    _, final = trained_adapter
    lm = load_model(str(tiny_lm.model.name_or_path))
    engine = engine_for(lm)
    name = engine.adapters.load(final)
    samples, _ = sf.read(PHRASES.parent / "phrase00.flac", dtype="float32")
    raw = engine.raw_generate([Request(samples, TaskSpec("asr"), adapter=name)])[0]
    assert raw == "turn on the kitchen lights", repr(raw)


@pytest.mark.slow
def test_checkpoint_folder_and_rotation(trained_adapter):
    run, final = trained_adapter
    assert sorted(p.name for p in run.iterdir() if p.name.startswith("step-")) == ["step-000300", "step-000600"]
    assert not [p for p in run.iterdir() if p.name.startswith(".tmp")]
    assert {"adapter_config.json", "adapter_model.safetensors", "workbench.json", "training_state"} <= {
        p.name for p in final.iterdir()
    }
    meta = json.loads((final / "workbench.json").read_text())
    assert meta["step"] == 600 and meta["tasks"] == ["asr"] and meta["languages"] == ["en"]
    assert (
        meta["metrics"]["wer"] <= 0.1 and meta["signature"]["architecture"] == "GraniteSpeechForConditionalGeneration"
    )
    evals = {m["step"]: m["wer"] for m in metrics(run) if "wer" in m}
    best = min(evals, key=lambda st: (evals[st], st))  # the lowest WER, the earliest on a tie
    assert json.loads((run / "best.json").read_text())["path"] == f"step-{best:06d}"
    assert (run / "curves.png").stat().st_size > 10_000
    assert list((run / "tensorboard").iterdir())
    report = json.loads((run / "validation_report.json").read_text())
    assert report["train"]["total"] == 16 and report["train"]["usable"] == 16
    assert meta["data"]["train"] == {"source": str(PHRASES), "from": "command line", "rows": 16, "usable": 16}


@pytest.mark.slow
def test_adapter_opens_with_peft_and_changes_output(trained_adapter, tiny_dir):
    from peft import PeftModel
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    _, final = trained_adapter
    proc = AutoProcessor.from_pretrained(tiny_dir)
    base = AutoModelForSpeechSeq2Seq.from_pretrained(tiny_dir).eval()
    audio, _ = sf.read(PHRASES.parent / "phrase00.flac", dtype="float32")
    prompt = proc.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<|audio|>can you transcribe the speech into a written format?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = proc(text=prompt, audio=audio, return_tensors="pt")

    def run(model):
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
        return proc.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()

    before = run(base)
    adapted = PeftModel.from_pretrained(base, str(final)).eval()
    assert run(adapted) == "turn on the kitchen lights" != before


@pytest.mark.slow
def test_accelerate_two_processes_match_one(tmp_path, tiny_dir):
    """Two CPU processes with batch 4 follow a one-process run with batch 8 (the same global batch).

    Tolerance: the first step (same weights, same 8 examples) agrees to 1e-4; later steps differ only by
    float summation order, which Adam amplifies a little: each step within 3%, on average within 1%."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "true"}
    single = tmp_path / "single"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "finetune.train",
            *A_FEW,
            "--model",
            str(tiny_dir),
            "--batch_size",
            "8",
            "--output_dir",
            str(single),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    dist = tmp_path / "dist"
    # `accelerate launch --cpu --num_processes 2` starts one process (accelerate#2741); this starts two on the CPU
    p = subprocess.run(
        [
            "accelerate",
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "finetune.train",
            *A_FEW,
            "--model",
            str(tiny_dir),
            "--batch_size",
            "4",
            "--output_dir",
            str(dist),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert (dist / "step-000006" / "training_state" / "rng_1.pt").exists()  # really two processes
    a = [m["loss"] for m in metrics(single) if "loss" in m]
    b = [m["loss"] for m in metrics(dist) if "loss" in m]
    assert len(a) == len(b) == 6
    rel = np.abs(np.array(a) - np.array(b)) / np.array(a)
    assert rel[0] < 1e-4 and rel.max() < 0.03 and rel.mean() < 0.01, (a, b)
    assert (dist / "step-000006" / "adapter_model.safetensors").exists()


@pytest.mark.slow
def test_resume_is_exact(tmp_path, tiny_dir):
    from safetensors.torch import load_file

    from finetune.train import main

    common = [
        "--model",
        str(tiny_dir),
        "--train_manifest",
        str(PHRASES),
        "--max_steps",
        "8",
        "--save_steps",
        "0",
        "--lr",
        "3e-3",
        "--warmup_steps",
        "2",
        "--batch_size",
        "3",
        "--keyword_augment",
        "0.5",
        "--tensorboard",
        "false",
    ]  # dropout on, keyword sampling on, stop mid-epoch
    assert main([*common, "--output_dir", str(tmp_path / "whole")]) == 0
    assert main([*common, "--output_dir", str(tmp_path / "parts"), "--stop_after_steps", "4"]) == 0
    assert [p.name for p in (tmp_path / "parts").iterdir() if p.name.startswith("step-")] == ["step-000004"]
    assert main([*common, "--output_dir", str(tmp_path / "parts"), "--resume_from", "latest"]) == 0
    a = load_file(tmp_path / "whole" / "step-000008" / "adapter_model.safetensors")
    b = load_file(tmp_path / "parts" / "step-000008" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [m["loss"] for m in metrics(tmp_path / "whole")] == [m["loss"] for m in metrics(tmp_path / "parts")]


def write_bad_manifest(tmp_path: Path) -> Path:
    espeak("hello there", tmp_path / "good.wav")
    sf.write(tmp_path / "long.wav", np.zeros(16000 * 12, dtype=np.float32) + 0.01, 16000)
    (tmp_path / "junk.wav").write_text("not audio\n" * 50)
    rows = [
        {"audio": "good.wav", "text": "hello there"},  # 1 good
        {"audio": "missing.wav", "text": "where am i"},  # 2 missing audio
        {"audio": "junk.wav", "text": "junk"},  # 3 unreadable audio
        {"audio": "good.wav", "text": "  "},  # 4 empty text
        {"audio": "long.wav", "text": "a long one"},  # 5 clip too long
        {"audio": "good.wav", "text": "word " * 80},  # 6 label too long
        {"audio": "good.wav", "text": "ciao", "language": "it"},  # 7 unsupported ASR language
        {"audio": "good.wav", "text": "hallo", "task": "ast", "language": "fr", "target_language": "de"},  # 8
        {"audio": "good.wav", "text": "x", "task": "summarize"},  # 9 unknown task
    ]
    lines = [json.dumps(r) for r in rows] + ["{not json"]  # 10 bad line
    lines.append(
        json.dumps({"audio": "good.wav", "text": "bonjour", "task": "ast", "language": "en", "target_language": "fr"})
    )  # 11 good
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "m.jsonl"


def test_validation_report_names_each_bad_row(tmp_path, tiny_lm):
    rows = read_manifest(write_bad_manifest(tmp_path))
    good, report = validate(rows, tiny_lm.tokenizer, source="m.jsonl", max_audio_seconds=10, max_label_tokens=100)
    assert [r.line for r in good] == [1, 11]
    kinds = {p.line: p.problem for p in report.problems}
    assert kinds == {
        2: "missing audio",
        3: "unreadable audio",
        4: "empty text",
        5: "clip too long",
        6: "label too long",
        7: "unsupported language",
        8: "unsupported direction",
        9: "unknown task",
        10: "bad line",
    }
    assert report.total == 11 and report.ok == 2
    text = report.summary()
    assert "11 rows, 2 usable, 9 with problems" in text and "line 5: clip too long" in text


def test_bad_row_policy(tmp_path, tiny_dir):
    from finetune.train import main

    manifest = write_bad_manifest(tmp_path)
    out = tmp_path / "run"
    base = [
        "--model",
        str(tiny_dir),
        "--train_manifest",
        str(manifest),
        "--max_audio_seconds",
        "10",
        "--max_label_tokens",
        "100",
        "--max_steps",
        "1",
        "--output_dir",
        str(out),
        "--tensorboard",
        "false",
    ]
    assert main([*base, "--on_bad_rows", "stop"]) == 2
    assert not (out / "step-000001").exists()
    assert main([*base, "--on_bad_rows", "skip"]) == 0
    report = json.loads((out / "validation_report.json").read_text())
    assert report["train"]["usable"] == 2 and len(report["train"]["problems"]) == 9


def test_missing_columns_fail_early(tmp_path):
    (tmp_path / "m.csv").write_text("path,transcript\na.wav,hello\n")
    with pytest.raises(DataError, match="missing column\\(s\\) audio, text"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.jsonl").write_text('{"file": "a.wav", "text": "x"}\n')
    with pytest.raises(DataError, match="no row has the field\\(s\\) audio"):
        read_manifest(tmp_path / "m.jsonl")


def test_csv_manifest_and_keywords(tmp_path):
    (tmp_path / "m.csv").write_text(
        "audio,text,task,language,target_language,keywords\n"
        "a.wav,take metoprolol,asr_keywords,en,,metoprolol|aspirin\n"
        "b.wav,hola,ast,es,en,\n"
    )
    rows = read_manifest(tmp_path / "m.csv")
    assert rows[0].keywords == ["metoprolol", "aspirin"] and rows[0].audio == str(tmp_path / "a.wav")
    assert rows[1].task == "ast" and rows[1].target_language == "en" and rows[1].line == 2


def test_collator_masks_prompt_and_padding(tiny_lm):
    import random

    from finetune.data import Row
    from finetune.examples import IGNORE, Collator, ExampleBuilder
    from granite_workbench.prompts import audio_token_count

    proc = tiny_lm.processor
    tok = proc.tokenizer
    builder = ExampleBuilder(proc)
    rows = [Row(audio="", text="turn on the lights"), Row(audio="", text="hi", task="ast", target_language="fr")]
    lengths = [16000, 40000]
    examples = [builder.build(r, np.zeros(n, dtype=np.float32) + 0.01, random.Random(0)) for r, n in zip(rows, lengths)]
    batch = Collator(proc)(examples)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    for i, (row, n) in enumerate(zip(rows, lengths)):
        answer = labels[i][labels[i] != IGNORE].tolist()
        assert tok.decode(answer) == f"{row.text}<|end_of_text|>"  # no leading space: IBM's format
        assert answer[-1] == tok.eos_token_id
        assert int((ids[i] == tiny_lm.model.config.audio_token_index).sum()) == audio_token_count(n)
        valid = int(mask[i].sum())
        assert (labels[i][valid:] == IGNORE).all() and (ids[i][valid:] == tok.pad_token_id).all()  # right padding
        prompt_len = valid - len(answer)
        assert (labels[i][:prompt_len] == IGNORE).all()
        assert "translate the speech to French" in tok.decode(ids[1][:prompt_len]) if i == 1 else True
    assert [f.shape[1] for f in batch["audio_features"]] == [50, 125]  # per clip, unpadded


def test_keyword_examples_draw_from_text_and_add_distractors():
    import random

    from finetune.data import Row
    from finetune.examples import ExampleBuilder, candidate_keywords

    builder = ExampleBuilder(
        processor=type("P", (), {"tokenizer": None, "audio_token": "<|audio|>"})(),
        keywords_from_transcript=2,
        keyword_distractors=3,
        distractor_pool=["aspirin", "warfarin", "ibuprofen", "metoprolol", "insulin"],
    )
    row = Row(audio="", text="the patient takes metoprolol and lisinopril daily", task="asr_keywords")
    kws = builder.keywords_for(row, random.Random(1))
    in_text = [k for k in kws if k.lower() in row.text]
    assert len(in_text) == 2 and set(in_text) <= set(candidate_keywords(row.text))
    assert len(kws) == 5 and "metoprolol" not in [k for k in kws if k not in in_text]  # distractors not in text
    assert builder.keywords_for(row, random.Random(1)) == kws  # seeded
    given = Row(audio="", text="take aspirin", task="asr_keywords", keywords=["aspirin"])
    assert "aspirin" in builder.keywords_for(given, random.Random(0))


def test_config_yaml_overrides_and_help(tmp_path):
    cfg = load_config(
        [
            "--config",
            str(ROOT / "finetune/configs/cpu_smoke.yaml"),
            "--lr",
            "1e-3",
            "--lora_targets",
            "q_proj,v_proj",
            "--train_projector",
            "false",
        ]
    )
    assert cfg.model == "tiny" and cfg.lr == 1e-3 and cfg.max_steps == 600
    assert cfg.lora_targets == ["q_proj", "v_proj"] and cfg.train_projector is False
    (tmp_path / "bad.yaml").write_text("model: tiny\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match="unknown field\\(s\\) learning_rate"):
        load_config(["--config", str(tmp_path / "bad.yaml")])
    with pytest.raises(ValueError, match="quantization='2bit'"):
        TrainConfig(train_manifest="x", quantization="2bit")
    docs = field_docs()
    import dataclasses

    assert {f.name for f in dataclasses.fields(TrainConfig)} - {"origin"} == set(docs)  # every field documented
    assert all(len(text) > 5 for text in docs.values())
    assert "QLoRA" in build_parser().format_help()


def test_help_prints_every_field():
    """`python -m finetune.train --help` prints each field with its help (a '%' in a help text once broke it)."""
    p = subprocess.run(
        [sys.executable, "-m", "finetune.train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "2000"},
    )  # no line wrapping inside words
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
    out = " ".join(p.stdout.split())
    for name, text in field_docs().items():
        assert f"--{name}" in out and " ".join(text.split()) in out, name
    assert "about 30% slower" in out  # the field whose '%' used to crash argparse


# (config file, command line, expected train source, expected eval source, or the refusal)
DATA_CASES = [
    ({"train_manifest": "a.jsonl"}, [], "a.jsonl", None),
    ({"train_manifest": "a.jsonl", "eval_manifest": "e.jsonl"}, [], "a.jsonl", "e.jsonl"),
    ({"train_manifest": "a.jsonl"}, ["--train_manifest", "b.jsonl"], "b.jsonl", None),
    (
        {"train_manifest": "a.jsonl", "eval_manifest": "e.jsonl"},
        ["--dataset", "audiofolder:D"],
        "audiofolder:D[train]",
        "e.jsonl",
    ),
    ({"dataset": "ds", "eval_split": "test"}, ["--train_manifest", "b.jsonl"], "refused", "eval_split"),
    (
        {"dataset": "ds", "eval_split": "test"},
        ["--train_manifest", "b.jsonl", "--eval_manifest", "e.jsonl"],
        "b.jsonl",
        "e.jsonl",
    ),
    ({"dataset": "ds", "eval_split": "test"}, [], "ds[train]", "ds[test]"),
    ({"dataset": "ds", "eval_split": "test"}, ["--dataset_split", "dev"], "ds[dev]", "ds[test]"),
    ({"train_manifest": "a.jsonl", "eval_manifest": "e.jsonl"}, ["--eval_manifest", ""], "a.jsonl", None),
    ({"dataset": "ds", "eval_manifest": "e.jsonl"}, ["--eval_split", "test"], "ds[train]", "ds[test]"),
    (
        {"train_manifest": "a.jsonl"},
        ["--train_manifest", "b.jsonl", "--dataset", "ds"],
        "refused",
        "train_manifest and dataset are both set",
    ),
    ({"train_manifest": "a.jsonl", "dataset": "ds"}, [], "refused", "train_manifest and dataset are both set"),
    (
        {"train_manifest": "a.jsonl"},
        ["--eval_manifest", "e.jsonl", "--eval_split", "x"],
        "refused",
        "eval_manifest and eval_split are both set",
    ),
    ({}, ["--dataset", "ds"], "ds[train]", None),
    (None, ["--train_manifest", "b.jsonl", "--eval_manifest", "e.jsonl"], "b.jsonl", "e.jsonl"),
]


@pytest.mark.parametrize("config,flags,train,evals", DATA_CASES)
def test_the_data_asked_for_is_the_data_used(tmp_path, config, flags, train, evals):
    """A data source on the command line wins over the config's; one choice per layer; conflicts refused."""
    import yaml

    argv = list(flags)
    if config is not None:
        (tmp_path / "c.yaml").write_text(yaml.safe_dump({"model": "tiny", **config}))
        argv = ["--config", str(tmp_path / "c.yaml"), *argv]
    if train == "refused":
        with pytest.raises(ValueError, match=evals):
            load_config(argv)
        return
    sources = load_config(argv).data_sources()
    assert sources["train"]["source"] == train
    assert (sources["eval"] or {}).get("source") == evals
    if flags and flags[0] in ("--train_manifest", "--dataset"):
        assert sources["train"]["from"] == "command line"


@pytest.mark.slow
def test_dataset_flag_over_a_config_trains_on_the_dataset(tmp_path, tiny_dir):
    """The case from the issue: --dataset over cpu_smoke.yaml trains on the audiofolder, and says so."""
    folder, _ = phrase_audiofolder(tmp_path, 6, "transcription")
    out = tmp_path / "run"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "finetune.train",
            "--config",
            "finetune/configs/cpu_smoke.yaml",
            "--model",
            str(tiny_dir),
            "--dataset",
            f"audiofolder:{folder}",
            "--text_column",
            "transcription",
            "--max_steps",
            "1",
            "--eval_manifest",
            "",
            "--output_dir",
            str(out),
            "--tensorboard",
            "false",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert f"train data: audiofolder:{folder}[train] — 6 rows, 6 usable (from command line)" in p.stderr
    assert "eval data: none" in p.stderr
    meta = json.loads((out / "step-000001" / "workbench.json").read_text())
    assert meta["data"]["train"]["rows"] == 6 and meta["train_rows"] == 6 and meta["data"]["eval"] is None


@pytest.mark.parametrize("name", ["cpu_smoke", "lora_1gpu", "qlora_4bit", "multi_gpu"])
def test_shipped_configs_start_with_their_command(name):
    path = ROOT / "finetune" / "configs" / f"{name}.yaml"
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and "finetune.train --config finetune/configs/" + name + ".yaml" in first
    cfg = load_config(["--config", str(path), "--train_manifest", "x.jsonl"])
    assert cfg.max_steps > 0


def test_qlora_without_cuda_is_refused_clearly(tiny_dir, capsys):
    from finetune.train import main

    assert (
        main(
            [
                "--model",
                str(tiny_dir),
                "--train_manifest",
                str(PHRASES),
                "--quantization",
                "4bit",
                "--output_dir",
                "/tmp/never",
            ]
        )
        == 2
    )
    assert "needs a CUDA GPU" in capsys.readouterr().err


@pytest.mark.slow
def test_hf_dataset_inputs(tmp_path, tiny_dir):
    """audiofolder and a saved datasets folder with an Audio column both train."""
    import datasets

    from finetune.data import read_dataset
    from finetune.train import main

    folder, rows = phrase_audiofolder(tmp_path, 4, "text")
    got = read_dataset(f"audiofolder:{folder}", "train")
    assert sorted(r.text for r in got) == sorted(r["text"] for r in rows)
    ds = datasets.Dataset.from_dict(
        {"audio": [str(folder / r["audio"]) for r in rows], "sentence": [r["text"] for r in rows]}
    ).cast_column("audio", datasets.Audio())
    ds.save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(DataError, match="has no column\\(s\\) text"):
        read_dataset(str(tmp_path / "saved"), "train")
    assert (
        main(
            [
                "--model",
                str(tiny_dir),
                "--dataset",
                str(tmp_path / "saved"),
                "--text_column",
                "sentence",
                "--max_steps",
                "2",
                "--batch_size",
                "2",
                "--output_dir",
                str(tmp_path / "run"),
                "--tensorboard",
                "false",
            ]
        )
        == 0
    )
    assert (tmp_path / "run" / "step-000002" / "adapter_model.safetensors").exists()


def test_gradient_checkpointing_trains_the_same(tmp_path, tiny_dir):
    """Checkpointing recomputes activations: the loss curve is the one without it."""
    from finetune.train import main

    common = [
        "--model",
        str(tiny_dir),
        "--train_manifest",
        str(PHRASES),
        "--max_steps",
        "3",
        "--save_steps",
        "0",
        "--lora_dropout",
        "0",
        "--projector_dropout",
        "0",
        "--tensorboard",
        "false",
    ]
    assert main([*common, "--output_dir", str(tmp_path / "plain")]) == 0
    assert main([*common, "--output_dir", str(tmp_path / "ckpt"), "--gradient_checkpointing", "true"]) == 0
    a = [m["loss"] for m in metrics(tmp_path / "plain")]
    b = [m["loss"] for m in metrics(tmp_path / "ckpt")]
    assert np.allclose(a, b, rtol=1e-4), (a, b)
