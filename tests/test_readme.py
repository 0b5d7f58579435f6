"""The README's examples run as written (on the tiny model, chosen through $GRANITE_WB_MODEL)."""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    m = re.search(rf"^##+ {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert m, f"README has no section {title!r}"
    return m.group(1)


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_readme_starts_with_the_two_commands():
    body = README.split("---", 2)[2]
    cmds = blocks(body, "bash")[:2]
    assert cmds[0].strip() == "bash scripts/setup.sh && python3 app.py"
    assert cmds[1].strip() == "bash scripts/setup.sh --dev && python3 -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text()
    assert cmds[1].strip() in ci


def test_space_header():
    header = README.split("---")[1]
    for line in ("sdk: gradio", "app_file: app.py", "sdk_version: 6.31.0"):
        assert line in header


@pytest.mark.slow
def test_python_api_examples_run(tmp_path, tiny_dir):
    code = "\n".join(blocks(section("Python API"), "python"))
    env = {**os.environ, "GRANITE_WB_MODEL": str(tiny_dir)}
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "out/en_welcome.srt" in p.stdout


@pytest.mark.slow
def test_cli_examples_run(tmp_path, tiny_dir):
    env = {**os.environ, "GRANITE_WB_MODEL": str(tiny_dir)}
    lines = [ln for b in blocks(section("Command line"), "bash") for ln in b.splitlines() if ln.strip()]
    assert len(lines) == 8
    for line in lines:
        args = [str(tmp_path / a) if a.split("/")[0] == "out" else a for a in shlex.split(line)]
        args = [str(x) for a in args for x in (sorted(ROOT.glob(a)) if "*" in a else [a])]
        args = [a for a in args if a != "tiny"] if "--model" not in args else args
        args += ["--max-new-tokens", "16"] if "--manifest" in args else []  # random tiny model: keep it short
        launcher = [sys.executable, "-m", "accelerate.commands.launch"] if args[0] == "accelerate" else [sys.executable]
        p = subprocess.run(
            [*launcher, *args[2 if args[0] == "accelerate" else 1 :]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, (line, p.stderr)
    assert (tmp_path / "out" / "en_welcome.srt").exists() and (tmp_path / "out" / "de_wetter.vtt").exists()
    assert '"words": [' in (tmp_path / "out" / "en_welcome.json").read_text()  # --word-timestamps
    one, two = ((tmp_path / "out" / d / "transcripts.jsonl").read_text() for d in ("phrases", "phrases-2"))
    assert one == two and one.count("\n") == 16  # --manifest, one process and two


@pytest.mark.slow
def test_gradio_client_example_runs(tiny_dir):
    from ui_helpers import DemoServer

    code = "\n".join(blocks(section("Calling the demo from Python"), "python"))
    with DemoServer("--model", str(tiny_dir)) as srv:
        srv.client()
        code = code.replace("http://127.0.0.1:7860/", srv.url + "/")
        p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "Model ready" in p.stdout


@pytest.mark.slow
def test_adapter_api_example_runs(tiny_dir, trained_adapter, tmp_path):
    import shutil

    from ui_helpers import DemoServer

    _, final = trained_adapter
    shutil.copytree(final, tmp_path / "cpu-smoke" / "step-000600")
    code = blocks(section("Adapters in the running demo"), "python")[0]
    with DemoServer("--model", str(tiny_dir), "--checkpoints", str(tmp_path)) as srv:
        srv.client()
        code = code.replace("http://127.0.0.1:7860/", srv.url + "/")
        p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert "Started **phrases-cpu_smoke-" in p.stdout and "cpu-smoke/step-000600" in p.stdout
        server_pid = srv.proc.pid
    import psutil

    time.sleep(1)
    leftovers = [
        c
        for c in psutil.process_iter(["cmdline"])
        if "finetune.train" in " ".join(c.info["cmdline"] or []) and str(tmp_path) in " ".join(c.info["cmdline"] or [])
    ]
    assert not leftovers, f"training outlived the demo (pid {server_pid})"


@pytest.mark.slow
def test_second_pass_examples_run(tmp_path, tiny_dir):
    """The second pass's commands and code as written, on the tiny speech and text models."""
    from ui_helpers import DemoServer

    text = section("The second pass: ask a Granite text model")
    env = {**os.environ, "GRANITE_WB_MODEL": str(tiny_dir), "GRANITE_WB_TEXT_MODEL": "tiny"}
    lines = [ln for b in blocks(text, "bash") for ln in b.splitlines() if ln.strip()]
    assert len(lines) == 2
    for line in lines:
        args = [str(tmp_path / a) if a.split("/")[0] == "out" else a for a in shlex.split(line)]
        p = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, (line, p.stderr)
    assert "-- punctuate (tiny text model" in p.stdout and "-- translate (tiny text model" in p.stdout
    names = {f.name for f in (tmp_path / "out").iterdir()}
    assert {f"en_cardiology.{t}.txt" for t in ("summary", "actions", "answer")} <= names
    local, served = blocks(text, "python")
    p = subprocess.run([sys.executable, "-c", local], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "-- answered by tiny text model (random weights)" in p.stdout
    with DemoServer("--model", str(tiny_dir), "--text-model", "tiny") as srv:
        srv.client()
        code = served.replace("http://127.0.0.1:7860/", srv.url + "/")
        p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip(), p.stderr
