"""Adapters and Train tabs in headless Chromium: load an adapter, use it, start a run and see its curves."""

import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import PHRASES
from test_ui_browser import upload, wait_text
from ui_helpers import browser_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]
OUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(scope="module")
def page(tiny_dir, trained_adapter, tmp_path_factory):
    run, _ = trained_adapter
    root = tmp_path_factory.mktemp("ckpt-browser")
    shutil.copytree(run, root / "phrases", ignore=shutil.ignore_patterns("training_state", "tensorboard"))
    with browser_page("--model", str(tiny_dir), "--checkpoints", str(root), height=1000) as pg:
        yield pg


def wait_contains(page, selector, text, timeout=60_000):
    try:
        page.wait_for_function(
            f"() => document.querySelector('{selector}')?.innerText.includes('{text}')", timeout=timeout
        )
    except Exception:
        page.screenshot(path=str(OUT / f"failed-{selector.strip('#')}.png"), full_page=True)
        shown = page.evaluate(f"() => document.querySelector('{selector}')?.innerText")
        raise AssertionError(f"{selector} never showed {text!r}; it shows {shown!r}") from None


def choose(page, dropdown, option):
    for _ in range(3):  # a periodic refresh of the choices can close an open list: open it again
        page.locator(f"{dropdown} input").click()
        try:
            page.locator(f"{dropdown} [role=option]").filter(has_text=option).first.click(timeout=5_000)
            return
        except Exception:
            pass
    else:
        page.screenshot(path=str(OUT / f"failed-{dropdown.strip('#')}.png"), full_page=True)
        shown = page.evaluate(f"() => [...document.querySelectorAll('{dropdown} [role=option]')].map(o => o.innerText)")
        raise AssertionError(f"{dropdown} does not offer {option!r}; it offers {shown}") from None


def test_adapters_tab_load_and_use(page, out_dir):
    page.get_by_role("tab", name="Adapters").click()
    wait_contains(page, "#available", "phrases/step-000600")
    choose(page, "#pick-checkpoint", "phrases/step-000600")
    page.get_by_role("button", name="Load adapter").click()
    wait_contains(page, "#adapter-message", "Loaded")
    wait_contains(page, "#loaded", "phrases-step-000600")
    page.screenshot(path=str(out_dir / "tab-adapters.png"), full_page=True)
    # the Compare tab offers it
    page.get_by_role("tab", name="Compare").click()
    tab = page.locator("#tab-compare")
    upload(page, tab, str(PHRASES.parent / "phrase00.flac"))
    choose(page, "#compare-adapter", "phrases-step-000600")
    tab.get_by_role("button", name="Compare", exact=True).click()
    wait_contains(page, "#compare-summary", "words changed")
    assert "turn on the kitchen lights" in page.locator("#compare-adapted").inner_text()
    page.screenshot(path=str(out_dir / "tab-compare.png"), full_page=True)
    # the adapter is offered on the Transcribe tab and gives the learned text
    page.get_by_role("tab", name="Transcribe").click()
    tab = page.locator("#tab-transcribe")
    upload(page, tab, str(PHRASES.parent / "phrase00.flac"))
    choose(page, "#model-transcribe", "phrases-step-000600")
    page.get_by_role("button", name="Transcribe", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('#transcript textarea')?.value === 'turn on the kitchen lights'", timeout=120_000
    )
    assert wait_text(page, "#transcript") == "turn on the kitchen lights"


def test_evaluate_tab(page, out_dir):
    page.get_by_role("tab", name="Evaluate").click()
    tab = page.locator("#tab-evaluate")
    page.wait_for_timeout(3500)  # the systems list picks up the loaded adapter
    choose(page, "#eval-systems", "phrases-step-000600")
    tab.get_by_label("Only the first N rows").fill("8")
    tab.get_by_role("button", name="Evaluate", exact=True).click()
    wait_contains(page, "#eval-note", "8 utterances")
    wait_contains(page, "#eval-worst", "worst utterances")
    assert page.locator("#eval-chart img").count() == 1
    page.screenshot(path=str(out_dir / "tab-evaluate.png"), full_page=True)


def test_train_tab_runs_and_plots(page, out_dir):
    page.get_by_role("tab", name="Train").click()
    tab = page.locator("#tab-train")
    tab.get_by_label("Steps", exact=True).fill("30")
    page.locator("#train-eval input").click()  # an evaluation set, chosen here (not the config's)
    page.locator("#train-eval [role=option]").filter(has_text="data/phrases/train.jsonl").first.click()
    page.wait_for_timeout(500)
    tab.get_by_text("Command", exact=True).click()  # the accordion with the command preview
    assert "--eval_manifest data/phrases/train.jsonl" in page.locator("#train-command").inner_text()
    tab.get_by_role("button", name="Start fine-tuning").click()
    wait_contains(page, "#train-status", "Started")
    deadline = time.time() + 180
    seen = set()
    while time.time() < deadline and "finished" not in (status := page.locator("#train-status").inner_text()):
        seen.add(status)
        time.sleep(1)
    assert "finished, step 30 of 30 (100%)" in status and "Adapters" in status, status
    assert any(re.search(r"running, step \d+ of 30", s) for s in seen), seen  # the counter ran
    page.wait_for_timeout(2500)  # one more refresh of the plots
    assert page.locator("#loss-plot canvas, #loss-plot svg").count() >= 1
    assert page.locator("#eval-plot canvas, #eval-plot svg").count() >= 1
    page.screenshot(path=str(out_dir / "tab-train.png"), full_page=True)
    page.get_by_role("tab", name="Adapters").click()
    wait_contains(page, "#available", "/step-000030", timeout=15_000)
