"""Training data for fine-tuning: the shared manifest format plus the bad-row policy.

The format and the validation live in `granite_workbench.manifest` (one place); this module reads
the train / eval data a `TrainConfig` names and applies `on_bad_rows`.
"""

from __future__ import annotations

from granite_workbench.manifest import DataError, Row, ValidationReport, read_dataset, read_manifest, validate  # noqa: F401


def load_rows(cfg, tokenizer, which: str = "train", extra=None) -> tuple[list[Row], ValidationReport]:
    """Read and validate the train or eval data named in the config (`extra`: the recipe's own row checks);
    apply the bad-row policy."""
    if which == "train":
        manifest, split = cfg.train_manifest, cfg.dataset_split
    else:
        manifest, split = cfg.eval_manifest, cfg.eval_split
    if manifest:
        rows, source = read_manifest(manifest, cfg.default_task, cfg.default_language), manifest
    elif cfg.dataset and split:
        rows = read_dataset(
            cfg.dataset, split, cfg.audio_column, cfg.text_column, cfg.default_task, cfg.default_language
        )
        source = f"{cfg.dataset}[{split}]"
    else:
        return [], ValidationReport(source="(none)")
    good, report = validate(
        rows,
        tokenizer,
        source=source,
        max_audio_seconds=cfg.max_audio_seconds,
        max_label_tokens=cfg.max_label_tokens,
        extra=extra,
    )
    if report.problems and cfg.on_bad_rows == "stop":
        raise DataError("Bad rows found and on_bad_rows=stop:\n" + report.summary())
    if not good:
        raise DataError(f"No usable rows in {source}:\n" + report.summary())
    return good, report
