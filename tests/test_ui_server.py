"""The real demo server on loopback, every API endpoint called with gradio_client (tiny model)."""

import concurrent.futures as cf
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import espeak
from ui_helpers import DemoServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_dir):
    with DemoServer("--model", str(tiny_dir), "--max-audio-minutes", "5", "--concurrency", "2") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(espeak("please call the pharmacy about the metoprolol refill", tmp_path_factory.mktemp("srv") / "c.wav"))


def test_ui_answers_within_seconds(server):
    assert server.up_after < 60  # the model loads in the background; the page does not wait for it


def test_model_status_endpoint(client, server):
    status = client.predict(api_name="/model_status")
    assert status.startswith("**● Model ready**") and "on cpu (float32" in status
    assert status.split("<summary>Details</summary>")[1].removesuffix("</details>") in server.log.read_text()  # logged


def test_transcribe_endpoint(client, clip):
    from gradio_client import handle_file

    text, segs, files, words = client.predict(handle_file(clip), "en", api_name="/transcribe")
    assert isinstance(text, str) and text
    assert segs["headers"] == ["start", "end", "text"] and len(segs["data"]) == 1
    assert sorted(f.rsplit(".", 1)[1] for f in files) == ["json", "srt", "txt", "vtt"]
    assert words == ""  # no word times unless asked


def test_transcribe_endpoint_decoding_and_word_times(client, clip):
    """The decoding setting and word timestamps through the API: exact speculative decoding gives greedy's text,
    every word of it comes back as a timed span, and the decoding paths are reported."""
    import re

    from gradio_client import handle_file

    greedy = client.predict(handle_file(clip), "en", api_name="/transcribe")[0]
    text, _, _, words = client.predict(
        handle_file(clip), "en", "base", "speculative-exact", True, api_name="/transcribe"
    )
    assert text == greedy
    spans = re.findall(r"data-s='([\d.]+)' data-e='([\d.]+)'[^>]*>([^<]*)</span>", words)
    assert [w for _, _, w in spans] == text.split()
    assert all(0 <= float(s) <= float(e) <= 10 for s, e, _ in spans)
    assert "Decoding: 1 chunk:" in words and "LLM forward passes" in words


def test_translate_endpoint(client, clip):
    from gradio_client import handle_file

    text, segs, files = client.predict(handle_file(clip), "en", "ja", api_name="/translate")
    assert isinstance(text, str) and len(files) == 4


def test_keyword_endpoint(client, clip):
    from gradio_client import handle_file

    plain, biased, summary = client.predict(handle_file(clip), "metoprolol, pharmacy", api_name="/keyword_compare")
    assert "class='transcript'" in plain and "class='transcript'" in biased
    assert "**Without keywords:**" in summary and "/2 found" in summary


def test_bad_inputs_leave_the_server_serving(client, clip, tmp_path):
    from gradio_client import handle_file

    (tmp_path / "notes.txt").write_text("not audio\n" * 100)
    sf.write(tmp_path / "long.flac", np.zeros(16000 * 400, dtype=np.int16), 16000)
    cases = [
        ((handle_file(str(tmp_path / "notes.txt")), "en"), "/transcribe", "not a readable audio file"),
        ((handle_file(str(tmp_path / "long.flac")), "en"), "/transcribe", "too long"),
        ((None, "en"), "/transcribe", "No audio"),
        ((handle_file(clip), "fr", "de"), "/translate", "Unsupported translation direction"),
        ((handle_file(clip), ",".join(f"k{i}" for i in range(100))), "/keyword_compare", "Too many keywords: 100"),
    ]
    for args, api, msg in cases:
        with pytest.raises(Exception, match=msg):
            client.predict(*args, api_name=api)
    assert client.predict(handle_file(clip), "en", api_name="/transcribe")[0]  # still serving


def test_concurrent_requests_are_queued(client, clip):
    from gradio_client import handle_file

    with cf.ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: client.predict(handle_file(clip), "en", api_name="/transcribe")[0], range(6)))
    assert len(set(outs)) == 1  # the same clip gives the same text under load


def test_a_model_that_cannot_be_loaded_does_not_cost_the_working_one(client, server, clip, tmp_path):
    """A typo (a folder or a hub id that does not exist) is refused before the working model is let go; a folder
    that looks like a model but does not load is tried, reported, and the working model is loaded again."""
    import time

    from gradio_client import handle_file

    before = client.predict(handle_file(clip), "en", api_name="/transcribe")[0]
    ready = client.predict(api_name="/model_status")
    assert ready.startswith("**● Model ready**"), ready
    for bad, said in (
        ("/no/such/model", "does not exist"),
        ("nonexistent-org/no-such-model", "No model 'nonexistent-org/no-such-model' was found"),
    ):
        with pytest.raises(Exception, match=said):
            client.predict(bad, api_name="/load_model")
        assert client.predict(api_name="/model_status") == ready  # untouched: no reload, same model
    assert client.predict(handle_file(clip), "en", api_name="/transcribe")[0] == before
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    client.predict(str(broken), api_name="/load_model")
    for _ in range(240):
        status = client.predict(api_name="/model_status")
        if status.startswith("**● Model ready**") and "loaded again" in status:
            break
        time.sleep(0.5)
    assert "broken-model" in status and "is loaded again" in status, status
    logged = server.log.read_text().splitlines()
    assert any(line.startswith("✕ Model error") and "broken-model" in line for line in logged)
    assert client.predict(handle_file(clip), "en", api_name="/transcribe")[0] == before


def test_the_demo_removes_its_scratch_folder_when_stopped(tiny_dir, clip, tmp_path):
    """Answers' files, unpacked uploads and Dataset-tab drafts live in one scratch folder per process; a stopped
    demo leaves none behind (an engineer's /tmp does not fill up with one per run)."""
    with DemoServer("--model", str(tiny_dir), env={"TMPDIR": str(tmp_path)}) as srv:
        from gradio_client import handle_file

        srv.client().predict(handle_file(clip), "en", api_name="/transcribe")
        scratch = list(tmp_path.glob("granite-wb-*"))
        assert len(scratch) == 1 and list(scratch[0].glob("out-*"))  # the answer's files were written there
        uploads = [p for p in scratch[0].rglob("*") if p.is_file() and p.name == Path(clip).name]
        assert uploads and all("gradio" in p.relative_to(scratch[0]).parts for p in uploads)  # Gradio's copy too
    assert srv.proc.returncode is not None and not list(tmp_path.glob("granite-wb-*"))
    assert not list(tmp_path.glob("gradio*")), list(tmp_path.iterdir())  # no upload kept after the demo
