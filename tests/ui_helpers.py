"""Starting the real demo server on loopback for API and browser tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    """`python app.py` in a subprocess; stopped on exit."""

    def __init__(self, *args: str, env: dict | None = None, cwd: Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--host", "127.0.0.1", "--port", str(self.port), *args]
        self.env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.cwd = cwd
        self.log = ROOT / "test-output" / f"server-{self.port}.log"

    def __enter__(self) -> DemoServer:
        self.log.parent.mkdir(exist_ok=True)
        self._fh = open(self.log, "w")
        self.started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), *self.args],
            cwd=self.cwd,
            env=self.env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    self.up_after = time.time() - self.started
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"demo did not answer within 120 s:\n{self.log.read_text()}")

    def wait_ready(self, client, timeout: float = 120) -> str:
        deadline = time.time() + timeout
        status = ""
        while time.time() < deadline:
            status = client.predict(api_name="/model_status")
            if "Model ready" in status or "Model error" in status:
                return status
            time.sleep(0.5)
        raise RuntimeError(f"model not ready: {status}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._fh.close()

    def client(self):
        """A gradio_client for this server, once the model is ready."""
        from gradio_client import Client

        c = Client(self.url, verbose=False)
        self.wait_ready(c)
        return c


def raw_refusal(url: str, api: str, *data) -> str:
    """Call an endpoint over plain HTTP, as any client can (strings stay strings: gradio_client would upload a
    string that names a local file); returns the error message."""
    r = httpx.post(f"{url}/gradio_api/call{api}", json={"data": list(data)}, timeout=30)
    assert r.status_code == 200, r.text
    with httpx.stream("GET", f"{url}/gradio_api/call{api}/{r.json()['event_id']}", timeout=300) as stream:
        body = stream.read().decode()
    events = body.split("event: ")
    error = next((e for e in events if e.startswith("error")), None)
    assert error is not None, f"{api} was not refused: {body[:300]}"
    return json.loads(error.split("data:", 1)[1].strip())["error"]


def readme_shot(page, name: str, anchor: str | None = None) -> Path:
    """A finished state as the README shows it: the 1280 x 800 window as a small JPEG, scrolled so that `anchor`
    (a selector) is at its top; into docs/screenshots/ with UPDATE_SCREENSHOTS=1, else test-output/."""
    folder = ROOT / ("docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else "test-output")
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": 800})
    if anchor:
        page.locator(anchor).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    path = folder / f"{name}.jpg"
    page.screenshot(path=str(path), type="jpeg", quality=70)
    page.set_viewport_size(size)
    return path


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@contextmanager
def browser_page(*server_args: str, height: int = 900, microphone: str | None = None, cwd: Path = ROOT):
    """The demo (started with `server_args`, in the folder `cwd`) open in Debian's headless Chromium, driven by
    Playwright. `microphone`: a WAV file Chromium plays as the microphone (looped), with the permission granted."""
    import shutil

    import pytest

    pw = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.fail("Debian chromium is not installed: run `bash scripts/setup.sh --dev`")
    with DemoServer(*server_args, cwd=cwd) as srv, pw.sync_playwright() as p:
        srv.client()
        args = list(CHROMIUM_ARGS)
        if microphone:
            args += [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}",
                "--autoplay-policy=no-user-gesture-required",
            ]
        browser = p.chromium.launch(executable_path=chromium, args=args)
        context = browser.new_context(viewport={"width": 1280, "height": height})
        if microphone:
            context.grant_permissions(["microphone"])
        page = context.new_page()
        page.server = srv
        page.set_default_timeout(60_000)
        page.goto(srv.url)
        page.get_by_text("Granite Speech Workbench").first.wait_for()
        try:
            yield page
        finally:
            browser.close()
