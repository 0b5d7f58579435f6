"""Training examples and the collator.

An example is the prompt (through the chat template, `<|audio|>` expanded to the clip's audio tokens)
followed by the target text and eos, with no space between (granite_workbench.prompts says why). Labels are -100
on the prompt and on padding, so the loss is on the answer only. Keyword-biased examples list words drawn from
the transcript plus distractors that are not in it, so the model learns to use the list rather than to copy it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import torch

from granite_workbench.ctc import ctc_text
from granite_workbench.prompts import TaskSpec, answer_text, model_prompt
from granite_workbench.tasks import TASKS

from .data import Row

IGNORE = -100
_WORD = re.compile(r"[^\W\d_][\w'-]{3,}", re.UNICODE)


def candidate_keywords(text: str) -> list[str]:
    """Words of 4+ letters, de-duplicated, in order: what a user would put in a keyword list."""
    seen, out = set(), []
    for w in _WORD.findall(text):
        w = w.strip("'-")
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return out


class ExampleBuilder:
    def __init__(
        self,
        processor,
        *,
        keywords_from_transcript: int = 2,
        keyword_distractors: int = 2,
        keyword_augment: float = 0.0,
        distractor_pool: list[str] | None = None,
        ctc_labels: int = 348,
    ):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.k_from_text = keywords_from_transcript
        self.k_distract = keyword_distractors
        self.augment = keyword_augment
        self.pool = sorted(set(distractor_pool or []))
        self.ctc_labels = ctc_labels  # the CTC head's alphabet size (label c is chr(c))

    def keywords_for(self, row: Row, rng: random.Random) -> list[str]:
        present = row.keywords or candidate_keywords(row.text)
        picked = rng.sample(present, min(self.k_from_text, len(present))) if not row.keywords else list(present)
        text_words = {w.lower() for w in candidate_keywords(row.text)} | {k.lower() for k in picked}
        options = [w for w in self.pool if w.lower() not in text_words]
        picked += rng.sample(options, min(self.k_distract, len(options)))
        rng.shuffle(picked)
        return picked

    def eval_spec(self, row: Row) -> TaskSpec:
        """The task an eval row is scored on: a keyword row gets a fixed list (the same at every evaluation)."""
        if not TASKS[row.task].keywords:
            return row.spec()
        return row.spec(tuple(self.keywords_for(row, random.Random(f"eval-{row.line}"))))

    def spec_for(self, row: Row, rng: random.Random) -> TaskSpec:
        """The row's task; with probability `keyword_augment` a task with a keyword variant is trained as that
        variant. Keyword tasks get a list drawn from the text plus distractors."""
        task = TASKS[row.task]
        if task.with_keywords and self.augment > 0 and rng.random() < self.augment:
            task = TASKS[task.with_keywords]
        if task.keywords:
            # the plain task with a (possibly empty) list: TaskSpec makes it the keyword variant when non-empty
            return TaskSpec(
                task.without_keywords or task.name, language=row.language, keywords=tuple(self.keywords_for(row, rng))
            )
        return row.spec()

    def build(self, row: Row, samples, rng: random.Random) -> dict[str, Any]:
        spec = self.spec_for(row, rng)
        # prompt and answer tokenized separately and joined, as IBM's fine-tuning notebook does
        prompt_ids = self.tokenizer(model_prompt(self.tokenizer, spec, len(samples)), add_special_tokens=False)[
            "input_ids"
        ]
        # the answer in the model's own format: tagged turns / times for the plus model's modes (Row.answer)
        answer_ids = self.tokenizer(answer_text(self.tokenizer, row.answer()), add_special_tokens=False)["input_ids"]
        # the CTC head writes what is said: its target is the transcript (none for a translation row)
        ctc = [] if spec.info.translation else [ord(c) for c in ctc_text(row.text, self.ctc_labels)]
        return {
            "input_ids": prompt_ids + answer_ids,
            "labels": [IGNORE] * len(prompt_ids) + answer_ids,
            "samples": samples,
            "spec": spec,
            "ctc_targets": ctc,
        }


class SpeechDataset(torch.utils.data.Dataset):
    """Rows -> examples. Keyword sampling is seeded by (seed, epoch, index): the same on every process and
    after a resume."""

    def __init__(self, rows: list[Row], builder: ExampleBuilder, seed: int = 0):
        self.rows, self.builder, self.seed, self.epoch = rows, builder, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}-{self.epoch}-{idx}")
        return self.builder.build(self.rows[idx], clip_samples(self.rows[idx]), rng)


_AUDIO_CACHE: dict[int, tuple[Row, Any]] = {}  # id(row) -> (row, samples); holding the row keeps its id unique
_CACHE_BYTES = 1 << 30  # decoded clips kept in memory across epochs and evaluations (1 GiB)


def clip_samples(row: Row):
    """A row's decoded 16 kHz samples, kept in memory (up to 1 GiB) for later epochs and evaluations."""
    hit = _AUDIO_CACHE.get(id(row))
    if hit is not None and hit[0] is row:
        return hit[1]
    samples = row.load().samples
    if sum(a.nbytes for _, a in _AUDIO_CACHE.values()) + samples.nbytes <= _CACHE_BYTES:
        _AUDIO_CACHE[id(row)] = (row, samples)
    return samples


@dataclass
class Collator:
    processor: Any

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tok = self.processor.tokenizer
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):  # right padding: the answer ends each row
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        # features per clip (no padding): the encoder has no attention mask, so padding would change its
        # output; per-clip features match what inference computes
        feats = [self.processor.audio_processor([b["samples"]], device="cpu")["input_features"] for b in batch]
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": labels,
            "audio_features": feats,
            "ctc_targets": [b.get("ctc_targets", []) for b in batch],
        }
