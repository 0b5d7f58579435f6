"""The demo as strangers meet it: a bad-input matrix against the running server, the security matrix (paths,
archives, links, names, the endpoints a showcase must not have), and a load test with two adapters."""

import json
import shutil
import sys
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import PHRASES, ROOT
from ui_helpers import DemoServer, raw_refusal

pytestmark = pytest.mark.slow
CLIP = str(PHRASES.parent / "phrase00.flac")


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_adapter):
    """Bad inputs, a data root, and a checkpoints folder with two adapters."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "empty.wav").write_bytes(b"")
    (d / "doc.pdf").write_bytes(b"%PDF-1.4 not audio" * 50)
    sf.write(d / "long.flac", np.zeros(16000 * 70, dtype=np.int16), 16000)
    x = np.zeros(16000, dtype=np.float32)
    x[100] = np.nan
    sf.write(d / "nan.wav", x, 16000, subtype="FLOAT")
    with zipfile.ZipFile(d / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m.jsonl", "{}")
        zf.writestr("a.wav", b"\0" * (40 * 2**20))
    with zipfile.ZipFile(d / "slip.zip", "w") as zf:
        zf.writestr("m.jsonl", "{}")
        zf.writestr("../../outside.txt", "x")
    with zipfile.ZipFile(d / "link.zip", "w") as zf:
        zf.writestr("m.jsonl", json.dumps({"audio": "a.wav", "text": "x"}) + "\n")
        info = zipfile.ZipInfo("a.wav")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    (d / "outside.jsonl").write_text(
        json.dumps({"audio": "/etc/hostname", "text": "x"})
        + "\n"
        + json.dumps({"audio": "../../../../../../etc/passwd", "text": "y"})
        + "\n"
    )
    root = d / "dataroot"
    (root / "set").mkdir(parents=True)
    shutil.copy(PHRASES, root / "set" / "phrases.jsonl")
    for r in (json.loads(l) for l in PHRASES.read_text().splitlines()):
        shutil.copy(PHRASES.parent / r["audio"], root / "set" / r["audio"])
    run, _ = trained_adapter
    ckpts = d / "ckpts"
    for step in ("step-000300", "step-000600"):
        shutil.copytree(run / step, ckpts / "phrases" / step, ignore=shutil.ignore_patterns("training_state"))
    return d


@pytest.fixture(scope="module")
def workbench(tiny_dir, files):
    with DemoServer(
        "--model",
        str(tiny_dir),
        "--mode",
        "workbench",
        "--checkpoints",
        str(files / "ckpts"),
        "--data-root",
        str(files / "dataroot"),
        "--max-audio-minutes",
        "1",
    ) as srv:
        yield srv, srv.client()


def call(client, api, *args):
    from gradio_client import handle_file

    args = [handle_file(a) if isinstance(a, Path) else a for a in args]
    return client.predict(*args, api_name=api)


def refused(client, api, *args) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        call(client, api, *args)
    return str(err.value)


TRAIN = (
    "(none: training loss only)",
    "",
    "",
    "",
    "",
    "",
    True,
)  # eval set, run name, lr, rank, batch, epochs, projector
BAD_INPUTS = [  # (endpoint, arguments (Path = an uploaded file), the message)
    ("/transcribe", (None, "en", "base", "greedy", False, False), "No audio"),
    ("/transcribe", ("empty.wav", "en", "base"), "empty file"),
    ("/transcribe", ("doc.pdf", "en", "base"), "doc.pdf: not a readable audio file"),
    ("/transcribe", ("long.flac", "en", "base"), "too long (1.2 min; the limit is 1.0 min)"),
    ("/transcribe", ("nan.wav", "en", "base"), "NaN or infinite"),
    ("/transcribe", (CLIP, "it", "base"), "Unsupported ASR language 'it'"),
    ("/transcribe", (CLIP, "en", "no-such-adapter"), "Adapter 'no-such-adapter' is not loaded"),
    ("/translate", (CLIP, "fr", "de", "base"), "Unsupported translation direction 'fr' -> 'de'"),
    ("/keyword_compare", (CLIP, ", ".join(f"t{i}" for i in range(60)), "base"), "Too many keywords: 60"),
    ("/keyword_compare", (CLIP, " , ", "base"), "at least one keyword"),
    ("/keyword_compare", (CLIP, "x" * 101, "base"), "Keyword too long"),
    ("/compare", (CLIP, "base", ""), "Pick an adapter"),
    ("/load_adapter", ("doc.pdf",), "The adapter id must be text"),  # a file where text belongs
    ("/transcribe", (CLIP, "doc.pdf", "base"), "The language must be text"),
    ("/load_adapter", ("../../../etc",), "is not an adapter in the checkpoints folder"),
    ("/load_adapter", ("/etc/passwd",), "is not an adapter in the checkpoints folder"),
    ("/load_adapter", ("phrases/step-999999",), "No complete adapter"),
    ("/unload_adapter", ("never-loaded",), "is not loaded"),
    ("/load_model", ("",), "Enter a hub id"),
    ("/evaluate", ("/etc/passwd", None, ["base"], 2), "is not one of the available manifests"),
    ("/evaluate", ("../../../../etc/passwd", None, ["base"], 2), "is not one of the available manifests"),
    ("/evaluate", ("data/../../../etc/passwd", None, ["base"], 2), "is not one of the available manifests"),
    ("/evaluate", ("data/phrases/train.jsonl", None, [], 2), "Pick at least one system"),
    ("/evaluate", ("data/phrases/train.jsonl", None, ["base", "ghost"], 2), "Adapter 'ghost' is not loaded"),
    ("/evaluate", (None, "outside.jsonl", ["base"], 2), "audio outside the data folders"),
    ("/evaluate", (None, "bomb.zip", ["base"], 2), "zip bomb"),
    ("/evaluate", (None, "slip.zip", ["base"], 2), "has a '..' in its name"),
    ("/evaluate", (None, "link.zip", ["base"], 2), "is a link"),
    ("/evaluate", (None, "doc.pdf", ["base"], 2), "Invalid file type"),  # gradio's own check
    ("/start_training", ("../../../../etc/passwd", None, "cpu_smoke.yaml", 2, *TRAIN), "is not one of the available"),
    ("/start_training", ("data/phrases/train.jsonl", None, "../../etc/passwd", 2, *TRAIN), "Unknown config"),
    (
        "/start_training",
        ("data/phrases/train.jsonl", None, "cpu_smoke.yaml", "1e30", *TRAIN),
        "Steps must be between 1 and 100,000",
    ),
    (
        "/start_training",
        ("data/phrases/train.jsonl", None, "cpu_smoke.yaml", 2, "../../../etc/passwd", *TRAIN[1:]),
        "is not one of the available",
    ),  # the evaluation set is checked too
    (
        "/start_training",
        ("data/phrases/train.jsonl", None, "cpu_smoke.yaml", 2, TRAIN[0], "../../x", *TRAIN[2:]),
        "Run name",
    ),
    ("/start_training", (None, "outside.jsonl", "cpu_smoke.yaml", 2, *TRAIN), "is outside the manifest's folder"),
    ("/stop_training", (), "No training run is in progress"),
]


@pytest.mark.parametrize("api,args,message", BAD_INPUTS, ids=[f"{a}:{m[:30]}" for a, _, m in BAD_INPUTS])
def test_bad_input_gets_its_message_and_the_server_goes_on(workbench, files, api, args, message):
    srv, client = workbench
    uploads = {p.name for p in files.iterdir() if p.is_file()} | {CLIP}
    args = [files / a if isinstance(a, str) and a in uploads else a for a in args]
    text = refused(client, api, *args) if any(isinstance(a, Path) for a in args) else raw_refusal(srv.url, api, *args)
    assert message in text, text
    for secret in (str(files), str(ROOT), "/tmp/", "Linear(in_features"):  # no server paths, no module dumps
        assert secret not in text, text
    assert "Model ready" in client.predict(api_name="/model_status")  # still answers


def test_the_data_root_is_offered_and_works(workbench):
    _, client = workbench
    note, table, *_ = call(client, "/evaluate", "dataroot/set/phrases.jsonl", None, ["base"], 2)
    assert note.startswith("2 utterances")


SHOWCASE_ABSENT = [
    "/load_model",
    "/load_adapter",
    "/unload_adapter",
    "/list_adapters",
    "/loaded_adapters",
    "/start_training",
    "/stop_training",
    "/training_status",
    "/evaluate",
]


@pytest.fixture(scope="module")
def showcase(tiny_dir, files):
    a, b = files / "ckpts" / "phrases" / "step-000600", files / "ckpts" / "phrases" / "step-000300"
    with DemoServer(
        "--model",
        str(tiny_dir),
        "--mode",
        "showcase",
        "--adapters",
        f"final={a},early={b}",
        "--concurrency",
        "2",
        "--queue-size",
        "64",
    ) as srv:
        yield srv, srv.client()


def test_showcase_has_no_endpoint_that_changes_the_demo(showcase):
    srv, client = showcase
    info = httpx.get(srv.url + "/gradio_api/info", timeout=10).json()
    named = set(info["named_endpoints"])
    assert named == {"/transcribe", "/translate", "/keyword_compare", "/compare", "/model_status"}
    for api in SHOWCASE_ABSENT:
        r = httpx.post(f"{srv.url}/gradio_api/call{api}", json={"data": []}, timeout=10)
        assert r.status_code in (404, 422) or "error" in r.text.lower(), (api, r.status_code, r.text[:200])
        with pytest.raises(ValueError, match="Cannot find a function"):
            client.predict(api_name=api)
    config = json.dumps(httpx.get(srv.url + "/config", timeout=10).json())
    for tab in ("tab-adapters", "tab-train", "tab-evaluate"):
        assert tab not in config
    assert "Model settings" not in config
    assert "final" in client.predict(api_name="/model_status") and "early" in client.predict(api_name="/model_status")


def test_showcase_serves_the_example_clips_and_no_other_file(showcase):
    """The example clips are served as files (the example tables); nothing else of the server's is: not the
    examples' index or script beside them, not the project's files, not a path climbing out."""
    srv, _ = showcase
    examples = ROOT / "data" / "examples"
    get = lambda path: httpx.get(f"{srv.url}/gradio_api/file={path}", timeout=10)  # noqa: E731
    clip = get(examples / "en_welcome.flac")
    assert clip.status_code == 200 and clip.content == (examples / "en_welcome.flac").read_bytes()
    for path in (
        examples / "examples.json",
        examples / "make_examples.py",
        ROOT / "app.py",
        "/etc/passwd",
        f"{examples}/../../app.py",
    ):
        assert get(path).status_code in (403, 404), path


def test_workbench_on_a_public_address_needs_a_login(tiny_dir):
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--model", str(tiny_dir), "--mode", "workbench", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0 and "Add --auth USER:PASSWORD" in p.stderr
    p = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--mode", "showcase", "--adapters", "bad name=x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0 and "is not NAME=PATH" in p.stderr


def test_load_sixteen_clients_mixed_requests_two_adapters(showcase, tmp_path):
    """16 clients at once, transcribe / translate / keyword / compare, short and 2-minute clips, base and two
    adapters: no crash, every answer the one that request gets alone, every request answered or refused with
    a queue-full message. (The figures go to BENCHMARKS.md from bench/bench_public.py, which runs the same.)"""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_public import mixed_jobs, phrase_clip, run_load, two_minutes

    srv, client = showcase
    clips = [phrase_clip(0), phrase_clip(5), str(two_minutes(tmp_path))]
    result = run_load(srv.url, mixed_jobs(clips, 32, ("final", "early")), clients=16)
    assert srv.proc.poll() is None, "the server crashed"
    assert not [e for _, e in result["errors"] if "queue is full" not in e.lower()], result["errors"][:3]
    assert not result["wrong"], result["wrong"][:3]
    assert result["answered"] + result["refused_queue_full"] == result["requests"] == 32
    assert "Model ready" in client.predict(api_name="/model_status")
