"""A fresh install's first training run, in headless Chromium: the Train tab's curves draw their lines while the
run goes and after it, although the charts started out empty (an empty checkpoints folder)."""

import io
import time

import numpy as np
import pytest
from ui_helpers import browser_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def page(tiny_dir, tmp_path_factory):
    empty = tmp_path_factory.mktemp("fresh-checkpoints")  # no earlier run: the charts start with no data
    with browser_page("--model", str(tiny_dir), "--checkpoints", str(empty), height=1100) as pg:
        yield pg


def coloured_pixels(page, selector: str) -> int:
    """Pixels of the chart that are strongly coloured (lines, points, legend swatches; axes and text are grey)."""
    from PIL import Image

    shot = Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")
    rgb = np.asarray(shot).astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum())


def test_the_first_runs_curves_are_drawn(page, out_dir):
    page.get_by_role("tab", name="Train").click()
    tab = page.locator("#tab-train")
    empty = {s: coloured_pixels(page, s) for s in ("#loss-plot", "#eval-plot")}
    tab.get_by_label("Steps", exact=True).fill("40")
    page.locator("#train-eval input").click()
    page.locator("#train-eval [role=option]").filter(has_text="data/phrases/train.jsonl").first.click()
    page.wait_for_timeout(500)
    tab.get_by_role("button", name="Start fine-tuning").click()
    deadline = time.time() + 240
    during = 0
    while time.time() < deadline and "finished" not in page.locator("#train-status").inner_text():
        if "running, step" in page.locator("#train-status").inner_text():
            during = max(during, coloured_pixels(page, "#loss-plot") - empty["#loss-plot"])
        time.sleep(1.5)
    assert "finished" in page.locator("#train-status").inner_text()
    page.wait_for_timeout(3000)  # the next refresh
    after = {s: coloured_pixels(page, s) - empty[s] for s in empty}
    page.locator("#loss-plot").screenshot(path=str(out_dir / "first-run-loss.png"))
    page.locator("#eval-plot").screenshot(path=str(out_dir / "first-run-eval.png"))
    assert during > 200, f"the loss curve drew {during} coloured pixels while the run went"
    assert after["#loss-plot"] > 200 and after["#eval-plot"] > 50, after
