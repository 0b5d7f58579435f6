"""What a hostile visitor or an unlucky moment could break, checked piece by piece: uploads, adapter files,
shared VAD state, streaming audio, output names, checkpoint rotation and resume."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import PHRASES, ROOT


# -- uploads ------------------------------------------------------------------------------------------------
def make_zip(path: Path, entries: dict, links: dict | None = None, level: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=level) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, target)
    return path


@pytest.mark.parametrize(
    "case,message",
    [
        ("slip", "has a '..' in its name"),
        ("absolute", "has an absolute name"),
        ("link", "is a link"),
        ("bomb", "zip bomb"),
        ("twice", "appears twice"),
        ("too many", "entries; at most"),
        ("too big", "uncompressed; refused"),
        ("not a zip", "not a readable zip archive"),
    ],
)
def test_bad_archives_are_refused_before_anything_is_written(tmp_path, case, message):
    from granite_workbench.uploads import UploadError, ZipLimits, extract_zip

    z = tmp_path / "upload.zip"
    limits = ZipLimits()
    if case == "slip":
        make_zip(z, {"m.jsonl": "{}", "../../evil.txt": "x"})
    elif case == "absolute":
        make_zip(z, {"/etc/evil.txt": "x"})
    elif case == "link":
        make_zip(z, {"m.jsonl": "{}"}, links={"clip.wav": "/etc/passwd"})
    elif case == "bomb":
        make_zip(z, {"m.jsonl": "{}", "a.wav": b"\0" * (50 * 2**20)})  # 50 MiB of zeros: ~1000x
    elif case == "twice":
        make_zip(z, {"a.wav": "x", "A.WAV": "y"})
    elif case == "too many":
        make_zip(z, {f"{i}.txt": "x" for i in range(12)})
        limits = ZipLimits(max_entries=10)
    elif case == "too big":
        make_zip(z, {"a.bin": os.urandom(2 * 2**20)}, level=zipfile.ZIP_STORED)
        limits = ZipLimits(max_total_bytes=2**20)
    else:
        z.write_bytes(b"PK not really a zip" * 10)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UploadError, match=message) as err:
        extract_zip(z, dest, "upload.zip", limits)
    assert str(err.value).startswith("upload.zip:") and str(tmp_path) not in str(err.value)
    assert not list(dest.iterdir()) and not (tmp_path / "evil.txt").exists()


def test_a_good_archive_unpacks_and_its_folder_goes_with_the_request(tmp_path, tiny_dir):
    from granite_workbench.service import ModelService
    from granite_workbench.session import Workbench

    rows = [json.loads(l) for l in PHRASES.read_text().splitlines()][:2]
    entries = {"set/m.jsonl": "".join(json.dumps({"audio": r["audio"], "text": r["text"]}) + "\n" for r in rows)}
    entries.update({f"set/{r['audio']}": (PHRASES.parent / r["audio"]).read_bytes() for r in rows})
    z = make_zip(tmp_path / "mine.zip", entries)
    wb = Workbench(ModelService(str(tiny_dir)), downloads=tmp_path / "dl")
    (tmp_path / "dl").mkdir()
    with wb.files.manifest(None, str(z)) as (path, roots, label, folder):
        assert label == "mine.zip" and path.name == "m.jsonl" and folder in roots
        assert (path.parent / rows[0]["audio"]).exists()
    assert not folder.exists()  # deleted when the request ended


def test_manifests_are_chosen_from_the_list_never_by_path(tmp_path, tiny_dir):
    from granite_workbench.manifest import DataError, read_manifest
    from granite_workbench.service import ModelService
    from granite_workbench.session import Workbench

    root = tmp_path / "root"
    (root / "set").mkdir(parents=True)
    shutil.copy(PHRASES, root / "set" / "phrases.jsonl")
    (root / "set" / "leak.jsonl").symlink_to("/etc/hostname")  # a link out of the root is not offered
    wb = Workbench(ModelService(str(tiny_dir)), data_roots=[root])
    choices = wb.files.manifest_choices()
    assert "data/phrases/train.jsonl" in choices and "root/set/phrases.jsonl" in choices
    assert "root/set/leak.jsonl" not in choices
    for bad in (
        "/etc/passwd",
        "../../../etc/passwd",
        "data/../../etc/passwd",
        "root/set/leak.jsonl",
        "data/phrases/missing.jsonl",
    ):
        with pytest.raises(DataError, match="is not one of the available manifests") as err:
            with wb.files.manifest(bad, None):
                pass
        assert str(tmp_path) not in str(err.value) and str(ROOT) not in str(err.value)
    # audio of a listed manifest must stay inside its folder or a data folder
    (root / "set" / "out.jsonl").write_text(
        json.dumps({"audio": "/etc/hostname", "text": "x"})
        + "\n"
        + json.dumps({"audio": "../../../../etc/hostname", "text": "x"})
        + "\n"
        + json.dumps({"audio": str(PHRASES.parent / "phrase00.flac"), "text": "ok"})
        + "\n"
    )
    with wb.files.manifest("root/set/out.jsonl", None) as (path, roots, label, _):
        rows = read_manifest(path, label=label, confine_to=roots)
    assert [r.error_kind for r in rows[:2]] == ["audio outside the data folders"] * 2
    assert rows[2].error is None  # the bundled data folder is a data folder


# -- adapters ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def adapter_copy(trained_adapter, tmp_path_factory):
    _, final = trained_adapter
    return final


def tampered(src: Path, dst: Path, config: dict | None = None, drop_tail: int = 0, rename: dict | None = None):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("training_state"))
    if config:
        cfg = json.loads((dst / "adapter_config.json").read_text())
        cfg.update(config)
        (dst / "adapter_config.json").write_text(json.dumps(cfg))
    if rename:
        from safetensors.torch import load_file, save_file

        weights = load_file(dst / "adapter_model.safetensors")
        for old, new in rename.items():
            key = next(k for k in weights if old in k)
            value = weights.pop(key)
            weights[key.replace(old, new[0]) if isinstance(new, tuple) else key] = (
                new[1](value) if isinstance(new, tuple) else new(value)
            )
        save_file(weights, dst / "adapter_model.safetensors")
    if drop_tail:
        data = (dst / "adapter_model.safetensors").read_bytes()
        (dst / "adapter_model.safetensors").write_bytes(data[:-drop_tail])
    return dst


@pytest.mark.slow
@pytest.mark.parametrize(
    "case,message",
    [
        ("rank 200000", "LoRA rank 200000 is out of range"),
        ("not lora", "not a LoRA adapter"),
        ("saves the encoder", "modules_to_save"),
        ("wrong shape", "has shape"),
        ("unknown layer", "does not have"),
        ("truncated", "truncated or inconsistent"),
    ],
)
def test_adapter_files_are_checked_before_anything_is_allocated(adapter_copy, tiny_lm, tmp_path, case, message):
    import tracemalloc

    from granite_workbench.adapters import AdapterError, check_adapter

    kw = {
        "rank 200000": dict(config={"r": 200000}),
        "not lora": dict(config={"peft_type": "PREFIX_TUNING"}),
        "saves the encoder": dict(config={"modules_to_save": ["projector", "encoder"]}),
        "wrong shape": dict(
            rename={"layers.0.self_attn.q_proj.lora_A": lambda t: torch.zeros(t.shape[0] + 1, t.shape[1])}
        ),
        "unknown layer": dict(
            rename={"layers.0.self_attn.q_proj.lora_A": ("layers.0.self_attn.zz_proj.lora_A", lambda t: t)}
        ),
        "truncated": dict(drop_tail=100),
    }[case]
    bad = tampered(adapter_copy, tmp_path / "bad", **kw)
    tracemalloc.start()
    with pytest.raises(AdapterError, match=message) as err:
        check_adapter(bad, tiny_lm.model, "bad")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 2**20, peak  # nothing the size of the weights was read or allocated
    assert str(tmp_path) not in str(err.value)


@pytest.mark.slow
def test_two_folders_never_share_an_adapter_name(adapter_copy, tiny_dir, tmp_path):
    from granite_workbench.adapters import AdapterError
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model
    from granite_workbench.registry import AdapterRegistry

    root = tmp_path / "ckpts"
    for rel in ("run/step-000060", "y/run/step-000060", "a-b/c", "a/b-c"):
        tampered(adapter_copy, root / rel)
    reg = AdapterRegistry(root)
    reg.scan()
    names = {e.id: e.name for e in reg.entries()}
    assert names["run/step-000060"] == "run-step-000060" and names["y/run/step-000060"] == "y-run-step-000060"
    with pytest.raises(AdapterError, match="would both be named 'a-b-c'"):
        reg.resolve("a/b-c")
    rt = engine_for(load_model(str(tiny_dir))).adapters
    rt.load(reg.resolve("run/step-000060").path, "same")
    with pytest.raises(AdapterError, match="The name 'same' is taken"):
        rt.load(reg.resolve("y/run/step-000060").path, "same")


# -- shared state under threads ------------------------------------------------------------------------------
def test_vad_is_safe_under_concurrent_use():
    """Long clips split by VAD from 6 threads at once: no crash, the same chunks as one at a time."""
    from granite_workbench.audio import Audio
    from granite_workbench.chunking import plan_chunks

    phrases = [sf.read(PHRASES.parent / f"phrase{i:02d}.flac", dtype="float32")[0] for i in range(16)]
    rng = np.random.default_rng(0)
    clips = []
    for _ in range(3):  # about 25 s of real speech each, with pauses the VAD cuts at
        parts = []
        for i in rng.permutation(16)[:11]:
            parts += [phrases[i], np.zeros(int(16000 * rng.uniform(0.4, 0.9)), dtype=np.float32)]
        clips.append(Audio(np.concatenate(parts)))
    expected = [[(c.start, c.end) for c in plan_chunks(a, "vad", 10.0)] for a in clips]
    assert all(len(e) > 1 for e in expected)
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda i: [(c.start, c.end) for c in plan_chunks(clips[i % 3], "vad", 10.0)], range(18)))
    assert got == [expected[i % 3] for i in range(18)]


# -- bounded memory -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate,channels", [(8000, 1), (44100, 2), (48000, 2), (22050, 1)])
def test_streamed_resampling_equals_the_whole_signal(tmp_path, rate, channels):
    """Files are read, mixed and resampled in blocks; the result is torchaudio's whole-signal resample."""
    import torchaudio.functional as F

    from granite_workbench import audio

    x = (np.random.default_rng(rate).standard_normal((int(rate * 40.3), channels)) * 0.1).astype(np.float32)
    sf.write(tmp_path / "x.wav", x, rate, subtype="FLOAT")
    got = audio.load_audio(tmp_path / "x.wav").samples
    ref = F.resample(torch.from_numpy(x.mean(axis=1)), rate, 16000).numpy()
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-5
    assert audio.BLOCK_FRAMES < len(x)  # really more than one block


def test_float_audio_beyond_one_is_scaled_when_streamed(tmp_path):
    from granite_workbench.audio import load_audio

    x = np.sin(np.linspace(0, 200, 48000 * 20)).astype(np.float32) * 3.0
    sf.write(tmp_path / "loud.wav", x, 48000, subtype="FLOAT")
    out = load_audio(tmp_path / "loud.wav").samples
    assert 0.99 < np.abs(out).max() <= 1.0 + 1e-6


# -- output names ---------------------------------------------------------------------------------------------
def test_cli_never_overwrites_an_output_and_honours_the_umask(tmp_path, tiny_dir):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        shutil.copy(PHRASES.parent / "phrase00.flac", tmp_path / sub / "a.flac")
    data, sr = sf.read(PHRASES.parent / "phrase01.flac")
    sf.write(tmp_path / "x" / "a.wav", data, sr)
    out = tmp_path / "out"
    env = {**os.environ}
    p = subprocess.run(
        [
            "sh",
            "-c",
            f"umask 022 && {sys.executable} -m granite_workbench transcribe "
            f"x/a.flac x/a.wav y/a.flac --model {tiny_dir} --out-dir {out} --format txt,json --quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    names = sorted(f.name for f in out.iterdir())
    assert names == ["a.wav.json", "a.wav.txt", "x_a.flac.json", "x_a.flac.txt", "y_a.flac.json", "y_a.flac.txt"]
    assert "x/a.flac -> x_a.flac.*" in p.stderr and "3/3 clips ok" in p.stderr
    assert all((f.stat().st_mode & 0o777) == 0o644 for f in out.iterdir())
    texts = {json.loads((out / n).read_text())["name"] for n in names if n.endswith(".json")}
    assert texts == {"a.flac", "a.wav"}  # each output holds its own clip's result


# -- training runs that lose nothing --------------------------------------------------------------------------
COMMON = [
    "--train_manifest",
    str(PHRASES),
    "--lr",
    "3e-3",
    "--warmup_steps",
    "1",
    "--batch_size",
    "4",
    "--tensorboard",
    "false",
    "--eval_steps",
    "0",
]


def test_kill_during_rotation_leaves_no_half_checkpoint(tmp_path, tiny_dir, monkeypatch):
    """A kill while an old checkpoint is being deleted: the step folder was renamed away first, so no `step-*`
    folder is ever half there; the next run removes the leftover and resumes."""
    from finetune import checkpoint as ckpt
    from finetune.train import main
    from granite_workbench.registry import AdapterRegistry

    out = tmp_path / "run"
    args = [
        "--model",
        str(tiny_dir),
        *COMMON,
        "--output_dir",
        str(out),
        "--save_steps",
        "1",
        "--keep_last",
        "1",
        "--max_steps",
        "4",
    ]
    assert main([*args, "--stop_after_steps", "2"]) == 0
    real_rmtree = shutil.rmtree

    def killed(path, *a, **kw):  # delete one file, then die as a kill would
        path = Path(path)
        if path.name.startswith(".trash-step-") and path.exists():
            next(path.rglob("adapter_model.safetensors")).unlink()
            raise KeyboardInterrupt("killed")
        return real_rmtree(path, *a, **kw)

    monkeypatch.setattr(ckpt.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--resume_from", "latest", "--stop_after_steps", "3"])
    monkeypatch.undo()
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert ".trash-step-000002" in names and "step-000003" in names and "step-000002" not in names
    assert [e.id for e in AdapterRegistry(out).scan()] == ["step-000003"]  # never the half one
    (out / "step-000001").mkdir()  # a half folder an older version could leave: removed on the next start
    (out / "step-000001" / "workbench.json").write_text("{}")
    assert main([*args, "--resume_from", "latest"]) == 0
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["step-000004"]


def test_resumed_run_logs_every_step_once(tmp_path, tiny_dir):
    """Resuming from step 4 after a run that logged up to step 6: metrics.jsonl holds steps 1..8 once each."""
    from finetune.train import main

    out = tmp_path / "run"
    args = [
        "--model",
        str(tiny_dir),
        *COMMON,
        "--output_dir",
        str(out),
        "--save_steps",
        "4",
        "--keep_last",
        "3",
        "--max_steps",
        "8",
    ]
    assert main([*args, "--stop_after_steps", "6"]) == 0
    shutil.rmtree(out / "step-000006")  # as if the run had crashed before its step-6 checkpoint
    assert main([*args, "--resume_from", "latest"]) == 0
    steps = [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


@pytest.mark.slow
@pytest.mark.parametrize("config,model", [("cpu_smoke.yaml", "tiny"), ("ctc_smoke.yaml", "tiny-ctc")])
def test_stop_saves_the_current_step_and_says_which(config, model, tmp_path, tiny_dir):
    """The demo's Stop (SIGTERM to the run): the run writes a checkpoint at the step it reached and says so — for
    the language-model recipe and the CTC one."""
    import time

    from granite_workbench.training_job import TrainingJob

    job = TrainingJob(tmp_path / "ckpts")
    model = str(tiny_dir) if model == "tiny" else model
    run = job.start(str(PHRASES), config, model, extra={"max_steps": 5000, "save_steps": 1000, "eval_steps": 0})
    deadline = time.time() + 180
    while time.time() < deadline and job.status()["step"] < 5:
        time.sleep(0.5)
    assert job.status()["step"] >= 5, job.log_tail()
    message = job.stop()
    end = json.loads((run / "status.json").read_text())
    assert end["state"] == "stopped" and end["step"] >= 5 and end["checkpoint"] == f"step-{end['step']:06d}"
    assert f"at step {end['step']}; saved {end['checkpoint']}" in message
    assert (run / end["checkpoint"] / "adapter_model.safetensors").exists()
    assert [p.name for p in run.iterdir() if p.name.startswith("step-")] == [end["checkpoint"]]
