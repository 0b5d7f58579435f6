"""Adapters and training through the running demo, with gradio_client (tiny model)."""

import json
import random
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import PHRASES, assert_premise_differ
from ui_helpers import DemoServer, raw_refusal

pytestmark = pytest.mark.slow
CLIP = str(PHRASES.parent / "phrase00.flac")
A, B = "phrases-step-000600", "rotated-step-000300"  # B: trained on other targets


@pytest.fixture(scope="module")
def root(trained_adapter, rotated_adapter, tmp_path_factory):
    run, _ = trained_adapter
    root = tmp_path_factory.mktemp("ckpts")
    shutil.copytree(run, root / "phrases", ignore=shutil.ignore_patterns("training_state", "tensorboard"))
    shutil.copytree(
        rotated_adapter, root / "rotated" / rotated_adapter.name, ignore=shutil.ignore_patterns("training_state")
    )
    pickled = root / "pickled" / "step-000001"
    shutil.copytree(root / "phrases" / "step-000600", pickled)
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    other = root / "other-base" / "step-000001"
    shutil.copytree(root / "phrases" / "step-000600", other)
    meta = json.loads((other / "workbench.json").read_text())
    meta["signature"]["hidden_size"] = 2048
    (other / "workbench.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def server(tiny_dir, root):
    with DemoServer("--model", str(tiny_dir), "--checkpoints", str(root), "--concurrency", "4") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def ids(client):
    return [row[0] for row in client.predict(api_name="/list_adapters")["data"]]


def transcribe(client, clip, model):
    from gradio_client import handle_file

    return client.predict(handle_file(clip), "en", model, api_name="/transcribe")[0]


def test_hot_load_changes_the_output(client):
    assert "phrases/step-000600" in ids(client)
    before = transcribe(client, CLIP, "base")
    msg = client.predict("phrases/step-000600", api_name="/load_adapter")
    assert f"Loaded **{A}**" in msg
    assert transcribe(client, CLIP, A) == "turn on the kitchen lights" != before
    assert transcribe(client, CLIP, "base") == before
    loaded = client.predict(api_name="/loaded_adapters")["data"]
    assert [r[0] for r in loaded] == [A]


def test_compare_view_marks_differences(client):
    from gradio_client import handle_file

    client.predict("phrases/step-000600", api_name="/load_adapter")
    base_html, adapted_html, summary = client.predict(handle_file(CLIP), A, "en", api_name="/compare")
    assert "<ins class='diff'>" in adapted_html and "<del class='diff'>" in base_html
    import re

    changed, total = map(int, re.search(r"(\d+) of (\d+) words? changed", summary).groups())
    assert 0 < changed <= total  # never "220% of the output"


def test_many_clients_each_get_their_adapter(client):
    from gradio_client import Client

    client.predict("phrases/step-000600", api_name="/load_adapter")
    client.predict("rotated/step-000300", api_name="/load_adapter")
    clips = [str(PHRASES.parent / f"phrase{i:02d}.flac") for i in range(4)]
    expected = {m: [transcribe(client, c, m) for c in clips] for m in ("base", A, B)}
    assert_premise_differ(expected, "four phrases")
    url = client.src

    def one(i):
        rng = random.Random(i)
        m, k = rng.choice(list(expected)), rng.randrange(len(clips))
        c = Client(url, verbose=False)
        return m, k, transcribe(c, clips[k], m)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(24)))
    assert [a for a in answers if a[2] != expected[a[0]][a[1]]] == []


def test_checkpoint_written_while_running_appears(client, root):
    tmp = root / "later" / ".tmp-step-000007"
    shutil.copytree(root / "phrases" / "step-000300", tmp)
    tmp.rename(root / "later" / "step-000007")
    deadline = time.time() + 10
    while time.time() < deadline and "later/step-000007" not in ids(client):
        time.sleep(0.5)
    assert "later/step-000007" in ids(client)


@pytest.mark.parametrize(
    "bad,msg",
    [
        ("../../../etc", "is not an adapter in the checkpoints folder"),
        ("/etc/passwd", "is not an adapter in the checkpoints folder"),
        ("pickled/step-000001", "No complete adapter"),
        ("other-base/step-000001", "different base model"),
        ("phrases/nothing", "No complete adapter"),
    ],
)
def test_refusals(server, client, bad, msg):
    assert msg in raw_refusal(server.url, "/load_adapter", bad)  # over plain HTTP: the string as sent
    assert transcribe(client, CLIP, "base")  # still serving


def test_unknown_adapter_in_a_task_is_refused(client):
    with pytest.raises(Exception, match="is not loaded"):
        transcribe(client, CLIP, "nope")


def test_train_tab_runs_one_job_and_its_checkpoint_appears(client):
    status = client.predict("data/phrases/train.jsonl", None, "cpu_smoke.yaml", 20, api_name="/start_training")
    assert "Started **phrases-cpu_smoke-" in status
    run = status.split("**")[1]
    with pytest.raises(Exception, match="already going"):
        client.predict("data/phrases/train.jsonl", None, "cpu_smoke.yaml", 20, api_name="/start_training")
    deadline = time.time() + 240
    while time.time() < deadline:
        st = client.predict(api_name="/training_status")
        if "finished" in st or "failed" in st:
            break
        time.sleep(1)
    assert "finished, step 20" in st, st
    deadline = time.time() + 10
    while time.time() < deadline and f"{run}/step-000020" not in ids(client):
        time.sleep(0.5)
    assert f"{run}/step-000020" in ids(client)
    with pytest.raises(Exception, match="No training run is in progress"):
        client.predict(api_name="/stop_training")


def test_training_can_be_stopped(client):
    client.predict("data/phrases/train.jsonl", None, "cpu_smoke.yaml", 5000, api_name="/start_training")
    time.sleep(3)
    assert "Stopped" in client.predict(api_name="/stop_training")
    assert "stopped" in client.predict(api_name="/training_status")


def test_evaluate_endpoint_base_vs_adapter(client):
    client.predict("phrases/step-000600", api_name="/load_adapter")
    note, table, chart, deltas, worst, files = client.predict(
        "data/phrases/train.jsonl", None, ["base", A], 6, api_name="/evaluate"
    )
    assert note.startswith("6 utterances × 2 systems")
    rows = {(r[0], r[1]): r for r in table["data"]}
    assert rows[("asr en", A)][2] <= 10 < rows[("asr en", "base")][2]  # WER % columns
    assert chart and deltas and "worst utterances" in worst
    assert sorted(f.rsplit("/", 1)[1] for f in files) == ["report.md", "summary.json", "utterances.jsonl"]
    with pytest.raises(Exception, match="not loaded"):
        client.predict("data/phrases/train.jsonl", None, ["nope"], 2, api_name="/evaluate")
