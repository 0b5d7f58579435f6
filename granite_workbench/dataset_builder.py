"""A dataset made of recorded or uploaded clips and their corrected transcripts, saved as manifests.

Used by the demo's Dataset tab (and usable from Python):

    rows = [DraftRow("clip1.wav", text="turn on the lights"), DraftRow("clip2.m4a", text="call the desk")]
    saved = save_dataset("kitchen", rows, root=Path("data/datasets"), dev_share=0.1, test_share=0.1)

The folder gets `audio/NNNN.flac` (16 kHz mono, as the model reads it), `all.jsonl` and the splits `train.jsonl`,
`dev.jsonl`, `test.jsonl` (rows shuffled with a fixed seed; every split that gets rows is written), in the
manifest format of manifest.py. It is written to a hidden folder and renamed, so a dataset is whole or absent.
Rows that cannot be saved (no text, unreadable audio) are reported by number, never dropped silently.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .audio import AudioError, load_audio
from .keywords import split_keywords
from .paths import folder_name

MAX_ROWS = 2000
SPLITS = ("train", "dev", "test")


class DatasetError(ValueError):
    pass


@dataclass
class DraftRow:
    audio: str  # the clip on this machine (an upload or a recording)
    text: str = ""
    task: str = "asr"
    language: str = "en"
    target_language: str | None = None
    keywords: list[str] = field(default_factory=list)

    def record(self, audio_ref: str) -> dict:
        rec = {"audio": audio_ref, "text": self.text.strip(), "task": self.task, "language": self.language}
        if self.target_language:
            rec["target_language"] = self.target_language
        if self.keywords:
            rec["keywords"] = list(self.keywords)
        return rec


@dataclass
class SavedDataset:
    folder: Path
    counts: dict[str, int]  # split -> rows
    skipped: list[str]  # "row 3: no text" ...

    def manifest(self, split: str) -> Path:
        return self.folder / f"{split}.jsonl"


def split_counts(n: int, dev_share: float, test_share: float) -> dict[str, int]:
    """Rows per split: dev and test get their share rounded, at least one each when asked for and possible,
    and train keeps at least one row."""
    if not (0 <= dev_share < 1 and 0 <= test_share < 1 and dev_share + test_share < 1):
        raise DatasetError("The dev and test shares must each be in [0, 1) and leave rows for training.")
    dev = max(1, round(n * dev_share)) if dev_share > 0 and n >= 3 else 0
    test = max(1, round(n * test_share)) if test_share > 0 and n >= 3 else 0
    while dev + test >= n and (dev or test):  # keep training rows
        if test >= dev and test:
            test -= 1
        else:
            dev -= 1
    return {"train": n - dev - test, "dev": dev, "test": test}


def save_dataset(
    name: str,
    rows: list[DraftRow],
    root: str | Path,
    *,
    dev_share: float = 0.0,
    test_share: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
    max_seconds: float | None = None,
) -> SavedDataset:
    """Write the rows with their audio into `root/name` (see the module doc); returns what was written."""
    import soundfile as sf

    name = folder_name(name, "Dataset name", DatasetError)
    if len(rows) > MAX_ROWS:
        raise DatasetError(f"At most {MAX_ROWS} rows per dataset (got {len(rows)}).")
    root = Path(root)
    folder = root / name
    if folder.exists() and not overwrite:
        raise DatasetError(f"A dataset named {name} exists already; choose another name or overwrite it.")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        (tmp / "audio").mkdir()
        records, skipped = [], []
        for i, row in enumerate(rows, start=1):
            if not row.text.strip():
                skipped.append(f"row {i}: no text")
                continue
            try:
                clip = load_audio(row.audio, **({"max_seconds": max_seconds} if max_seconds else {}))
            except AudioError as exc:
                skipped.append(f"row {i}: {exc}")
                continue
            ref = f"audio/{len(records) + 1:04d}.flac"
            sf.write(tmp / ref, clip.samples, clip.sample_rate, format="FLAC")
            records.append(DraftRow(**{**row.__dict__, "keywords": split_keywords(row.keywords)}).record(ref))
        if not records:
            raise DatasetError("Nothing to save: " + ("; ".join(skipped) if skipped else "no rows") + ".")
        counts = split_counts(len(records), dev_share, test_share)
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        bounds = {"dev": order[: counts["dev"]], "test": order[counts["dev"] : counts["dev"] + counts["test"]]}
        bounds["train"] = order[counts["dev"] + counts["test"] :]
        _write_jsonl(tmp / "all.jsonl", records)
        for split in SPLITS:
            if counts[split]:
                _write_jsonl(tmp / f"{split}.jsonl", [records[k] for k in sorted(bounds[split])])
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SavedDataset(folder, {"all": len(records), **counts}, skipped)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
