"""What a model cannot do is not offered in the demo (headless Chromium): with the CTC model loaded the Translate
and Keyword biasing tabs are gone and decoding is greedy only; switching to the 4.0 miniature brings them back;
with the plus miniature the Transcribe tab offers "Who spoke when"."""

import pytest
from ui_helpers import browser_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def tab_titles(page) -> list[str]:
    return [t.strip() for t in page.get_by_role("tab").all_inner_texts() if t.strip()]


def wait_for_status(page, text: str, timeout: float = 120_000) -> None:
    """Wait until the status line says `text`, in its words or in its technical details (folded: textContent)."""
    page.wait_for_function(
        "t => document.querySelector('#status') && document.querySelector('#status').textContent.includes(t)",
        arg=text,
        timeout=timeout,
    )


def load(page, model: str) -> None:
    box = page.locator("#model-id input")
    if not box.is_visible():
        page.get_by_text("Model settings").click()
    box.fill(model)
    box.press("Escape")
    page.get_by_role("button", name="Load model").click()
    wait_for_status(page, f"{model} on cpu")
    page.wait_for_timeout(1500)  # the status poll's last tick updates what the model offers


def test_tabs_and_controls_follow_the_loaded_model(out_dir):
    with browser_page("--model", "tiny-ctc", height=1000) as page:
        wait_for_status(page, "tiny-ctc on cpu")
        shown = page.locator("#status").inner_text()  # what a person reads without opening the details
        assert "a miniature of Granite Speech 5.0 Turbo CTC" in shown and "this computer's processor" in shown, shown
        assert "tiny-ctc on cpu" not in shown, shown
        page.wait_for_timeout(1000)
        titles = tab_titles(page)
        assert "Transcribe" in titles and "Translate" not in titles and "Keyword biasing" not in titles, titles
        page.screenshot(path=str(out_dir / "family-ctc-tabs.png"))
        page.get_by_role("tab", name="Transcribe").click()
        assert not page.locator("#speakers").is_visible()

        load(page, "tiny-plus")
        titles = tab_titles(page)
        assert "Translate" in titles and "Keyword biasing" in titles, titles
        page.get_by_role("tab", name="Transcribe").click()
        page.locator("#tab-transcribe").get_by_text("Decoding", exact=True).first.click()
        page.locator("#speakers").wait_for(state="visible", timeout=15_000)  # the accordion opens, then it shows
        page.screenshot(path=str(out_dir / "family-plus-transcribe.png"))

        load(page, "tiny")
        assert "Translate" in tab_titles(page)
        assert not page.locator("#speakers").is_visible()
