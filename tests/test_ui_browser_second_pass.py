"""The second pass and the translation microphone in Chromium (tiny speech and text models): the Ask panel under
a transcript answers as the /ask endpoint does; the Live tab with a French microphone shows the English phrases
growing, and its final text is the recorded file translated as an upload."""

import re
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import PHRASES
from test_ui_browser_adapters import choose, wait_contains
from ui_helpers import browser_page, readme_shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]
FRENCH = ["bonjour à tous", "la réunion commence à dix heures", "merci et à demain"]


@pytest.fixture(scope="module")
def microphone(tmp_path_factory):
    """Three French phrases (SVOX Pico) with a second of silence after each, as 48 kHz 16-bit like a browser."""
    from granite_workbench.synth import speak

    silence = np.zeros(16_000, dtype=np.float32)
    parts = [silence[:8000]]
    for text in FRENCH:
        parts += [speak(text, "fr"), silence]
    audio = np.concatenate(parts)
    up = np.interp(np.arange(0, len(audio), 1 / 3), np.arange(len(audio)), audio)
    path = tmp_path_factory.mktemp("mic-fr") / "microphone.wav"
    sf.write(path, (np.clip(up, -1, 1) * 32767).astype(np.int16), 48_000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def page(tiny_dir, trained_adapter, microphone):
    args = ["--model", str(tiny_dir), "--adapters", f"phrases={trained_adapter[1]}", "--text-model", "tiny"]
    with browser_page(*args, height=1000, microphone=str(microphone)) as pg:
        yield pg


def test_ask_panel_answers_about_the_transcript(page, out_dir):
    from gradio_client import Client

    tab = page.locator("#tab-transcribe")
    tab.locator("input[type=file][accept*=audio]").first.set_input_files(str(PHRASES.parent / "phrase00.flac"))
    tab.locator(".play-pause-button").first.wait_for(timeout=30_000)
    tab.get_by_role("button", name="Transcribe", exact=True).click()
    page.wait_for_function("() => document.querySelector('#transcript textarea').value.length > 0", timeout=60_000)
    transcript = page.locator("#transcript textarea").input_value()
    page.locator("#transcribe-ask-actions").click()
    wait_contains(page, "#transcribe-answer-note", "Answered by", timeout=60_000)
    shown = page.locator("#transcribe-answer textarea").input_value()
    page.locator("#transcribe-answer").scroll_into_view_if_needed()
    page.screenshot(path=str(out_dir / "second-pass-ask.png"), full_page=True)
    readme_shot(page, "ask", "#transcribe-ask-actions")
    client = Client(page.server.url, verbose=False)
    assert shown and shown == client.predict(transcript, "actions", "", "en", api_name="/ask")
    assert "tiny text model" in page.locator("#transcribe-answer-note").inner_text()
    page.locator("#transcribe-question textarea, #transcribe-question input").first.fill("Who calls whom?")
    page.locator("#transcribe-ask-question").click()
    page.wait_for_function(  # a new answer, complete (the panel clears the old one when it starts)
        "(old) => document.querySelector('#transcribe-answer textarea').value !== old"
        " && document.querySelector('#transcribe-answer-note').innerText.includes('Answered by')",
        arg=shown,
        timeout=60_000,
    )
    asked = page.locator("#transcribe-answer textarea").input_value()
    assert asked == client.predict(transcript, "question", "Who calls whom?", "en", api_name="/ask") != shown


def test_live_translation_microphone_french_to_english(page, microphone, out_dir):
    from gradio_client import Client, handle_file

    page.get_by_role("tab", name="Live", exact=True).click()
    page.wait_for_timeout(2500)
    choose(page, "#live-lang", "French (fr)")
    choose(page, "#live-target", "English (en)")
    mic = page.locator("#live-mic")
    mic.get_by_role("button", name="Record", exact=True).click()
    seen, started = [], time.time()
    while time.time() < started + 11:  # the three phrases and their pauses
        seen.append(page.locator("#live-text textarea").input_value().removesuffix(" …"))
        time.sleep(0.5)
    mic.get_by_role("button", name="Stop", exact=True).first.click()
    lengths = [len(t) for t in seen]
    assert lengths == sorted(lengths) and len(set(lengths) - {0}) >= 2, lengths  # phrase by phrase, growing
    assert "Translated by the speech model (French → English)" in page.locator("#live-note").inner_text()
    page.locator("#live-recording .play-pause-button").first.wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('#live-text textarea').value.endsWith('…')")
    page.wait_for_timeout(1000)
    final = page.locator("#live-text textarea").input_value()
    page.screenshot(path=str(out_dir / "live-translation.png"), full_page=True)
    readme_shot(page, "live-translation", "#tab-live")
    href = page.locator("#live-recording a[download]").first.get_attribute("href")
    wav = out_dir / "live-translation.wav"
    wav.write_bytes(httpx.get(href, timeout=30).content)
    client = Client(page.server.url, verbose=False)
    text, *_ = client.predict(handle_file(str(wav)), "fr", "en", "base", api_name="/translate")
    assert final == text and final  # the whole recording translated once, as an upload of it is
    assert re.search(r"\S", final)
