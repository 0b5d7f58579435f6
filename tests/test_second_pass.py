"""The second pass (transcript -> a Granite text model): the tiny text model takes the real model's code path and
chat format; every task's prompt comes from the table; long transcripts are split to fit; the CLI's --then; the
OpenAI-server engine against the workbench's own /v1/chat/completions; the demo's /ask and its limits."""

import json

import pytest
from conftest import ROOT

PHRASES = ROOT / "data" / "phrases"
MEETING = [
    "anna will send the slides to the client on monday",
    "ben asks who is paying for the new servers",
    "we agree to meet again next week at ten",
]


def granite4_prompt(messages: list[dict]) -> str:
    """Granite 4.0 instruct's chat format, written out from its template: a system turn first (the default one
    when the messages start without one), every turn closed by <|end_of_text|> and a newline, then the assistant's
    generation prompt."""
    default = "You are a helpful assistant. Please ensure responses are professional, accurate, and safe."
    system = messages[0]["content"] if messages[0]["role"] == "system" and messages[0]["content"] else default
    out = f"<|start_of_role|>system<|end_of_role|>{system}<|end_of_text|>\n"
    for i, m in enumerate(messages):
        if not (i == 0 and m["role"] == "system"):
            out += f"<|start_of_role|>{m['role']}<|end_of_role|>{m['content']}<|end_of_text|>\n"
    return out + "<|start_of_role|>assistant<|end_of_role|>"


@pytest.fixture(scope="module")
def engine():
    from granite_workbench.text_engine import LocalTextEngine

    return LocalTextEngine("tiny")


class Recording:
    """A text engine that records every call it passes on (messages, answer)."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []
        self.name, self.context_tokens, self.count_tokens = engine.name, engine.context_tokens, engine.count_tokens

    def stream(self, messages, max_new_tokens):
        answer = ""
        for piece in self.engine.stream(messages, max_new_tokens):
            answer += piece
            yield piece
        self.calls.append((messages, max_new_tokens, answer))


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "Summarise: hello"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarise: hello"}],
        [{"role": "system", "content": ""}, {"role": "user", "content": "a"}],
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
    ],
)
def test_tiny_text_model_renders_granite4_chat_format_token_for_token(engine, messages):
    tokenizer, model = engine._load()
    want = granite4_prompt(messages)
    assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == want
    ids = engine.prompt_ids(messages)[0].tolist()
    assert ids == tokenizer(want, add_special_tokens=False).input_ids
    for marker in ("<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>"):  # one token each, as in the real one
        assert len(tokenizer(marker, add_special_tokens=False).input_ids) == 1
    assert type(model).__name__ == "GraniteForCausalLM"


def test_streamed_answer_is_the_models_greedy_generation(engine):
    """The engine's stream, joined, is what generate() gives for the prompt (greedy, special tokens dropped)."""
    tokenizer, model = engine._load()
    messages = [{"role": "user", "content": "List the action items: " + MEETING[0]}]
    ids = engine.prompt_ids(messages)
    out = model.generate(ids, attention_mask=ids.new_ones(ids.shape), max_new_tokens=24, do_sample=False)
    want = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert want.strip(), "test premise: the tiny model writes something"
    assert "".join(engine.stream(messages, 24)) == want


def test_every_task_renders_its_prompt_from_the_table():
    from granite_workbench.second_pass import TEXT_TASKS, SecondPass, get_text_task, render_messages, task_for

    for task in TEXT_TASKS.values():
        [message] = render_messages(task, "the transcript", question="Who pays?", language="ko")
        instruction = task.instruction.format(question="Who pays?", language="Korean")
        label = "Document" if task.source == "document" else "Transcript"
        assert message == {"role": "user", "content": f"{instruction}\n\n{label}:\nthe transcript"}
    assert "Question: Who pays?" in render_messages(TEXT_TASKS["question"], "x", question="Who pays?")[0]["content"]
    assert "into Korean" in render_messages(TEXT_TASKS["translate"], "x", language="ko")[0]["content"]
    assert task_for("summary") == ("summary", None) and task_for("Who pays?") == ("question", "Who pays?")
    with pytest.raises(ValueError, match="Unknown second-pass task 'poem'"):
        get_text_task("poem")
    second = SecondPass(Recording.__new__(Recording))  # refused before the engine is used
    with pytest.raises(ValueError, match="needs a question"):
        second.ask("x", "question")
    with pytest.raises(ValueError, match="does not write 'xx'"):
        second.ask("x", "translate", language="xx")


def test_transcript_lines_keep_times_and_speakers():
    from granite_workbench.second_pass import transcript_lines
    from granite_workbench.transcribe import Result, Segment

    res = Result("call.wav", "asr_speakers", "a b", [Segment(0.0, 2.0, "hello there", 1), Segment(65.5, 70, "hi", 2)])
    assert transcript_lines(res) == ["[00:00] Speaker 1: hello there", "[01:05] Speaker 2: hi"]
    assert transcript_lines(Result("a.wav", "asr", "just text", [Segment(0, 1, "just text")])) == ["just text"]


def test_split_to_fit_keeps_every_word_in_order_within_the_room(engine):
    from granite_workbench.second_pass import split_to_fit

    lines = [f"{i}: " + MEETING[i % 3] for i in range(30)] + [" ".join(MEETING * 8)]
    count = engine.count_tokens
    parts = split_to_fit(lines, 60, count)
    assert len(parts) > 5 and all(count(p) <= 60 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(" ".join(lines).split())  # nothing lost, nothing moved
    assert split_to_fit(lines[:2], 10_000, count) == ["\n".join(lines[:2])]


def test_long_transcript_is_answered_in_parts_that_fit(engine):
    """A context of 300 tokens: every call fits it; rewriting tasks join their parts' answers in order;
    condensing tasks answer each part and then combine those answers in one more call."""
    from granite_workbench.second_pass import SecondPass, transcript_lines
    from granite_workbench.text_engine import LocalTextEngine

    small = Recording(LocalTextEngine("tiny", context=300))
    second = SecondPass(small, max_new_tokens=16)
    transcript = "\n".join(f"{i}: {MEETING[i % 3]}" for i in range(40))
    tokenizer = engine._load()[0]

    def prompt_tokens(messages):
        return len(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True))

    punctuated = second.ask(transcript, "punctuate")
    calls = small.calls[:]
    assert punctuated.parts == len(calls) > 2
    assert all(prompt_tokens(m) + n <= 300 for m, n, _ in calls)
    sent = [line for m, _, _ in calls for line in m[0]["content"].split("Transcript:\n", 1)[1].splitlines()]
    assert sent == transcript_lines(transcript)  # every line once, in order
    assert punctuated.text == "\n".join(a for _, _, a in calls).strip()
    small.calls.clear()
    summary = second.ask(transcript, "summary")
    parts, combines = small.calls[: summary.parts], small.calls[summary.parts :]
    assert summary.parts > 2 and combines and summary.text == combines[-1][2].strip()
    assert all(m[0]["content"].startswith("These are summaries of consecutive parts") for m, _, _ in combines)
    assert all(prompt_tokens(m) + n <= 300 for m, n, _ in small.calls)

    def answers_in(call):
        return call[0][0]["content"].split("Answers:\n", 1)[1].split("\n")

    # the parts' answers go into the combining calls, all of them, in order (in groups when they do not fit one)
    first_level = combines if len(combines) == 1 else combines[:-1]
    assert [a for c in first_level for a in answers_in(c)] == [a.strip() for _, _, a in parts]
    if len(combines) > 1:
        assert answers_in(combines[-1]) == [c[2].strip() for c in first_level]


def test_limits_refuse_before_the_model_works(engine):
    from granite_workbench.second_pass import SecondPass

    recording = Recording(engine)
    with pytest.raises(ValueError, match="longer than this demo's second pass takes"):
        SecondPass(recording, max_input_tokens=20).ask(" ".join(MEETING * 5), "summary")
    with pytest.raises(ValueError, match="transcript is empty"):
        SecondPass(recording).ask("   ", "summary")
    assert recording.calls == []


def test_cli_then_writes_answers_beside_the_transcript_and_into_the_json(tiny_dir, tmp_path, engine, capsys):
    from granite_workbench.cli import main
    from granite_workbench.second_pass import SecondPass
    from granite_workbench.transcribe import Result

    clip = str(PHRASES / "phrase00.flac")
    flags = ["--then", "summary", "--then", "Who pays?", "--then", "translate:ko", "--text-model", "tiny"]
    assert (
        main(
            ["transcribe", clip, "--model", str(tiny_dir), *flags, "--out-dir", str(tmp_path), "--quiet"]
            + ["--format", "txt,json"]
        )
        == 0
    )
    saved = json.loads((tmp_path / "phrase00.json").read_text())
    res = Result.from_dict({**saved, "answers": []})
    second = SecondPass(engine, 300, 16_000)
    want = [
        second.ask(res, "summary"),
        second.ask(res, "question", "Who pays?"),
        second.ask(res, "translate", language="ko"),
    ]
    assert [a["text"] for a in saved["answers"]] == [w.text for w in want] and want[0].text
    assert [(a["task"], a.get("question"), a.get("language")) for a in saved["answers"]] == [
        ("summary", None, None), ("question", "Who pays?", None), ("translate", None, "ko"),
    ]  # fmt: skip
    assert all(a["model"] == "tiny text model (random weights)" for a in saved["answers"])
    for name, w in zip(("summary", "answer", "translate-ko"), want):
        assert (tmp_path / f"phrase00.{name}.txt").read_bytes().decode() == w.text + "\n"
    two = [
        "--then",
        "Who pays?",
        "--then",
        "Who calls?",
        "--text-model",
        "tiny",
        "--out-dir",
        str(tmp_path / "two"),
        "--format",
        "json",
    ]
    assert main(["transcribe", clip, "--model", str(tiny_dir), *two, "--quiet"]) == 0
    saved = json.loads((tmp_path / "two" / "phrase00.json").read_text())["answers"]
    for k, a in enumerate(saved, 1):  # two questions: two files, neither written over the other
        assert (tmp_path / "two" / f"phrase00.answer-{k}.txt").read_bytes().decode() == a["text"] + "\n"
    capsys.readouterr()
    assert (
        main(["transcribe", clip, "--model", str(tiny_dir), "--then", "summary", "--text-model", "tiny", "--quiet"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"-- summary (tiny text model (random weights)):\n{want[0].text}\n" in out
    assert main(["transcribe", "--manifest", str(PHRASES / "train.jsonl"), "--out-dir", str(tmp_path), *flags]) == 2


@pytest.fixture(scope="module")
def server(tiny_dir):
    from ui_helpers import DemoServer

    args = ["--model", str(tiny_dir), "--mode", "showcase", "--text-model", "tiny", "--text-max-input-tokens", "400"]
    with DemoServer(*args) as srv:
        srv.client()
        yield srv


def test_server_engine_against_the_workbenchs_own_route_equals_local(server, engine):
    """The OpenAI-server text engine, pointed at this workbench's /v1/chat/completions (text only: its text
    model), gives the local engine's answers for every task; the official client too, streamed or not."""
    openai = pytest.importorskip("openai")
    from granite_workbench.second_pass import SecondPass
    from granite_workbench.text_engine import ServerTextEngine

    remote, local = SecondPass(ServerTextEngine(server.url), 40), SecondPass(engine, 40)
    transcript = "\n".join(MEETING)
    for task, question, language in [("summary", None, None), ("actions", None, None), ("question", "Who?", None)]:
        assert remote.ask(transcript, task, question, language).text == local.ask(transcript, task, question).text
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "Summarise: " + MEETING[0]}]
    want = "".join(engine.stream(messages, 30))
    got = client.chat.completions.create(model="any", messages=messages, max_tokens=30)
    assert got.choices[0].message.content == want and got.model == engine.name
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="any", messages=messages, max_tokens=30, stream=True)]  # fmt: skip
    assert "".join(pieces) == want and len([p for p in pieces if p]) > 1
    with pytest.raises(openai.BadRequestError, match="Tools are not supported"):
        client.chat.completions.create(
            model="any", messages=messages, tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]
        )
    with pytest.raises(openai.BadRequestError, match="Only system, user and assistant turns"):
        client.chat.completions.create(model="any", messages=[{"role": "tool", "content": "x", "tool_call_id": "1"}])
    with pytest.raises(openai.BadRequestError, match="longer than this server takes"):
        client.chat.completions.create(model="any", messages=[{"role": "user", "content": " ".join(MEETING * 40)}])


def test_ask_endpoint_in_showcase_mode_and_its_limits(server, engine):
    from ui_helpers import raw_refusal

    from granite_workbench.second_pass import SecondPass

    client = server.client()
    transcript = "\n".join(MEETING)
    answer = client.predict(transcript, "actions", "", "en", api_name="/ask")
    assert answer == SecondPass(engine, 300).ask(transcript, "actions").text and answer
    assert "no transcript to ask about" in raw_refusal(server.url, "/ask", "", "summary", "", "en")
    assert "at most 1000 characters" in raw_refusal(server.url, "/ask", transcript, "question", "why? " * 300, "en")
    assert "longer than this demo's second pass takes (400" in raw_refusal(
        server.url, "/ask", " ".join(MEETING * 40), "summary", "", "en"
    )
    assert "Unknown second-pass task 'shell'" in raw_refusal(server.url, "/ask", transcript, "shell", "", "en")


def test_no_text_model_no_second_pass(tiny_dir):
    """Without --text-model / --text-server nothing of the second pass is offered, and text-only chat says why."""
    from granite_workbench.openai_api import APIError, text_chat
    from granite_workbench.service import ModelService
    from granite_workbench.session import Workbench
    from granite_workbench.ui import build_demo

    wb = Workbench(ModelService(str(tiny_dir)))
    assert "/ask" not in build_demo(wb).get_api_info()["named_endpoints"]
    with pytest.raises(APIError, match="no text model for text-only chat"):
        text_chat(wb.second_pass, {}, [{"role": "user", "content": "hi"}])


def test_suggested_keywords_fill_the_keyword_box(engine):
    """A pasted document -> the text model's terms, streamed into the keyword box, then cleaned: the terms it
    wrote, without repeats, at most 30."""
    from types import SimpleNamespace

    from granite_workbench.keywords import split_keywords
    from granite_workbench.second_pass import SecondPass
    from granite_workbench.ui.ask import MAX_SUGGESTED, suggested_keywords

    document = "Metoprolol and atorvastatin after the angioplasty; echocardiogram on Monday."
    shown = list(suggested_keywords(SimpleNamespace(second_pass=SecondPass(engine, 60)), document))
    raw = SecondPass(engine, 60).ask(document, "keywords").text
    assert len(shown) > 2 and shown[-2].strip() == raw  # streamed as written, then cleaned
    terms = split_keywords(shown[-1])
    assert terms and len(terms) == len(set(terms)) <= MAX_SUGGESTED
    assert all(t in raw for t in terms)
