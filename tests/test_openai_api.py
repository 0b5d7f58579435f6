"""The workbench speaks the OpenAI API (official `openai` client against `python app.py`), and the remote backend
against that server gives the local backend's text."""

import base64
import json

import pytest
from conftest import ROOT

openai = pytest.importorskip("openai")

PHRASES = ROOT / "data/phrases"


@pytest.fixture(scope="module")
def server(tiny_dir, trained_adapter):
    from gradio_client import Client
    from ui_helpers import DemoServer

    with DemoServer("--model", str(tiny_dir), "--adapters", f"phrases={trained_adapter[1]}") as srv:
        srv.wait_ready(Client(srv.url + "/", verbose=False))
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def local(tiny_lm, trained_adapter):
    from granite_workbench.engine import engine_for

    engine = engine_for(tiny_lm)
    name = engine.adapters.load(trained_adapter[1], name="phrases")
    yield engine
    engine.adapters.unload(name)


def phrase(i: int) -> tuple[str, str]:
    rows = [json.loads(line) for line in (PHRASES / "train.jsonl").read_text().splitlines()]
    return str(PHRASES / rows[i]["audio"]), rows[i]["text"]


def test_models_lists_the_base_and_the_adapters(client, tiny_dir):
    ids = [m.id for m in client.models.list().data]
    assert ids == [str(tiny_dir), "phrases"]


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt", "verbose_json"])
def test_transcriptions_in_every_format(client, fmt):
    import srt
    import webvtt

    path, text = phrase(0)
    with open(path, "rb") as f:
        out = client.audio.transcriptions.create(model="phrases", file=f, response_format=fmt, language="en")
    if fmt == "json":
        assert out.text == text
    elif fmt == "text":
        assert out.strip() == text
    elif fmt == "srt":
        blocks = list(srt.parse(out))
        assert [b.content for b in blocks] == [text] and blocks[0].start.total_seconds() == 0
    elif fmt == "vtt":
        import io

        assert [c.text for c in webvtt.from_buffer(io.StringIO(out))] == [text]
    else:
        assert out.text == text and out.language == "en" and out.duration > 1
        assert out.segments[0].text == text and out.segments[0].end > out.segments[0].start


def test_word_timestamps_and_keywords(client):
    path, text = phrase(1)
    with open(path, "rb") as f:
        out = client.audio.transcriptions.create(
            model="phrases",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word"],
            prompt="timer, minutes",
        )
    assert [w.word for w in out.words] == out.text.split()
    assert all(0 <= w.start < w.end <= out.duration + 0.05 for w in out.words)


def test_base_model_and_adapter_differ(client, tiny_dir):
    path, text = phrase(2)
    with open(path, "rb") as f:
        adapted = client.audio.transcriptions.create(model="phrases", file=f).text
    with open(path, "rb") as f:
        base = client.audio.transcriptions.create(model=str(tiny_dir), file=f).text
    assert adapted == text and base != text


def test_translations_and_chat_with_audio(client, local):
    from granite_workbench.audio import load_audio
    from granite_workbench.engine import DecodingOptions, Request
    from granite_workbench.prompts import TaskSpec

    path, text = phrase(3)
    with open(path, "rb") as f:
        translated = client.audio.translations.create(model="phrases", file=f).text
    want = local.generate(
        [Request(load_audio(path).samples, TaskSpec("ast", target="en"), adapter="phrases")], DecodingOptions()
    )[0].text
    assert translated == want
    audio = base64.b64encode(open(path, "rb").read()).decode()
    answer = client.chat.completions.create(
        model="phrases",
        temperature=0,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": audio, "format": "flac"}},
                    {"type": "text", "text": "can you transcribe the speech into a written format?"},
                ],
            }
        ],
    )
    assert answer.choices[0].message.content == text and answer.choices[0].message.role == "assistant"


def test_errors_come_back_in_openai_shape(client, server):
    import httpx

    path, _ = phrase(0)
    with pytest.raises(openai.NotFoundError) as exc, open(path, "rb") as f:
        client.audio.transcriptions.create(model="no-such-adapter", file=f)
    assert exc.value.body["code"] == "model_not_found" and "phrases" in exc.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="response_format must be one of"), open(path, "rb") as f:
        client.audio.transcriptions.create(model="phrases", file=f, response_format="xml")
    with pytest.raises(openai.BadRequestError, match="not a readable audio file"):
        client.audio.transcriptions.create(model="phrases", file=("notes.wav", b"this is not audio"))
    with pytest.raises(openai.BadRequestError, match="Unknown instruction 'tell me a joke'"):
        client.chat.completions.create(
            model="phrases",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "input_audio",
                            "input_audio": {
                                "data": base64.b64encode(open(path, "rb").read()).decode(),
                                "format": "flac",
                            },
                        },
                        {"type": "text", "text": "tell me a joke"},
                    ],
                }
            ],
        )
    r = httpx.post(server.url + "/v1/chat/completions", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_remote_backend_equals_local(server, local):
    """The remote engine against the workbench's own server: the same text as the local engine, base and adapter,
    with requests in flight concurrently."""
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.remote import OpenAIEngine
    from granite_workbench.transcribe import Transcriber

    remote = OpenAIEngine(server.url, concurrency=4)
    assert remote.adapter_names() == ["phrases"] and "OpenAI-compatible server" in remote.describe()
    clips = [phrase(i)[0] for i in range(6)]
    spec = TaskSpec("asr", language="en")
    for adapter in (None, "phrases"):
        want = [r.text for r in Transcriber(local, batch_size=6).run(clips, spec, adapter=adapter)]
        got = [r.text for r in Transcriber(remote, batch_size=6).run(clips, spec, adapter=adapter)]
        assert got == want
    assert got == [phrase(i)[1] for i in range(6)]


def test_remote_backend_from_the_command_line(server, tmp_path, capsys):
    from granite_workbench.cli import main

    path, text = phrase(4)
    assert (
        main(["transcribe", path, "--backend", "openai", "--server", server.url, "--adapter", "phrases", "--quiet"])
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out.strip() == text and "OpenAI-compatible server" in captured.err
    assert main(["transcribe", path, "--backend", "openai", "--quiet"]) == 2
    assert "--backend openai needs --server URL" in capsys.readouterr().err
