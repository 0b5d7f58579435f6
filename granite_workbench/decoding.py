"""Decoding strategies on a LocalEngine: greedy, IBM's self-speculative decoding, and its exact variant.

`speculative` (IBM, arXiv 2603.11243; the notebook `speculative_decoding_notebook.ipynb`), per request:
  1. ctc       the CTC head's greedy draft, accepted as is when its max frame entropy <= `ctc_threshold`;
  2. verified  else the LLM reads prompt + draft in ONE forward pass; accepted when every draft token's
               probability (softmax of logits / logits_scaling) >= `confidence_threshold`;
  3. fallback  else ordinary greedy decoding.
`speculative-exact`: the same forward pass accepts the longest draft prefix that equals the LLM's argmax at every
  position (how transformers' assisted generation checks candidates) plus the LLM's own next token; when that is
  eos the answer is complete (verified), otherwise greedy decoding continues from there (fallback), reusing the
  pass's keys and values (a rejected draft costs the draft tokens' share of one pass, not a second prefill).
  The text is the one greedy decoding gives (up to float ties between two tokens). transformers' assisted
  generation is not used: it takes a draft model, not a fixed draft, and only batch size 1 with token inputs,
  while here each request of a batch has its audio embeddings and its own draft.
Translation decodes greedily (a transcript draft is no translation); empty drafts go straight to greedy.
Within a batch every request takes its own path; the greedy parts of a batch are decoded together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .ctc import align_words, greedy_draft, log_probs
from .engine import DecodingOptions, Generation, Request

if TYPE_CHECKING:  # the engine calls this module; this module only uses the engine it is given
    from .local_engine import LocalEngine

TRANSLATION_NOTE = "translation decodes greedily: the CTC draft is a transcript, not a translation"


def decode_batch(engine: LocalEngine, batch: list[Request], options: DecodingOptions) -> list[Generation]:
    tok = engine.tokenizer
    eos = tok.eos_token_id
    audio = [engine.audio_pass(r.samples) for r in batch]
    prompts = [engine.prompt_ids(r) for r in batch]
    gens: list[Generation | None] = [None] * len(batch)
    fresh: dict[int, str] = {}  # requests decoded greedily from their prompt -> path name
    resumed: dict[int, list[int]] = {}  # requests that go on from the verification pass -> answer so far
    notes: list[str | None] = [None] * len(batch)
    verified = None
    checked: list[int] = []

    if options.decoding == "greedy":
        fresh = {i: "greedy" for i in range(len(batch))}
    else:
        drafts = [greedy_draft(a.ctc_logits) for a in audio]
        check: dict[int, list[int]] = {}
        for i, r in enumerate(batch):
            text, entropy = drafts[i]
            if r.spec.info.translation:
                fresh[i], notes[i] = "greedy", TRANSLATION_NOTE
            elif options.decoding == "speculative" and text and entropy <= options.ctc_threshold:
                gens[i] = Generation(text, "ctc", 0)
            elif text:
                check[i] = tok.encode(text, add_special_tokens=False)[: options.max_new_tokens]
            else:
                fresh[i] = "fallback"  # nothing to check: the draft is empty
        if check:
            checked = list(check)
            verified = engine.verify(
                [prompts[i] for i in checked], [audio[i].embeds for i in checked], [check[i] for i in checked]
            )
            for i, lg in zip(checked, verified.logits):
                draft = check[i]
                if options.decoding == "speculative":
                    probs = lg[: len(draft)].softmax(-1)[torch.arange(len(draft)), torch.tensor(draft)]
                    if bool((probs >= options.confidence_threshold).all()):
                        gens[i] = Generation(drafts[i][0], "verified", 1)
                    else:
                        resumed[i] = []  # IBM: decode from the prompt (its keys and values are reused)
                    continue
                best = lg.argmax(-1).tolist()  # the greedy choice after 0..len(draft) draft tokens
                k = next((j for j, (d, b) in enumerate(zip(draft, best)) if d != b), len(draft))
                accepted = draft[:k] + [best[k]]
                if best[k] == eos or len(accepted) >= options.max_new_tokens:
                    answer = accepted[: options.max_new_tokens]
                    gens[i] = Generation(
                        tok.decode(answer, skip_special_tokens=True), "verified" if k == len(draft) else "fallback", 1
                    )
                else:
                    resumed[i] = accepted

    for group, reuse in ((list(fresh), None), (list(resumed), verified)):
        if not group:
            continue
        prefixes = [resumed.get(i, []) for i in group]
        if reuse is not None:
            reuse.rows = [checked.index(i) for i in group]
        new = engine.continue_greedy(
            [prompts[i] for i in group], [audio[i].embeds for i in group], prefixes, options, reuse=reuse
        )
        for i, prefix, tokens in zip(group, prefixes, new):
            path, passes = (fresh[i], 0) if reuse is None else ("fallback", 1)
            gens[i] = Generation(
                tok.decode(prefix + tokens, skip_special_tokens=True), path, passes + len(tokens), note=notes[i]
            )
    for i, g in enumerate(gens):
        g.text = g.text.strip()
        if options.word_timestamps:
            if batch[i].spec.info.translation:
                g.note = "; ".join(filter(None, [g.note, "no word times for a translation"]))
            else:
                g.words = align_words(
                    log_probs(audio[i].ctc_logits), g.text, seconds=audio[i].seconds, samples=batch[i].samples
                )
    return gens
