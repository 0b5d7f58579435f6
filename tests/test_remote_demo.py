"""The demo on a remote backend: `app.py --backend openai --server URL` sends its audio to an OpenAI-compatible
server (here another workbench, the tiny model) and loads adapters there at runtime (/v1/load_lora_adapter)."""

import shutil

import httpx
import pytest
from conftest import PHRASES
from ui_helpers import DemoServer

pytestmark = pytest.mark.slow
CLIP = str(PHRASES.parent / "phrase00.flac")
A = "phrases-step-000600"


@pytest.fixture(scope="module")
def root(trained_adapter, tmp_path_factory):
    run, _ = trained_adapter
    root = tmp_path_factory.mktemp("ckpts")
    shutil.copytree(run, root / "phrases", ignore=shutil.ignore_patterns("training_state", "tensorboard"))
    return root


@pytest.fixture(scope="module")
def servers(tiny_dir, root):
    with DemoServer("--model", str(tiny_dir), "--checkpoints", str(root), "--concurrency", "4") as model_server:
        model_client = model_server.client()
        with DemoServer("--backend", "openai", "--server", model_server.url, "--checkpoints", str(root)) as front:
            yield model_server, model_client, front, front.client()


def transcribe(client, model):
    from gradio_client import handle_file

    return client.predict(handle_file(CLIP), "en", model, "greedy", False, api_name="/transcribe")[0]


def test_the_demo_runs_on_the_server(servers):
    model_server, model_client, front, client = servers
    status = client.predict(api_name="/model_status")
    assert "Model ready" in status and model_server.url in status and "OpenAI-compatible server" in status
    assert transcribe(client, "base") == transcribe(model_client, "base")


def test_an_adapter_loads_on_the_server_at_runtime(servers):
    model_server, model_client, front, client = servers
    msg = client.predict("phrases/step-000600", api_name="/load_adapter")
    assert f"Loaded **{A}**" in msg
    served = [m["id"] for m in httpx.get(model_server.url + "/v1/models").json()["data"]]
    assert A in served  # loaded on the server, not here
    assert transcribe(client, A) == "turn on the kitchen lights" == transcribe(model_client, A)
    listed = [row[0] for row in client.predict(api_name="/list_adapters")["data"]]
    assert "phrases/step-000600" in listed


def test_training_is_refused_with_the_reason(servers):
    from gradio_client.exceptions import AppError

    *_, client = servers
    with pytest.raises(AppError, match="cannot be fine-tuned here"):
        client.predict("phrases/train.jsonl", None, "cpu_smoke.yaml", 5, api_name="/start_training")


def test_load_lora_adapter_only_takes_listed_adapters(servers, tmp_path):
    model_server, *_ = servers
    r = httpx.post(model_server.url + "/v1/load_lora_adapter", json={"lora_name": "x", "lora_path": str(tmp_path)})
    assert r.status_code == 404 and r.json()["error"]["code"] == "lora_not_found"
    r = httpx.post(model_server.url + "/v1/unload_lora_adapter", json={"lora_name": "never-loaded"})
    assert r.status_code == 400 and "not loaded" in r.json()["error"]["message"]


def test_a_vllm_server_gets_the_export(lm_only_adapter, trained_adapter, tmp_path):
    """Against vLLM (no 'granite-workbench' owner) the folder sent is the vLLM export, never the peft folder; an
    adapter that trained the projector is refused with the reason (vLLM would serve it without the projector)."""
    from safetensors import safe_open

    from granite_workbench.adapters import AdapterError
    from granite_workbench.remote import RemoteAdapters

    folder = tmp_path / "run" / "step-000600"
    shutil.copytree(lm_only_adapter, folder)
    sent = []

    class FakeVLLM:
        def is_workbench(self):
            return False

        def adapter_names(self):
            return [n for n, _ in sent]

        def server_load(self, name, path):
            sent.append((name, path))

    adapters = RemoteAdapters(FakeVLLM())
    assert adapters.load(folder, "mine") == "mine"
    name, path = sent[0]
    assert path.endswith("/.step-000600.vllm")  # hidden: the Adapters tab does not list it
    with safe_open(f"{path}/adapter_model.safetensors", "pt") as f:
        assert all(k.startswith("base_model.model.language_model.") for k in f.keys())
    assert adapters.load(folder, "mine") == "mine" and len(sent) == 1  # already served
    with pytest.raises(AdapterError, match="--to merged"):
        adapters.load(trained_adapter[1], "with-projector")
    assert len(sent) == 1
