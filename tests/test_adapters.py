"""Hot-loading adapters: registry, safety refusals, live switching, concurrency, memory."""

import gc
import json
import random
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from conftest import PHRASES, assert_premise_differ

from granite_workbench.adapters import AdapterError, check_adapter
from granite_workbench.engine import engine_for
from granite_workbench.loading import load_model
from granite_workbench.prompts import TaskSpec
from granite_workbench.registry import AdapterRegistry
from granite_workbench.transcribe import Transcriber

pytestmark = pytest.mark.slow
CLIPS = [str(PHRASES.parent / f"phrase{i:02d}.flac") for i in range(16)]
TEXTS = [json.loads(l)["text"] for l in PHRASES.read_text().splitlines()]


@pytest.fixture(scope="module")
def root(trained_adapter, rotated_adapter, tmp_path_factory):
    """A checkpoints folder with the trained run (two checkpoints), the rotated-targets adapter and some traps."""
    run, _ = trained_adapter
    root = tmp_path_factory.mktemp("checkpoints")
    shutil.copytree(run, root / "phrases", ignore=shutil.ignore_patterns("training_state", "tensorboard"))
    shutil.copytree(
        rotated_adapter, root / "rotated" / rotated_adapter.name, ignore=shutil.ignore_patterns("training_state")
    )
    half = root / "phrases" / ".tmp-step-000400"  # being written: hidden
    shutil.copytree(root / "phrases" / "step-000600", half)
    broken = root / "broken" / "step-000001"  # a file missing: incomplete
    shutil.copytree(root / "phrases" / "step-000600", broken)
    (broken / "workbench.json").unlink()
    pickled = root / "pickled" / "step-000001"  # pickle weights only
    shutil.copytree(root / "phrases" / "step-000600", pickled)
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    other = root / "other-base" / "step-000001"  # trained for a different base shape
    shutil.copytree(root / "phrases" / "step-000600", other)
    meta = json.loads((other / "workbench.json").read_text())
    meta["signature"]["num_hidden_layers"] = 40
    meta["base_model"] = "ibm-granite/granite-4.0-1b-speech"
    (other / "workbench.json").write_text(json.dumps(meta))
    return root


@pytest.fixture()
def lm(tiny_dir):
    return load_model(str(tiny_dir))


def outputs(lm, adapter=None, clips=CLIPS):
    return [r.text for r in Transcriber(lm, max_new_tokens=24).run(clips, TaskSpec("asr"), adapter=adapter)]


def test_registry_lists_complete_adapters_only(root):
    reg = AdapterRegistry(root)
    ids = [e.id for e in reg.scan()]
    assert sorted(ids) == [
        "other-base/step-000001",
        "phrases/step-000300",
        "phrases/step-000600",
        "rotated/step-000300",
    ]
    entry = reg.resolve("phrases/step-000600")
    assert entry.meta["step"] == 600 and entry.meta["tasks"] == ["asr"] and entry.name == "phrases-step-000600"
    row = entry.row()
    assert row[0] == "phrases/step-000600" and row[4] == 600 and re.search(r"WER \d+\.\d%", row[5])


@pytest.mark.parametrize(
    "bad",
    [
        "../phrases/step-000600",
        "/etc",
        "phrases/../../x",
        "",
        ".",
        "phrases/.tmp-step-000400",
        "broken/step-000001",
        "pickled/step-000001",
    ],
)
def test_registry_refuses_outside_or_incomplete(root, bad):
    reg = AdapterRegistry(root)
    reg.scan()
    with pytest.raises(AdapterError):
        reg.resolve(bad)


def test_safety_checks_on_folders(root, lm):
    with pytest.raises(AdapterError, match="only pickle weights"):
        check_adapter(root / "pickled" / "step-000001")
    with pytest.raises(AdapterError, match="incomplete adapter, missing workbench.json"):
        check_adapter(root / "broken" / "step-000001")
    with pytest.raises(AdapterError, match="different base model .*num_hidden_layers: adapter 40, model 2"):
        engine_for(lm).adapters.load(root / "other-base" / "step-000001")
    assert not engine_for(lm).adapters.names()


def test_new_checkpoint_appears_while_polling(root, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    reg = AdapterRegistry(live, poll_seconds=0.5).start()
    try:
        assert reg.entries() == []
        tmp = live / "run" / ".tmp-step-000010"  # written the way finetune writes: hidden, then renamed
        shutil.copytree(root / "phrases" / "step-000300", tmp)
        time.sleep(1.2)
        assert reg.entries() == []
        tmp.rename(live / "run" / "step-000010")
        deadline = time.time() + 5
        while time.time() < deadline and not reg.entries():
            time.sleep(0.1)
        assert [e.id for e in reg.entries()] == ["run/step-000010"]
    finally:
        reg.stop()


def test_hot_load_switch_unload(root, lm):
    base = outputs(lm)
    rt = engine_for(lm).adapters
    a = rt.load(root / "phrases" / "step-000600")
    b = rt.load(root / "rotated" / "step-000300")
    learned = outputs(lm, a)
    assert sum(x == y for x, y in zip(learned, TEXTS)) >= 14  # the adapter reproduces its phrases
    assert outputs(lm, None) == base  # base through the disabled adapter = the bare base model
    half = outputs(lm, b)
    assert_premise_differ({"base": base, a: learned, b: half}, "the 16 phrases")
    rt.unload(a)
    assert outputs(lm, b) == half
    failed = Transcriber(lm).run(CLIPS[:2], TaskSpec("asr"), adapter=a)
    assert all(not r.ok and f"Adapter {a!r} is not loaded" in r.error for r in failed)
    rt.unload(b)
    assert type(lm.model).__name__ == "GraniteSpeechForConditionalGeneration"  # the peft wrapper is gone
    assert outputs(lm) == base


def test_concurrent_requests_get_their_own_adapter(root, lm):
    rt = engine_for(lm).adapters
    a = rt.load(root / "phrases" / "step-000600")
    b = rt.load(root / "rotated" / "step-000300")
    clips = CLIPS[:6]
    expected = {name: outputs(lm, name, clips) for name in (None, a, b)}
    assert_premise_differ(expected, "six phrases")
    stop = threading.Event()

    def churn():  # another adapter is loaded and unloaded all the while
        while not stop.is_set():
            rt.load(root / "phrases" / "step-000300", name="churn")
            rt.unload("churn")

    def request(i):
        rng = random.Random(i)
        name = rng.choice([None, a, b])
        k = rng.randrange(len(clips))
        text = Transcriber(lm, max_new_tokens=24).run([clips[k]], TaskSpec("asr"), adapter=name)[0].text
        return name, k, text

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(request, range(60)))
    finally:
        stop.set()
        churner.join()
    wrong = [(n, k, t) for n, k, t in answers if t != expected[n][k]]
    assert not wrong
    assert {n for n, _, _ in answers} == {None, a, b}


def test_premise_check_names_identical_adapters(root, lm):
    """The premise check fails with its own message when two adapters are the same on purpose (one folder loaded
    under two names), so a broken premise never looks like a concurrency bug."""
    rt = engine_for(lm).adapters
    a = rt.load(root / "phrases" / "step-000600", name="one")
    b = rt.load(root / "phrases" / "step-000600", name="two")
    expected = {name: outputs(lm, name, CLIPS[:2]) for name in (a, b)}
    with pytest.raises(AssertionError, match="test premise failed: 'one' = 'two' give the same texts"):
        assert_premise_differ(expected, "two phrases")


def test_unloading_frees_memory(root, lm):
    rt = engine_for(lm).adapters
    n_params = sum(p.numel() for p in lm.model.parameters())
    proc = psutil.Process()
    for i in range(5):  # warm up allocator caches
        rt.unload(rt.load(root / "phrases" / "step-000600", name=f"w{i}"))
    gc.collect()
    rss0 = proc.memory_info().rss
    for i in range(50):
        name = rt.load(root / "phrases" / "step-000600", name=f"cycle{i}")
        assert sum(p.numel() for p in lm.model.parameters()) > n_params
        rt.unload(name)
        assert sum(p.numel() for p in lm.model.parameters()) == n_params
    gc.collect()
    growth = proc.memory_info().rss - rss0
    # one adapter is ~0.35 MB of weights: leaking them would grow RSS by ~17 MB over 50 cycles
    assert growth < 8 * 2**20, f"RSS grew by {growth / 2**20:.1f} MB"
