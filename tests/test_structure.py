"""The structure newcomers rely on: the tab registry, the API's parameter names, the task table, state outside
the UI, and no dependence on the current directory."""

import re
import time

import pytest

gr = pytest.importorskip("gradio")

from conftest import ROOT

API = {  # endpoint -> parameter names a gradio_client user sees (documented in the README)
    "/transcribe": ["audio", "language", "model", "decoding", "word_timestamps", "speakers"],
    "/translate": ["audio", "source", "target", "model"],
    "/keyword_compare": ["audio", "keywords", "model"],
    "/compare": ["audio", "adapter", "language"],
    "/load_adapter": ["checkpoint"],
    "/unload_adapter": ["adapter"],
    "/export_adapter": ["checkpoint", "kind"],
    "/list_adapters": [],
    "/loaded_adapters": [],
    "/start_training": [
        "manifest",
        "upload",
        "config",
        "steps",
        "eval_set",
        "run_name",
        "lr",
        "lora_r",
        "batch_size",
        "epochs",
        "train_projector",
    ],
    "/stop_training": [],
    "/training_status": [],
    "/evaluate": ["manifest", "upload", "systems", "limit"],
    "/compare_models": ["manifest", "upload", "models", "limit"],
    "/load_model": ["model"],
    "/ask": ["transcript", "task", "question", "language"],
    "/model_status": [],
}


@pytest.fixture(scope="module")
def wb(tiny_dir):
    from granite_workbench.second_pass import SecondPass
    from granite_workbench.service import ModelService
    from granite_workbench.session import Workbench
    from granite_workbench.text_engine import LocalTextEngine

    service = ModelService(str(tiny_dir))
    service.start()
    assert service.wait(60), service.message
    # with a text model (not loaded until asked), so that the second pass's endpoint is there too
    return Workbench(service, max_new_tokens=8, second_pass=SecondPass(LocalTextEngine("tiny")))


def test_every_tab_renders_and_is_in_about(wb):
    from granite_workbench.ui import build_demo
    from granite_workbench.ui.tabs import all_tabs
    from granite_workbench.ui.tabs.about import about_markdown

    tabs = all_tabs()
    assert len({t.id for t in tabs}) == len(tabs) and tabs[-1].id == "about"
    demo = build_demo(wb)
    rendered = {c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    about = about_markdown(wb)
    for tab in tabs:
        assert f"tab-{tab.id}" in rendered, tab.id
        if tab.id != "about":
            assert f"| **{tab.title}** |" in about, tab.title
    assert "{" not in about  # every placeholder filled


def test_api_parameter_names_read_well_and_are_documented(wb):
    from granite_workbench.ui import build_demo

    info = build_demo(wb).get_api_info()["named_endpoints"]
    got = {name: [p["parameter_name"] for p in ep["parameters"]] for name, ep in info.items()}
    assert got == API
    readme = (ROOT / "README.md").read_text()
    for name, params in API.items():
        row = re.search(rf"^\| `{re.escape(name)}` \| ([^|]*) \|", readme, re.M)
        assert row, f"README's API table has no row for {name}"
        assert [p.strip(" `") for p in row.group(1).split(",") if p.strip()] == params, name


def test_task_table_drives_prompts_validation_and_metrics():
    from granite_workbench.manifest import Row
    from granite_workbench.tasks import TASKS

    for name, task in TASKS.items():
        row = Row(
            audio="a.wav",
            text="x y",
            task=name,
            language="en",
            target_language="fr" if task.translation else None,
            keywords=["x"] if task.keywords else [],
        )
        spec = row.spec()
        assert spec.task == name and spec.info is task
        assert set(task.metrics) >= {task.primary_metric("en")} | ({"keyword_recall"} if task.keywords else set())


def test_result_cache_follows_the_loaded_model(wb, tiny_dir):
    """A model switch clears the cache and starts a new generation: no result of an earlier model comes back."""
    from granite_workbench.prompts import TaskSpec

    clip = str(ROOT / "data" / "phrases" / "phrase00.flac")
    wb.inference.cache.clear()
    first = wb.inference.run(clip, TaskSpec("asr"))
    assert len(wb.inference.cache) == 1 and wb.inference.run(clip, TaskSpec("asr")) is first
    generation = wb.service.generation
    wb.inference.load_model(str(tiny_dir))
    assert len(wb.inference.cache) == 0 and wb.service.lm is None  # the old model is released before the next loads
    assert wb.service.wait(60)
    assert wb.service.generation == generation + 1
    again = wb.inference.run(clip, TaskSpec("asr"))
    assert again is not first and again.text == first.text


@pytest.mark.slow
def test_demo_from_another_folder_trains_into_the_watched_folder(tmp_path, tiny_dir):
    """`python /path/to/app.py --checkpoints ckpts` started elsewhere: the run lands where the demo looks."""
    from ui_helpers import DemoServer

    with DemoServer("--model", str(tiny_dir), "--checkpoints", "ckpts", cwd=tmp_path) as srv:
        client = srv.client()
        msg = client.predict("data/phrases/train.jsonl", None, "cpu_smoke.yaml", 2, api_name="/start_training")
        assert "Started" in msg and str(tmp_path / "ckpts") in msg
        deadline = time.time() + 180
        ids = []
        while time.time() < deadline:
            ids = [row[0] for row in client.predict(api_name="/list_adapters")["data"]]
            if any(i.endswith("/step-000002") for i in ids):
                break
            time.sleep(1)
        assert any(i.endswith("/step-000002") for i in ids), (ids, client.predict(api_name="/training_status"))
        while time.time() < deadline and "running" in client.predict(api_name="/training_status"):
            time.sleep(1)  # the process writes its curves after the last checkpoint
        assert "finished" in client.predict(api_name="/training_status")
    assert not (ROOT / "ckpts").exists()
