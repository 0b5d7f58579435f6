"""Evaluate's "Which Granite for my data?" panel in headless Chromium: two models over the same rows, the cost table,
the accuracy-against-speed chart and the rows they disagree on."""

import pytest
from ui_helpers import browser_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_models_panel_compares_two_models(out_dir):
    with browser_page("--model", "tiny", height=1400) as page:
        page.get_by_role("tab", name="Evaluate").click()
        page.locator("#eval-limit textarea, #eval-limit input").first.fill("3")
        page.get_by_text("Which Granite for my data? Compare models").click()
        models = page.locator("#models-list textarea")
        models.wait_for(state="visible", timeout=15_000)
        assert models.input_value().splitlines() == ["tiny", "tiny-ctc"]
        page.locator("#models-go").click()
        page.locator("#models-chart img").wait_for(state="visible", timeout=180_000)
        cells = [c.strip() for c in page.locator("#models-table").inner_text().splitlines()]
        assert "tiny" in cells and "tiny-ctc" in cells and "RTFx" in cells, cells
        assert "utterances × 2 models" in page.locator("#models-note").inner_text()
        box = page.locator("#models-chart img").bounding_box()
        assert box["width"] > 400 and box["height"] > 250, box  # a chart one can read, not a strip
        assert page.locator("#models-disagree").inner_text().strip()
        page.locator("#models-panel").scroll_into_view_if_needed()
        page.screenshot(path=str(out_dir / "evaluate-models.png"), full_page=True)
