"""End to end in a real headless Chromium (Debian's, driven by Playwright): upload, run each tab, look.

Screenshots of every tab land in test-output/ for a person to check.
"""

import pytest
from conftest import espeak
from ui_helpers import browser_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def page(tiny_dir, tmp_path_factory):
    """The demo started from another folder than the project's, as an installed one would be."""
    with browser_page("--model", str(tiny_dir), cwd=tmp_path_factory.mktemp("elsewhere")) as pg:
        yield pg


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return str(espeak("welcome to the cardiology clinic", tmp_path_factory.mktemp("br") / "visit.wav"))


def upload(page, panel, path):
    panel.locator("input[type=file][accept*=audio]").first.set_input_files(path)
    panel.locator("audio, .waveform-container, [data-testid='waveform-Audio']").first.wait_for(timeout=30_000)


def wait_text(page, selector):
    """Wait until the textarea under `selector` has text; return it."""
    page.wait_for_function(f"() => document.querySelector('{selector} textarea')?.value.length > 0", timeout=60_000)
    return page.locator(f"{selector} textarea").input_value()


def test_transcribe_tab(page, clip, out_dir):
    tab = page.locator("#tab-transcribe")  # open first
    upload(page, tab, clip)
    page.get_by_role("button", name="Transcribe", exact=True).click()
    assert wait_text(page, "#transcript")
    page.wait_for_timeout(500)
    page.screenshot(path=str(out_dir / "tab-transcribe.png"), full_page=True)
    files = "".join(tab.locator("#downloads").inner_text().split())  # names are split over elements
    assert all(f"visit.{ext}" in files for ext in ("txt", "srt", "vtt", "json")), files
    assert "00:00.0" in tab.locator("#segments").inner_text()


def _chooser(page):
    def choose(dropdown, option):
        """Open a dropdown; pick `option`, or return the offered options (and leave the list open)."""
        page.locator(f"{dropdown} input").click()
        opts = page.locator(f"{dropdown} [role=option]")
        if option is None:
            opts.first.wait_for()
            return {o.replace("✓", "").strip() for o in opts.all_inner_texts()}
        opts.filter(has_text=option).first.click()

    return choose


def test_translate_tab(page, clip, out_dir):
    page.get_by_role("tab", name="Translate").click()
    tab = page.locator("#tab-translate")
    # only supported directions are offered: from English the seven en->X targets, from French only English
    en_targets = {
        "French (fr)",
        "German (de)",
        "Spanish (es)",
        "Portuguese (pt)",
        "Japanese (ja)",
        "Italian (it)",
        "Chinese (zh)",
    }
    choose = _chooser(page)
    options = choose("#tgt-lang", None)
    assert options == en_targets, options
    choose("#tgt-lang", "French (fr)")
    choose("#src-lang", "French (fr)")
    page.wait_for_function("() => document.querySelector('#tgt-lang input')?.value === 'English (en)'")
    assert choose("#tgt-lang", None) == {"English (en)"}
    choose("#tgt-lang", "English (en)")
    choose("#src-lang", "English (en)")
    page.wait_for_function("() => document.querySelector('#tgt-lang input')?.value === 'French (fr)'")
    choose("#tgt-lang", "Japanese (ja)")
    upload(page, tab, clip)
    tab.get_by_role("button", name="Translate", exact=True).click()
    assert wait_text(page, "#translation")
    page.screenshot(path=str(out_dir / "tab-translate.png"), full_page=True)


def test_keyword_tab(page, clip, out_dir):
    page.get_by_role("tab", name="Keyword biasing").click()
    tab = page.locator("#tab-keywords")
    upload(page, tab, clip)
    page.locator("#keywords-input textarea, #keywords-input input").first.fill("cardiology, clinic")
    tab.get_by_role("button", name="Compare without / with keywords").click()
    page.locator("#kw-summary").get_by_text("With keywords:").wait_for(timeout=60_000)
    summary = page.locator("#kw-summary").inner_text()
    assert "/2 found" in summary and "Without keywords:" in summary
    assert page.locator("#kw-plain .transcript").count() == 1 and page.locator("#kw-biased .transcript").count() == 1
    page.screenshot(path=str(out_dir / "tab-keywords.png"), full_page=True)


def test_error_is_visible_and_server_survives(page, tmp_path, out_dir):
    page.get_by_role("tab", name="Transcribe").click()
    page.get_by_role("button", name="Transcribe", exact=True).click()  # the clip from the first test is set
    page.get_by_role("tab", name="Keyword biasing").click()
    tab = page.locator("#tab-keywords")
    page.locator("#keywords-input textarea, #keywords-input input").first.fill(
        ", ".join(f"term{i}" for i in range(100))
    )
    tab.get_by_role("button", name="Compare without / with keywords").click()
    page.get_by_text("Too many keywords: 100").first.wait_for(timeout=30_000)
    page.screenshot(path=str(out_dir / "error-too-many-keywords.png"), full_page=True)


def test_about_tab(page, out_dir):
    page.get_by_role("tab", name="About").click()
    page.get_by_text("What it does").first.wait_for()
    assert page.get_by_text("ibm-granite/granite-4.0-1b-speech").count() >= 1
    page.screenshot(path=str(out_dir / "tab-about.png"), full_page=True)


def test_an_example_clip_fills_the_inputs_and_transcribes(page, out_dir):
    """The example tables (Transcribe, Keywords): a click puts the clip in the player and its language or
    keywords in their fields, and the clip transcribes (the clips are served from the project's data/examples
    although the demo runs from another folder)."""
    page.get_by_role("tab", name="Transcribe", exact=True).click()
    tab = page.locator("#tab-transcribe")
    tab.get_by_text("es_reunion.flac").first.click()
    page.wait_for_function("() => document.querySelector('#transcribe-lang input').value === 'Spanish (es)'")
    page.wait_for_function("() => document.querySelector('#transcribe-audio').innerHTML.includes('es_reunion')")
    tab.get_by_role("button", name="Transcribe", exact=True).click()
    page.locator("#downloads").get_by_text("es_reunion").first.wait_for(timeout=60_000)  # its transcript's files
    assert page.locator("#transcript textarea").input_value()
    page.get_by_role("tab", name="Keyword biasing").click()
    kw = page.locator("#tab-keywords")
    kw.get_by_text("en_cardiology.flac").first.click()
    page.wait_for_function(
        "() => document.querySelector('#keywords-audio').innerHTML.includes('en_cardiology') && "
        "document.querySelector('#keywords-input textarea').value === "
        "'metoprolol, atorvastatin, echocardiogram, hypertrophy'"
    )
    page.screenshot(path=str(out_dir / "examples-picked.png"), full_page=True)
