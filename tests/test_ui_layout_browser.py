"""Layout in a real headless Chromium: side by side on a desktop, stacked on a phone, no tab wider than a 375 px
screen; screenshots of the main tabs (docs/screenshots/ when UPDATE_SCREENSHOTS=1, else test-output/)."""

import shutil

import pytest
from conftest import PHRASES, ROOT
from ui_helpers import browser_page, readme_shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CLIP = str(PHRASES.parent / "phrase00.flac")
TABS = [
    "Transcribe",
    "Live",
    "Translate",
    "Keyword biasing",
    "Compare",
    "Adapters",
    "Dataset",
    "Train",
    "Evaluate",
    "About",
]


@pytest.fixture(scope="module")
def page(tiny_dir, trained_adapter, tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    shutil.copytree(
        trained_adapter[0], root / "phrases", ignore=shutil.ignore_patterns("training_state", "tensorboard")
    )
    with browser_page(
        "--model",
        str(tiny_dir),
        "--checkpoints",
        str(root),
        "--adapters",
        f"phrases={root / 'phrases' / 'step-000600'}",
        height=800,
    ) as pg:
        yield pg


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
        page.wait_for_function(
            "() => /changed|same text/.test(document.querySelector('#compare-summary')?.innerText)", timeout=120_000
        )
    except Exception:
        page.screenshot(path=str(ROOT / "test-output" / "compare-failed.png"), full_page=True)
        raise
    assert "turn on the kitchen lights" in page.locator("#compare-adapted").inner_text()
    readme_shot(page, "compare")
    a, b = (page.locator(s).bounding_box() for s in ("#compare-base", "#compare-adapted"))
    assert abs(a["y"] - b["y"]) < 5 and b["x"] >= a["x"] + a["width"] - 1, (a, b)  # beside each other
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(500)
    a, b = (page.locator(s).bounding_box() for s in ("#compare-base", "#compare-adapted"))
    assert b["y"] >= a["y"] + a["height"] - 1, (a, b)  # one under the other


CUT_FIELDS = """() => [...document.querySelectorAll('input')]
    .filter(e => e.offsetParent && e.value && e.scrollWidth > e.clientWidth + 1)
    .map(e => `${e.closest('[id]')?.id}: ${e.value}`)"""


def test_no_tab_scrolls_sideways_at_375_px(page):
    """Nothing wider than the screen, and no field too narrow for its choice (a dropdown showing
    "Detect automa" or "English (e")."""
    wide, cut = {}, {}
    for title in TABS:
        open_tab(page, title)
        page.set_viewport_size({"width": 375, "height": 800})
        page.wait_for_timeout(400)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 376:
            wide[title] = width
        if fields := page.evaluate(CUT_FIELDS):
            cut[title] = fields
    assert not wide, f"wider than the screen at 375 px: {wide}"
    assert not cut, f"text cut at 375 px: {cut}"


def test_every_tab_is_in_reach_on_a_phone(page):
    """At 375 px the tab bar wraps into rows: every tab is a button on the page, none hides behind a "…" menu."""
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(500)
    visible = [t.inner_text() for t in page.get_by_role("tab").all() if t.is_visible()]
    assert visible == TABS, visible
    assert not page.get_by_role("button", name="More tabs").is_visible()
    page.get_by_role("tab", name="Evaluate", exact=True).click()  # one of those that used to hide
    assert page.locator("#tab-evaluate").is_visible()
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """50 s of real speech (recorded prompts with pauses): transcribed in two chunks, two segments."""
    import sys

    import soundfile as sf

    sys.path.insert(0, str(ROOT / "bench"))
    from common import long_speech

    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(path, long_speech(50), 16_000)
    return str(path)


def test_a_click_on_a_segment_plays_the_clip_from_there(page, long_clip):
    open_tab(page, "Transcribe")
    tab = page.locator("#tab-transcribe")
    tab.locator("input[type=file][accept*=audio]").first.set_input_files(long_clip)
    tab.locator(".play-pause-button").first.wait_for(timeout=30_000)
    tab.get_by_role("button", name="Transcribe", exact=True).click()
    rows = page.locator("#segments .virtual-body [role=row]")
    page.wait_for_function(
        "() => document.querySelectorAll('#segments .virtual-body [role=row]').length >= 2", timeout=120_000
    )
    starts = [rows.nth(i).locator("[role=gridcell]").first.inner_text().strip() for i in range(rows.count())]
    second = sum(float(x) * 60**i for i, x in enumerate(reversed(starts[1].split(":"))))
    assert second > 10, starts
    media = "() => { const m = window.gwbMedia(); return m ? [m.currentTime, m.paused] : null }"
    assert page.evaluate(media) is None  # nothing has played yet
    rows.nth(1).locator("[role=gridcell]").nth(2).click()  # the second segment's text
    page.wait_for_timeout(1000)
    at, paused = page.evaluate(media)
    assert not paused and second <= at < second + 3, (at, second)  # playing from the segment's start
    rows.nth(0).click()
    page.wait_for_timeout(500)
    at, paused = page.evaluate(media)
    assert not paused and at < 2, at  # back to the first segment, still playing
