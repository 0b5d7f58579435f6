"""The CTC engine: Granite Speech 5.0 Turbo CTC (`GraniteSpeech5ForCTC`) in this process — no language model.

Decoding is what the model card says: non-autoregressive greedy CTC (per frame the most likely unit; repeats
merged, blanks dropped — the tokenizer's own CTC `decode`). A batch is one forward pass per group of similar
lengths (`length_groups`). Each clip's features are computed alone and zero-padded here, with the attention mask,
because the feature extractor normalises a padded batch differently from a single clip (measured: 0.18 apart);
so batched output equals one-at-a-time output. Word times come from the same emissions: a word runs from the
first frame of its first unit to the last frame of its last unit (units that start with `▁` start a word).
There is no prompt: keywords and translation are refused with the reason, and only greedy decoding exists.
"""

from __future__ import annotations

import numpy as np

from .ctc import Word
from .engine import Capabilities, DecodingOptions, Generation, Request
from .loading import LoadedModel, unwrap_peft
from .local_engine import InProcessEngine
from .models import require_task, short_name, spec_for

WORD_START = "▁"
# Its encoder attends within fixed blocks (config `context_size`) and its convolutions are local: a longer chunk
# costs in proportion and sees nothing more, so long audio is cut less often (each cut needs the VAD over the clip).
CTC_CHUNK_SECONDS = 120.0
GREEDY_NOTE = "the CTC model decodes greedily (it has no language model to verify or continue a draft)"


class CTCEngine(InProcessEngine):
    """A loaded CTC-only model with its adapters (peft, as for the LLM models)."""

    def __init__(self, lm: LoadedModel):
        super().__init__(lm)
        self.spec = spec_for(lm.model_id, lm.architecture)
        self.capabilities = Capabilities(
            chunk_seconds=CTC_CHUNK_SECONDS,
            word_times="the CTC model's own emissions",
            tasks=self.spec.tasks,
            decoding=("greedy",),
            word_timestamps=True,
            trains_here=True,
            recipes=self.spec.recipes,
            languages=self.spec.languages,
        )

    # -- decoding --------------------------------------------------------------------------------------
    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[Generation]:
        options = options or DecodingOptions()
        for r in batch:
            require_task(self.capabilities, r.spec.task, short_name(self.model_id))
        adapter = batch[0].adapter
        if any(r.adapter != adapter for r in batch):
            raise ValueError("One batch must use one adapter.")
        note = GREEDY_NOTE if options.decoding != "greedy" else None
        out: list[Generation | None] = [None] * len(batch)
        with self.adapters.use(adapter):
            for group in length_groups([len(r.samples) for r in batch]):
                logits, lengths = self.emissions([batch[i].samples for i in group])
                for i, row, n in zip(group, logits, lengths):
                    out[i] = self.answer(batch[i], row[:n].argmax(-1).tolist(), options.word_timestamps, note)
        return out

    def answer(self, request: Request, ids: list[int], word_timestamps: bool, note: str | None) -> Generation:
        text = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        words = unit_words(ids, self.tokenizer, request.duration / max(1, len(ids))) if word_timestamps else None
        return Generation(text, path="greedy", llm_passes=0, words=words, note=note)

    def emissions(self, clips: list[np.ndarray]):
        """(logits (batch, frames, units) as float32, valid frames per clip): one forward pass over the batch."""
        import torch

        model = self.lm.model
        core = unwrap_peft(model)
        x, mask = padded_features(self.lm.processor.feature_extractor, clips)
        with torch.inference_mode():
            logits = model(input_features=x.to(core.device, core.dtype), attention_mask=mask.to(core.device)).logits
            valid = core._get_output_attention_mask(mask.to(core.device), target_length=logits.shape[1]).sum(-1)
        return logits.float().cpu(), valid.cpu().tolist()


def padded_features(feature_extractor, clips: list[np.ndarray]):
    """(features (batch, frames, dims), attention mask): each clip's features computed alone, zero-padded."""
    import torch

    feats = [feature_extractor([c], sampling_rate=16_000, return_tensors="pt")["input_features"][0] for c in clips]
    width = max(f.shape[0] for f in feats)
    x = torch.zeros((len(feats), width, feats[0].shape[1]))
    mask = torch.zeros((len(feats), width), dtype=torch.long)
    for i, f in enumerate(feats):
        x[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = 1
    return x, mask


MAX_PADDING = 1.25  # a forward pass computes at most this much padded audio per second of real audio


def length_groups(lengths: list[int]) -> list[list[int]]:
    """Indices grouped for one forward pass each, longest first: a group grows while its padded size stays within
    `MAX_PADDING` of its real size (padding a 5 s chunk to 29 s cost 40% more than decoding the chunks alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        g = groups[-1] if groups else None
        if g and lengths[g[0]] * (len(g) + 1) <= MAX_PADDING * (sum(lengths[j] for j in g) + lengths[i]):
            g.append(i)
        else:
            groups.append([i])
    return groups


def unit_words(ids: list[int], tokenizer, frame_seconds: float, blank: int = 0) -> list[Word]:
    """Words with times from one clip's greedy CTC path (a unit id per frame)."""
    words: list[list] = []  # [start frame, end frame, pieces]
    prev = blank
    for t, u in enumerate(ids):
        if u != blank and u != prev:
            piece = tokenizer.convert_ids_to_tokens(u)
            if piece.startswith(WORD_START) or not words:
                words.append([t, t, [piece]])
            else:
                words[-1][2].append(piece)
        if u != blank:
            words[-1][1] = t
        prev = u
    out = []
    for start, end, pieces in words:
        text = tokenizer.convert_tokens_to_string(pieces).strip()
        if text:
            out.append(Word(round(start * frame_seconds, 3), round((end + 1) * frame_seconds, 3), text))
    return out
