"""Layout in a real headless Chromium: side by side on a desktop, stacked on a phone, no tab wider than a 375 px
screen; screenshots of the main tabs (docs/screenshots/ when UPDATE_SCREENSHOTS=1, else test-output/)."""
import os
import shutil
from pathlib import Path

import pytest

from conftest import PHRASES, ROOT
from ui_helpers import browser_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CLIP = str(PHRASES.parent / "phrase00.flac")
TABS = ["Transcribe", "Live", "Translate", "Keyword biasing", "Compare", "Adapters", "Dataset", "Train", "Evaluate", "About"]


@pytest.fixture(scope="module")
def page(tiny_dir, trained_adapter, tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    shutil.copytree(trained_adapter[0], root / "phrases", ignore=shutil.ignore_patterns("training_state", "tensorboard"))
    with browser_page("--model", str(tiny_dir), "--checkpoints", str(root),
                      "--adapters", f"phrases={root / 'phrases' / 'step-000600'}", height=800) as pg:
        yield pg


def shots() -> Path:
    folder = ROOT / ("docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else "test-output")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot(page, name):
    """The visible window as a small JPEG (what the README shows)."""
    page.screenshot(path=str(shots() / f"{name}.jpg"), type="jpeg", quality=70)


def open_tab(page, title):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("tab", name=title, exact=True).click()
    page.wait_for_timeout(300)


def test_compare_is_side_by_side_on_a_desktop_and_stacked_on_a_phone(page):
    open_tab(page, "Compare")
    tab = page.locator("#tab-compare")
    tab.locator("input[type=file][accept*=audio]").first.set_input_files(CLIP)
    tab.locator("audio, .waveform-container, [data-testid='waveform-Audio']").first.wait_for(timeout=30_000)
    page.wait_for_timeout(3000)  # the adapter list follows the loaded adapters every 2 s
    page.locator("#compare-adapter input").click()
    page.wait_for_timeout(1000)
    page.locator("#compare-adapter [role=option]").filter(has_text="phrases").first.click()
    tab.get_by_role("button", name="Compare", exact=True).click()
    try:
        page.wait_for_function("() => /changed|same text/.test(document.querySelector('#compare-summary')?.innerText)",
                               timeout=120_000)
    except Exception:
        page.screenshot(path=str(ROOT / "test-output" / "compare-failed.png"), full_page=True)
        raise
    assert "turn on the kitchen lights" in page.locator("#compare-adapted").inner_text()
    shot(page, "compare")
    a, b = (page.locator(s).bounding_box() for s in ("#compare-base", "#compare-adapted"))
    assert abs(a["y"] - b["y"]) < 5 and b["x"] >= a["x"] + a["width"] - 1, (a, b)  # beside each other
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(500)
    a, b = (page.locator(s).bounding_box() for s in ("#compare-base", "#compare-adapted"))
    assert b["y"] >= a["y"] + a["height"] - 1, (a, b)  # one under the other


def test_no_tab_scrolls_sideways_at_375_px(page):
    wide = {}
    for title in TABS:
        open_tab(page, title)
        if title in ("Transcribe", "Dataset", "Train", "Evaluate"):
            shot(page, title.lower())
        page.set_viewport_size({"width": 375, "height": 800})
        page.wait_for_timeout(400)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 376:
            wide[title] = width
    assert not wide, f"wider than the screen at 375 px: {wide}"
