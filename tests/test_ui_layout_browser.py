"""Layout in a real headless Chromium: side by side on a desktop, stacked on a phone, no tab wider than a 375 px
screen; screenshots of the main tabs (docs/screenshots/ when UPDATE_SCREENSHOTS=1, else test-output/)."""

import shutil

import pytest
from conftest import PHRASES, ROOT
from ui_helpers import browser_page, readme_shot

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CLIP = str(PHRASES.parent / "phrase00.flac")
ADAPTER = "phrases-cpu_smoke-1202-0801-step-000600"  # shown as "phrases · 12-02 08:01 · step 600"
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
        f"{ADAPTER}={root / 'phrases' / 'step-000600'}",  # a name as the demo gives a run it started
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


def scroll_box(page, table: str) -> list[int]:
    """A table's box: [scrollWidth, clientWidth, scrollLeft] (wider content than box: it scrolls sideways)."""
    return page.locator(f"{table} .table-wrap").evaluate("w => [w.scrollWidth, w.clientWidth, w.scrollLeft]")


# lines a cell's text takes: a range over it has one box per line (its span is a block: one box however it wraps)
LINES = "(e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; })"


def header_cells(page, table: str) -> list[list]:
    """Each header: [text, width, height, lines of its text]."""
    return page.locator(f"{table} th").evaluate_all(
        """hs => hs.map(h => { const r = h.getBoundingClientRect();
             return [h.innerText.trim(), Math.round(r.width), Math.round(r.height),
                     LINES(h.querySelector('.header'))]; })""".replace("LINES", LINES)
    )


SEGMENT_TIMES = f"""() => [...document.querySelectorAll('#segments .virtual-body [role=row]')].map(r =>
    [...r.querySelectorAll('[role=gridcell]')].slice(0, 2).map(c => {LINES}(c.querySelector('span'))))"""


def test_segment_times_stay_on_one_line_on_a_phone(page):
    """At 375 px a segment's start and end read "00:00.0" on one line (they wrapped "00:0/0.0", headers "st/ar/t"),
    and the table fits the screen. Runs after the segment test above: its two segments are on the page."""
    open_tab(page, "Transcribe")
    assert page.locator("#segments .virtual-body [role=row]").count() >= 2, "premise: the segments are shown"
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(500)
    lines = page.evaluate(SEGMENT_TIMES)
    headers = [h[3] for h in header_cells(page, "#segments")]
    box = scroll_box(page, "#segments")
    page.screenshot(path=str(ROOT / "test-output" / "layout-segments-375.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert lines and all(n == [1, 1] for n in lines), f"lines per start/end cell: {lines}"
    assert headers == [1, 1, 1], f"lines per header: {headers}"
    assert box[0] <= box[1] + 1, f"the segments table scrolls sideways on a phone: {box}"


def test_the_adapters_tab_shows_a_loaded_adapter_whole(page):
    """The "Loaded adapter" picker shows the adapter's short name uncut, and the loaded-adapters table (name,
    checkpoint, step, base model) fits its box at 1280 px: no column off to the right."""
    open_tab(page, "Adapters")
    picker = page.locator("#unload-pick input")
    page.wait_for_function(
        "() => document.querySelector('#unload-pick input')?.value.startsWith('phrases')", timeout=10_000
    )
    value, scroll, client = picker.evaluate("e => [e.value, e.scrollWidth, e.clientWidth]")
    assert value == "phrases · 12-02 08:01 · step 600" and scroll <= client + 1, (value, scroll, client)
    assert "Adapters: phrases · 12-02 08:01 · step 600." in page.locator("#status").inner_text()  # the status line
    for table in ("#loaded", "#available"):
        box = scroll_box(page, table)
        assert box[0] <= box[1] + 1, f"{table} scrolls sideways at 1280 px: {box}"
    page.screenshot(path=str(ROOT / "test-output" / "layout-adapters.png"), full_page=True)


def test_error_pop_ups_close_when_the_tab_changes(page):
    """An error belongs to the tab it came from: switching tabs closes its pop-up (it stayed for 10 s, over the
    next tab)."""
    open_tab(page, "Dataset")
    page.locator("#dataset-add").click()  # nothing uploaded: refused with a message
    toast = page.get_by_test_id("toast-body")
    toast.filter(has_text="Upload clips").first.wait_for(timeout=10_000)
    page.get_by_role("tab", name="Train", exact=True).click()
    page.wait_for_timeout(1000)  # well within the 10 s a pop-up stays on its own
    assert toast.count() == 0, [t.inner_text() for t in toast.all()]


def test_the_dataset_table_keeps_its_columns_after_an_edit(page):
    """Two clips drafted, one text corrected at 1280 px: the header row stays one or two lines (it grew to 331 px),
    every column stays readable (task, language, ... were squeezed to 32-65 px and off to the right), the table
    does not scroll sideways and the clip name stays in view."""
    from test_ui_browser_adapters import wait_contains
    from test_ui_browser_loop import edit_cell

    open_tab(page, "Dataset")
    tab = page.locator("#tab-dataset")
    tab.locator("#dataset-files input[type=file]").set_input_files([CLIP, str(PHRASES.parent / "phrase01.flac")])
    page.wait_for_timeout(1000)
    page.locator("#dataset-add").click()
    wait_contains(page, "#dataset-message", "2 in all")
    page.locator("#dataset-draft").click()
    wait_contains(page, "#dataset-message", "Drafted 2 row(s)")
    edit_cell(page, "#dataset-table", 0, 1, "turn on the kitchen lights and set the oven to two hundred degrees please")
    headers = header_cells(page, "#dataset-table")
    box = scroll_box(page, "#dataset-table")
    clip = page.locator("#dataset-table .virtual-body [role=row]").first.locator("[role=gridcell]").first
    page.screenshot(path=str(ROOT / "test-output" / "layout-dataset-edited.png"), full_page=True)
    assert max(h[2] for h in headers) <= 60, f"header row height: {headers}"
    assert min(h[1] for h in headers) >= 70, f"column widths: {headers}"
    assert box[0] <= box[1] + 1 and box[2] == 0, f"the table scrolls sideways: {box}"
    assert clip.inner_text().strip() == "phrase00.flac" and clip.is_visible()
    assert [h[0] for h in headers] == ["clip", "text", "task", "language", "target language", "keywords", "seconds"]
