"""The evaluation charts keep a readable shape and readable names with long adapter names (issue 31, item 4)."""

from conftest import PHRASES
from PIL import Image

from granite_workbench.engine import FakeEngine
from granite_workbench.evaluation import chart_name, plot_charts, run_evaluation
from granite_workbench.manifest import read_manifest

LONG = "ux-demo-cpu_smoke-1202-0801-step-000030"


def test_chart_names_read_as_the_lists_do():
    """A run the demo named itself reads as in every list (dataset, start, step); another long name keeps both
    ends; the summary table names systems the same way."""
    from granite_workbench.ui.tabs.evaluate import summary_table

    assert chart_name("base") == "base"
    assert chart_name(LONG) == "ux-demo · 12-02 08:01 · step 30"
    other = chart_name("kitchen-commands-adapter-trained-on-the-new-set-v2")
    assert len(other) <= 34 and other.startswith("kitchen-command") and other.endswith("-the-new-set-v2")
    engine = FakeEngine(fn=lambda r: "turn on the lights" if r.adapter else "turn the lights")
    result = run_evaluation(engine, read_manifest(PHRASES)[:2], ["base", LONG])
    assert list(summary_table(result)["system"]) == ["base", "ux-demo · 12-02 08:01 · step 30"]


def test_charts_keep_their_shape_with_long_names(tmp_path):
    rows = read_manifest(PHRASES)[:6]
    engine = FakeEngine(fn=lambda r: "turn on the lights" if r.adapter else "turn the lights")
    result = run_evaluation(engine, rows, ["base", LONG, LONG + "-b"])
    metrics, deltas = plot_charts(result, tmp_path)
    for path in (metrics, deltas):
        w, h = Image.open(path).size
        assert w <= 12 * 110 and h >= 4 * 110 and w / h <= 3.0, (path.name, w, h)  # was ~6:1, squeezed to 130 px
