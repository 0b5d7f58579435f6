"""The Granite Speech family: the model table, the CTC engine (5.0 Turbo CTC miniature), capability refusals in
the CLI, the Python API and the OpenAI routes, and one engine seam (the same calls against every engine)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

PHRASES = ROOT / "data/phrases"


def phrase_audio(i: int):
    from granite_workbench.audio import load_audio

    rows = [json.loads(line) for line in (PHRASES / "train.jsonl").read_text().splitlines()]
    return load_audio(str(PHRASES / rows[i]["audio"])).samples


@pytest.fixture(scope="module")
def ctc_dir(tmp_path_factory):
    """The tiny CTC model in a folder whose name says nothing: the architecture must come from its config."""
    from granite_workbench.tiny import ensure_tiny_model

    folder = tmp_path_factory.mktemp("family") / "my-model"
    shutil.copytree(ensure_tiny_model(None, "tiny-ctc"), folder)
    return folder


@pytest.fixture(scope="module")
def ctc_engine(ctc_dir):
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model

    return engine_for(load_model(str(ctc_dir)))


def cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m granite_workbench ARGS` from the repository."""
    command = [sys.executable, "-m", "granite_workbench", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)


# -- the model table -------------------------------------------------------------------------------------
def test_the_table_finds_models_by_id_short_name_tiny_alias_and_architecture():
    from granite_workbench.models import MODELS, spec_for

    for m in MODELS.values():
        assert spec_for(m.id) is m and spec_for(m.id.split("/")[-1]) is m
        assert spec_for("/somewhere/else", m.architecture).architecture == m.architecture
    assert spec_for("tiny-ctc").architecture == "granite_speech5_ctc"
    assert spec_for("tiny").id == "ibm-granite/granite-4.0-1b-speech"
    ctc = spec_for("ibm-granite/granite-speech-5.0-470m-turboctc")
    assert ctc.tasks == {"asr"} and ctc.languages == ("en",) and not ctc.llm and ctc.decoding == ("greedy",)
    assert {"asr_speakers", "asr_timestamps"} <= spec_for("granite-speech-4.1-2b-plus").tasks
    with pytest.raises(ValueError, match="Unknown model"):
        spec_for("someone/whisper")


def test_models_command_prints_every_family_member():
    from granite_workbench.models import MODELS

    p = cli("models", "--json")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["model"] for r in rows] == list(MODELS)
    ctc = rows[-1]
    assert ctc["tasks"] == "asr" and ctc["punctuation"] == "no" and ctc["tiny"] == "tiny-ctc"


# -- the CTC engine ----------------------------------------------------------------------------------------
def test_the_architecture_comes_from_the_config_not_the_name(ctc_engine, ctc_dir):
    from granite_workbench.ctc_engine import CTCEngine

    assert type(ctc_engine) is CTCEngine and ctc_engine.lm.architecture == "granite_speech5_ctc"
    assert ctc_engine.model_id == str(ctc_dir) and ctc_engine.capabilities.tasks == {"asr"}


def test_ctc_batched_equals_one_at_a_time_with_word_times(ctc_engine):
    from granite_workbench.engine import DecodingOptions, Request
    from granite_workbench.prompts import TaskSpec

    clips = [phrase_audio(i) for i in range(3)] + [np.zeros(16000 * 3, dtype=np.float32) + 0.01]
    assert len({len(c) for c in clips}) == 4, "test premise: clips of different lengths (padding in the batch)"
    reqs = [Request(c, TaskSpec("asr")) for c in clips]
    options = DecodingOptions(word_timestamps=True)
    batched = ctc_engine.generate(reqs, options)
    alone = [ctc_engine.generate([r], options)[0] for r in reqs]
    assert [g.text for g in batched] == [g.text for g in alone]
    assert [g.words for g in batched] == [g.words for g in alone]
    for g, clip in zip(batched, clips):
        assert g.llm_passes == 0 and g.path == "greedy"
        assert " ".join(w.word for w in g.words) == g.text
        ends = [w.end for w in g.words]
        assert ends == sorted(ends) and all(0 <= w.start < w.end <= len(clip) / 16000 + 1e-6 for w in g.words)


def test_unit_words_follow_the_ctc_path(ctc_engine):
    """A path with known units: repeats merged, blanks dropped, `▁` starts a word; times from the frames."""
    from granite_workbench.ctc_engine import unit_words

    tok = ctc_engine.tokenizer
    he, llo, wor, ld = tok.convert_tokens_to_ids(["▁he", "llo", "▁wor", "ld"])
    path = [0, he, he, 0, llo, 0, 0, wor, 0, ld, ld, 0]
    words = unit_words(path, tok, 0.08)
    assert [(w.word, w.start, w.end) for w in words] == [("hello", 0.08, 0.4), ("world", 0.56, 0.88)]
    assert tok.decode(path) == "hello world"


def test_the_ctc_model_refuses_what_it_cannot_do_per_clip(ctc_engine):
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    tr = Transcriber(ctc_engine)
    clip = str(PHRASES / "phrase01.flac")
    ok, translated, french = tr.run(
        [clip, clip, clip], [TaskSpec("asr"), TaskSpec("ast", target="fr"), TaskSpec("asr", language="fr")]
    )
    assert ok.ok and ok.text
    assert (
        not translated.ok and "my-model does not translate; these models do: granite-4.0-1b-speech" in translated.error
    )
    assert not french.ok and "transcribes en only" in french.error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["translate", "--to", "fr"],
            "tiny-ctc does not translate; these models do: granite-4.0-1b-speech, "
            "granite-speech-4.1-2b, granite-speech-4.1-2b-plus.",
        ),
        (["transcribe", "--keywords", "Granite"], "tiny-ctc does not take keywords"),
        (["transcribe", "--decoding", "speculative"], "tiny-ctc decodes greedy only"),
    ],
)
def test_cli_refuses_with_exit_2_and_names_the_models_that_can(args, message, tmp_path):
    clip = PHRASES / "phrase01.flac"
    p = cli(*args[:1], str(clip), *args[1:], "--model", "tiny-ctc", "--out-dir", str(tmp_path))
    assert p.returncode == 2 and message in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())


def test_cli_transcribes_with_the_ctc_model_and_word_times(tmp_path, ctc_dir):
    clip = PHRASES / "phrase01.flac"
    p = cli(
        "transcribe",
        str(clip),
        "--model",
        str(ctc_dir),
        "--word-timestamps",
        "--format",
        "json,srt",
        "--out-dir",
        str(tmp_path),
        "--quiet",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads((tmp_path / "phrase01.json").read_text())
    assert out["text"] and " ".join(w["word"] for w in out["words"]) == out["text"]
    assert (tmp_path / "phrase01.srt").read_text().strip()


# -- one seam: the same calls against every engine -------------------------------------------------------------
@pytest.fixture(scope="module")
def ctc_server(ctc_dir):
    from gradio_client import Client
    from ui_helpers import DemoServer

    with DemoServer("--model", str(ctc_dir)) as srv:
        srv.wait_ready(Client(srv.url + "/", verbose=False))
        yield srv


@pytest.fixture(scope="module")
def plus_engine():
    from granite_workbench.engine import engine_for
    from granite_workbench.loading import load_model

    return engine_for(load_model("tiny-plus"))


@pytest.fixture(params=["fake", "local", "plus", "ctc", "openai"])
def any_engine(request, tiny_lm, ctc_engine, plus_engine):
    from granite_workbench.engine import FakeEngine, engine_for

    if request.param == "fake":
        return FakeEngine(fn=lambda r: f"{r.spec.task} {len(r.samples)}")
    if request.param == "local":
        return engine_for(tiny_lm)
    if request.param == "ctc":
        return ctc_engine
    if request.param == "plus":
        return plus_engine
    from granite_workbench.remote import OpenAIEngine

    return OpenAIEngine(request.getfixturevalue("ctc_server").url)


def test_every_engine_answers_the_same_calls(any_engine):
    from granite_workbench.adapters import AdapterError
    from granite_workbench.engine import Capabilities, DecodingOptions, Engine, Request
    from granite_workbench.models import capability_problem
    from granite_workbench.prompts import TaskSpec

    e = any_engine
    assert isinstance(e, Engine) and isinstance(e.capabilities, Capabilities)
    assert isinstance(e.model_id, str) and e.model_id and isinstance(e.describe(), str)
    assert e.tokenizer is None or hasattr(e.tokenizer, "decode")
    clips = [phrase_audio(0), phrase_audio(1)]
    batched = e.generate([Request(c, TaskSpec("asr")) for c in clips], DecodingOptions(max_new_tokens=20))
    alone = [e.generate([Request(c, TaskSpec("asr"))], DecodingOptions(max_new_tokens=20))[0] for c in clips]
    assert len(batched) == 2 and [g.text for g in batched] == [g.text for g in alone]
    assert all(isinstance(g.text, str) for g in batched)
    assert capability_problem(e, TaskSpec("asr")) is None
    assert isinstance(e.adapter_names(), list) and isinstance(e.adapter_info(), list)
    with pytest.raises(AdapterError):
        e.unload_adapter("never-loaded")


def test_an_adapter_round_trips_through_the_seam(trained_adapter, tiny_lm):
    """Load, list, describe and unload an adapter with the protocol's calls only (local and fake engines)."""
    from granite_workbench.engine import FakeEngine, engine_for

    for e in (engine_for(tiny_lm), FakeEngine()):
        name = e.load_adapter(trained_adapter[1], "seam", source_id="phrases/step")
        assert name == "seam" and "seam" in e.adapter_names()
        info = {a["name"]: a for a in e.adapter_info()}["seam"]
        assert info["id"] == "phrases/step" and info["path"] == str(trained_adapter[1])
        e.unload_adapter("seam")
        assert "seam" not in e.adapter_names()


def test_an_llm_adapter_is_refused_by_the_ctc_model(ctc_engine, trained_adapter):
    from granite_workbench.adapters import AdapterError

    with pytest.raises(AdapterError, match="trained for a different base model"):
        ctc_engine.load_adapter(trained_adapter[1], "llm-one")
    assert ctc_engine.adapter_names() == []


def test_the_openai_routes_refuse_translation_on_the_ctc_model(ctc_server):
    import httpx

    with open(PHRASES / "phrase01.flac", "rb") as f:
        r = httpx.post(
            f"{ctc_server.url}/v1/audio/translations", files={"file": ("a.flac", f)}, data={"model": "base"}, timeout=60
        )
    assert r.status_code == 400 and "does not translate; these models do:" in r.json()["error"]["message"]
    with open(PHRASES / "phrase01.flac", "rb") as f:
        r = httpx.post(
            f"{ctc_server.url}/v1/audio/transcriptions",
            files={"file": ("a.flac", f)},
            data={"model": "base"},
            timeout=60,
        )
    assert r.status_code == 200 and isinstance(r.json()["text"], str)


def test_length_groups_bound_the_padding():
    from granite_workbench.ctc_engine import MAX_PADDING, length_groups

    lengths = [459200, 409600, 89600, 400000, 90000, 16000]
    groups = length_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        real = sum(lengths[i] for i in g)
        assert max(lengths[i] for i in g) * len(g) <= MAX_PADDING * real
    assert [0, 1, 3] in groups and [4, 2] in groups  # the long chunks together, the short ones together


def test_tiny_plus_is_the_plus_architecture_and_runs_every_mode(plus_engine):
    """granite_speech_plus from its config: the projector reads `cat_hidden_layers` too (and the CTC head the
    final states only); each mode's prompt is the card's; batched = one at a time."""
    from granite_workbench.engine import DecodingOptions, Request
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.tasks import TASKS

    core = plus_engine.lm.model
    enc = core.config.encoder_config
    assert type(core).__name__ == "GraniteSpeechPlusForConditionalGeneration" and enc.cat_hidden_layers
    assert core.config.projector_config.encoder_hidden_size == enc.hidden_dim * (len(enc.cat_hidden_layers) + 1)
    assert plus_engine.capabilities.decoding == ("greedy",)
    clip = phrase_audio(2)
    for task in ("asr", "asr_speakers", "asr_timestamps"):
        req = Request(clip, TaskSpec(task))
        prompt = plus_engine.tokenizer.decode(plus_engine.prompt_ids(req))
        assert TASKS[task].prompt in prompt
        batched = plus_engine.generate(
            [req, Request(phrase_audio(3), TaskSpec(task))], DecodingOptions(max_new_tokens=8)
        )
        assert batched[0].text == plus_engine.generate([req], DecodingOptions(max_new_tokens=8))[0].text
    words = plus_engine.generate(
        [Request(clip, TaskSpec("asr"))], DecodingOptions(max_new_tokens=8, word_timestamps=True)
    )
    assert words[0].words is not None  # the CTC head reads the final states (a shape error before)


def test_cli_speakers_and_model_word_times_on_tiny_plus(tmp_path):
    clip = PHRASES / "phrase01.flac"
    base = [
        "transcribe",
        str(clip),
        "--model",
        "tiny-plus",
        "--quiet",
        "--max-new-tokens",
        "12",
        "--format",
        "json,srt,vtt",
    ]
    p = cli(*base, "--speakers", "--out-dir", str(tmp_path / "s"))
    assert p.returncode == 0, p.stderr
    out = json.loads((tmp_path / "s/phrase01.json").read_text())
    assert out["task"] == "asr_speakers" and all("speaker" in s for s in out["segments"])
    assert any(i.startswith("word times:") for i in out["info"])
    p = cli(*base, "--word-timestamps", "--out-dir", str(tmp_path / "t"))
    assert p.returncode == 0, p.stderr
    out = json.loads((tmp_path / "t/phrase01.json").read_text())
    assert out["task"] == "asr_timestamps"  # plus writes its own time tags: its timestamp mode, not CTC alignment


def test_evaluate_on_the_ctc_model_scores_asr_rows_and_reports_translation_rows(tmp_path, ctc_dir):
    rows = [json.loads(line) for line in (PHRASES / "train.jsonl").read_text().splitlines()[:2]]
    for r in rows:
        r["audio"] = str(PHRASES / r["audio"])
    rows.append({**rows[0], "task": "ast", "target_language": "fr", "text": "allume la lumière"})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = cli("evaluate", str(manifest), "--model", str(ctc_dir), "--out-dir", str(tmp_path / "ev"), "--quiet")
    assert p.returncode == 1, p.stderr  # a row failed: reported, not dropped
    utts = [json.loads(line) for line in (tmp_path / "ev/utterances.jsonl").read_text().splitlines()]
    assert len(utts) == 3
    assert [u["systems"]["base"].get("hypothesis") is not None for u in utts] == [True, True, False]
    assert "does not translate; these models do:" in utts[2]["systems"]["base"]["failed"]


def test_the_readme_family_commands_run_as_written(tmp_path):
    """The README's family section: each command runs; the one marked `# exit 2` is refused."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text()
    body = re.search(r"^## The Granite Speech family\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    lines = [ln for b in re.findall(r"```bash\n(.*?)```", body, re.S) for ln in b.splitlines() if ln.strip()]
    assert len(lines) == 5, lines
    for line in lines:
        command, _, comment = line.partition("#")
        args = [str(tmp_path / a) if a.split("/")[0] == "out" else a for a in shlex.split(command)]
        assert args[:3] == ["python3", "-m", "granite_workbench"], line
        p = cli(*args[3:])
        assert p.returncode == (2 if "exit 2" in comment else 0), (line, p.stderr)


def test_the_demo_routes_on_the_ctc_model(ctc_server):
    """Gradio's routes with the CTC model loaded: transcription (with word times) works; translation and keyword
    biasing are refused with the models that can."""
    from gradio_client import Client, handle_file

    client = Client(ctc_server.url + "/", verbose=False)
    clip = handle_file(str(PHRASES / "phrase01.flac"))
    text, segments, files, words = client.predict(clip, "en", "base", "greedy", True, api_name="/transcribe")
    assert isinstance(text, str) and segments and "class='w'" in words
    for api, args in (("/translate", (clip, "en", "fr", "base")), ("/keyword_compare", (clip, "kitchen", "base"))):
        with pytest.raises(Exception, match="does not (translate|take keywords); these models do"):
            client.predict(*args, api_name=api)
