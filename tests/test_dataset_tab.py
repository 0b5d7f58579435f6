"""The Dataset tab's actions, called directly: add clips, draft with the model, correct, listen, save with splits."""

import json

import pytest
import soundfile as sf

gr = pytest.importorskip("gradio")

from conftest import PHRASES, ready_workbench

from granite_workbench.dataset_builder import split_counts
from granite_workbench.manifest import read_manifest, validate
from granite_workbench.service import ModelService
from granite_workbench.session import Workbench
from granite_workbench.ui.tabs.dataset import add_clips, draft, listen, remove_row, save

CLIPS = [str(PHRASES.parent / f"phrase0{i}.flac") for i in range(5)]
TEXTS = [json.loads(x)["text"] for x in PHRASES.read_text().splitlines()[:5]]


@pytest.fixture(scope="module")
def wb(tiny_dir, trained_adapter, tmp_path_factory):
    return ready_workbench(
        tiny_dir, trained_adapter[1], max_new_tokens=24, data_roots=[tmp_path_factory.mktemp("root")]
    )


def test_the_loop_add_draft_correct_save(wb, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    table, clips, msg = add_clips(wb, None, [], CLIPS[:4] + [str(bad)], None, "asr", "en", "", "")
    assert len(table) == 4 and len(clips) == 4 and "notes.wav" in msg  # the bad clip is named, not added
    table, clips, msg = add_clips(wb, table, clips, None, CLIPS[4], "asr", "en", "", "")  # a "recording"
    assert len(table) == 5 and list(table["seconds"]) == pytest.approx([sf.info(c).duration for c in CLIPS], abs=0.01)
    table, msg = draft(wb, table, clips, "phrases")
    assert sum(t == e for t, e in zip(table["text"], TEXTS)) >= 4  # the adapter knows these phrases
    table.at[2, "text"] = "corrected by hand"
    assert listen(table, clips, 3) == clips[2]
    table, clips, msg = remove_row(table, clips, 5)
    assert len(table) == len(clips) == 4

    report = save(wb, "kitchen", table, clips, 25, 25)
    folder = wb.files.data_roots[0] / "datasets" / "kitchen"
    assert "Saved **4 rows**" in report and "train 2, dev 1, test 1" in report and "every row is usable" in report
    rows = read_manifest(folder / "all.jsonl")
    assert [r.text for r in rows][2] == "corrected by hand" and len(rows) == 4
    good, problems = validate(rows, None, source="all", max_audio_seconds=60, max_label_tokens=100)
    assert len(good) == 4 and not problems.problems
    info = sf.info(str(folder / "audio" / "0001.flac"))
    assert info.samplerate == 16000 and info.channels == 1
    splits = {s: [r.text for r in read_manifest(folder / f"{s}.jsonl")] for s in ("train", "dev", "test")}
    assert sorted(sum(splits.values(), [])) == sorted(r.text for r in rows)  # each row in exactly one split
    label = f"{wb.files.data_roots[0].name}/datasets/kitchen/train.jsonl"
    assert label in wb.files.manifest_choices()  # offered in the Train and Evaluate tabs

    with pytest.raises(gr.Error, match="exists already"):
        save(wb, "kitchen", table, clips, 0, 0)
    assert "Saved **4 rows**" in save(wb, "kitchen", table, clips, 0, 0, overwrite=True)
    with pytest.raises(gr.Error, match="Dataset name"):
        save(wb, "../../etc", table, clips, 0, 0)


def test_rows_without_text_are_reported_not_dropped(wb):
    table, clips, _ = add_clips(wb, None, [], CLIPS[:2], None, "asr", "en", "", "")
    table.at[0, "text"] = "turn on the kitchen lights"
    report = save(wb, "partial", table, clips, 0, 0)
    assert "Saved **1 rows**" in report and "row 2: no text" in report


def test_splits_keep_training_rows():
    assert split_counts(10, 0.1, 0.1) == {"train": 8, "dev": 1, "test": 1}
    assert split_counts(2, 0.5, 0.4) == {"train": 2, "dev": 0, "test": 0}
    assert split_counts(3, 0.4, 0.4) == {"train": 1, "dev": 1, "test": 1}


def test_showcase_cannot_build_datasets(tiny_dir):
    service = ModelService(str(tiny_dir))
    showcase = Workbench(service, mode="showcase")
    with pytest.raises(gr.Error, match="not available in this demo"):
        add_clips(showcase, None, [], CLIPS[:1], None, "asr", "en", "", "")


def test_a_clip_added_after_a_removal_keeps_every_rows_audio(wb):
    table, clips, _ = add_clips(wb, None, [], CLIPS[:3], None, "asr", "en", "", "")
    table, clips, _ = remove_row(table, clips, 1)
    table, clips, _ = add_clips(wb, table, clips, [CLIPS[3]], None, "asr", "en", "", "")
    assert len(clips) == len(set(clips)) == 3  # three distinct files
    durations = [round(sf.info(c).duration, 2) for c in clips]
    assert durations == [round(sf.info(c).duration, 2) for c in CLIPS[1:4]]  # each row still plays its own clip
    assert list(table["seconds"]) == pytest.approx(durations, abs=0.01)


def test_drafts_are_removed_with_their_session_or_when_abandoned(wb):
    import os
    import time

    _, clips, _ = add_clips(wb, None, [], CLIPS[:1], None, "asr", "en", "", "")
    folder = os.path.dirname(clips[0])
    assert os.path.basename(folder).startswith("dataset-") and os.path.dirname(folder) == str(wb.files.downloads)
    assert not wb.files.remove_draft(wb.files.downloads) and not wb.files.remove_draft(
        PHRASES.parent
    )  # only draft folders
    assert PHRASES.parent.exists()
    assert wb.files.remove_draft(folder) and not os.path.exists(
        folder
    )  # what the tab's state does when Gradio drops it

    _, old, _ = add_clips(wb, None, [], CLIPS[:1], None, "asr", "en", "", "")
    _, fresh, _ = add_clips(wb, None, [], CLIPS[:1], None, "asr", "en", "", "")
    long_ago = time.time() - 25 * 3600
    os.utime(os.path.dirname(old[0]), (long_ago, long_ago))  # a tab nobody touched for a day
    _, newest, _ = add_clips(wb, None, [], CLIPS[:1], None, "asr", "en", "", "")
    assert not os.path.exists(old[0]) and os.path.exists(fresh[0]) and os.path.exists(newest[0])


def test_the_tabs_session_state_removes_its_draft(wb):
    """The Dataset tab keeps a session's clips in a gr.State whose delete callback (Gradio calls it an hour after
    the browser tab closes) removes the draft folder."""
    import os

    from granite_workbench.ui import build_demo

    demo = build_demo(wb)
    callbacks = [
        b.delete_callback
        for b in demo.blocks.values()
        if isinstance(b, gr.State) and b.delete_callback.__module__.endswith("tabs.dataset")
    ]
    assert len(callbacks) == 1
    _, clips, _ = add_clips(wb, None, [], CLIPS[:2], None, "asr", "en", "", "")
    callbacks[0]([])  # a session that added nothing
    callbacks[0](clips)
    assert not os.path.exists(os.path.dirname(clips[0]))


def test_first_steps_get_messages_that_say_what_to_do(wb):
    """Draft before Add clips says to add them; two rows with dev/test shares say why there is no dev or test split;
    Load with nothing picked says to pick one (issue 31, items 5 and 7)."""
    from granite_workbench.ui.tabs.adapters import load_adapter

    table, msg = draft(wb, None, [CLIPS[0]], "base")
    assert table.empty and "press **Add clips**" in msg
    table, clips, _ = add_clips(wb, None, [], CLIPS[:2], None, "asr", "en", "", "")
    table["text"] = TEXTS[:2]
    report = save(wb, "two-rows", table, clips, 10, 10)
    assert "Saved **2 rows**" in report and "No dev or test split: with 2 rows every row went to training" in report
    with pytest.raises(gr.Error, match="Pick a checkpoint in the list first"):
        load_adapter(wb, "")


def test_evaluate_systems_take_a_newly_loaded_adapter_once(wb):
    from granite_workbench.ui.tabs.evaluate import follow_adapters

    loaded = wb.adapters.loaded()
    assert [a["name"] for a in loaded] == ["phrases"], "test premise: the fixture loads one adapter"
    update, seen = follow_adapters(wb, ["base"], [])
    assert update["value"] == ["base", "phrases"] and seen == ["phrases"]  # a new adapter joins the selection
    update, seen = follow_adapters(wb, ["base"], seen)
    # deselected by the user: stays out, and the value is not sent back (a stale one could undo a newer choice)
    assert "value" not in update and update["choices"]
    update, _ = follow_adapters(wb, ["base", "gone"], seen)
    assert update["value"] == ["base"]  # not loaded any more: leaves


def test_generated_adapter_names_read_short_in_the_lists(wb):
    from granite_workbench.adapters import display_name
    from granite_workbench.ui.common import model_choices
    from granite_workbench.ui.tabs.evaluate import system_choices

    assert display_name("ux-demo-cpu_smoke-1202-0801-step-000030") == "ux-demo · 12-02 08:01 · step 30"
    assert display_name("loop-run-step-000040") == "loop-run-step-000040"  # a name someone chose stays
    assert display_name("phrases-step-000600") == "phrases-step-000600"
    # the lists show the short form; what a request sends stays the adapter's name
    assert ("Adapter: phrases", "phrases") in model_choices(wb) and ("phrases", "phrases") in system_choices(wb)
