"""The local engine: a Granite Speech model with a language model (encoder, projector, LLM), in this process.

It owns the model's `AdapterRuntime` (adapters loaded on the live model; generation holds its lock, so a
request always runs with the adapter it asked for). Each clip goes through the encoder and projector on its
own, so no clip sees another's padding; the language model decodes the batch together with left padding:
batched output equals one-at-a-time output. The decoding strategies (greedy, speculative) are in decoding.py
and use this class's primitives; the verification pass's cache in kv_cache.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .adapters import AdapterRuntime
from .engine import DECODING_MODES, Capabilities, DecodingOptions, Generation, Request
from .kv_cache import Verified
from .loading import LoadedModel, unwrap_peft
from .models import spec_for
from .prompts import model_prompt
from .tasks import TASKS


@dataclass
class AudioPass:
    """One clip through the encoder: its hidden states, the projector's embeddings, the CTC head's logits."""

    embeds: object  # (1, n_audio_tokens, lm hidden)
    ctc_logits: object  # (frames, labels)
    seconds: float


class InProcessEngine:
    """What every engine of a model loaded in this process shares: the model, its adapters (peft, through
    `AdapterRuntime`), its id, tokenizer and description."""

    def __init__(self, lm: LoadedModel):
        self.lm = lm
        self.adapters = AdapterRuntime(lm)

    @property
    def model_id(self) -> str:
        return self.lm.model_id

    @property
    def tokenizer(self):
        return self.lm.processor.tokenizer

    def describe(self) -> str:
        return self.lm.describe()

    def adapter_names(self) -> list[str]:
        return self.adapters.names()

    def adapter_info(self) -> list[dict[str, Any]]:
        return self.adapters.info()

    def load_adapter(self, source: str | Path, name: str | None = None, source_id: str | None = None) -> str:
        return self.adapters.load(source, name, source_id=source_id)

    def unload_adapter(self, name: str) -> None:
        self.adapters.unload(name)


class LocalEngine(InProcessEngine):
    """A loaded model in this process, with its adapters. The decoding strategies live in decoding.py; this
    class gives them the model's three primitives: the audio pass, one LLM forward over given tokens, and
    greedy generation after given tokens."""

    def __init__(self, lm: LoadedModel):
        super().__init__(lm)
        spec = spec_for(lm.model_id, lm.architecture)  # the model table, by id or else by architecture
        self.system_prompt = spec.system_prompt
        self.capabilities = Capabilities(
            tasks=frozenset(spec.tasks & set(TASKS)),  # what the table says and the task table implements
            decoding=tuple(d for d in DECODING_MODES if d in spec.decoding),
            word_timestamps=True,
            word_times="CTC alignment of the encoder's emissions to the text",
            trains_here=True,
            recipes=spec.recipes,
            languages=spec.languages,
        )

    def generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[Generation]:
        """The answers (surrounding white space removed, nothing else) and what each cost."""
        from .decoding import decode_batch  # decoding uses this class's primitives

        adapter = batch[0].adapter
        if any(r.adapter != adapter for r in batch):
            raise ValueError("One batch must use one adapter.")
        with self.adapters.use(adapter):
            return decode_batch(self, batch, options or DecodingOptions())

    def raw_generate(self, batch: list[Request], options: DecodingOptions | None = None) -> list[str]:
        """The decoded tokens that follow each prompt (special tokens dropped), exactly as greedy decoding
        generates them."""
        options = options or DecodingOptions()
        with self.adapters.use(batch[0].adapter):
            audio = [self.audio_pass(r.samples) for r in batch]
            out = self.continue_greedy(
                [self.prompt_ids(r) for r in batch], [a.embeds for a in audio], [[] for _ in batch], options
            )
        return [self.tokenizer.decode(ids, skip_special_tokens=True) for ids in out]

    # -- the primitives --------------------------------------------------------------------------------
    def prompt_ids(self, request: Request) -> list[int]:
        tok = self.tokenizer
        prompt = model_prompt(tok, request.spec, len(request.samples), self.system_prompt)
        return tok(prompt, add_special_tokens=False)["input_ids"]

    def audio_pass(self, samples: np.ndarray) -> AudioPass:
        """Encoder, CTC head and projector for one clip (alone: no clip sees another's padding)."""
        import torch

        core = unwrap_peft(self.lm.model)
        feats = self.lm.processor.audio_processor([samples], device="cpu")["input_features"]
        feats = feats.to(core.device, core.dtype)
        with torch.inference_mode():
            hidden = core.model.encoder(feats).last_hidden_state
            embeds = core.model.projector(hidden)
            # 4.1 Plus's encoder returns its final states after those of `cat_hidden_layers`: the CTC head reads
            # the final ones (the last `hidden_dim` features; all of them for 4.0)
            ctc = core.model.encoder.out(hidden[..., -core.model.encoder.config.hidden_dim :])[0]
        return AudioPass(embeds, ctc, len(samples) / 16_000)

    def audio_embeddings(self, samples: np.ndarray):
        """Encoder + projector output for one clip, shape (1, n_audio_tokens, hidden)."""
        return self.audio_pass(samples).embeds

    def _merged(self, ids, embeds):
        import torch

        core = unwrap_peft(self.lm.model)
        return core.model.get_merged_audio_embeddings(
            input_ids=ids, audio_features=torch.cat(embeds, dim=1), input_features_mask=None
        )

    @staticmethod
    def _left_padded(seqs: list[list[int]], pad: int):
        import torch

        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s) :] = 1
        return ids, mask

    def continue_greedy(
        self,
        prompts: list[list[int]],
        embeds: list,
        prefixes: list[list[int]],
        options: DecodingOptions,
        reuse: Verified | None = None,
    ) -> list[list[int]]:
        """Greedy decoding of each request after its prompt and a prefix of answer tokens (left-padded batch);
        returns the new tokens of each (eos included when generated).

        `reuse`: the verification pass these requests come from (same order, `reuse.rows`): its keys and
        values for prompt + prefix are kept, so only the tokens after them are computed."""
        import torch

        tok = self.tokenizer
        ids, mask = self._left_padded([p + x for p, x in zip(prompts, prefixes)], tok.pad_token_id)
        device = unwrap_peft(self.lm.model).device
        extra = {"min_new_tokens": options.min_new_tokens} if options.min_new_tokens else {}
        if reuse is not None:
            extra["past_key_values"] = reuse.cache_for(
                [len(p) + len(x) for p, x in zip(prompts, prefixes)], ids.shape[1] - 1
            )
        with torch.inference_mode():
            out = self.lm.model.generate(
                inputs_embeds=self._merged(ids.to(device), embeds),
                attention_mask=mask.to(device),
                max_new_tokens=max(1, options.max_new_tokens - min(map(len, prefixes), default=0)),
                do_sample=False,
                num_beams=options.num_beams,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
                **extra,
            )
        result = []
        for row, prefix in zip(out.tolist(), prefixes):
            row = row[: max(0, options.max_new_tokens - len(prefix))]
            if tok.eos_token_id in row:
                row = row[: row.index(tok.eos_token_id) + 1]
            result.append([t for t in row if t != tok.pad_token_id])
        return result

    def verify(self, prompts: list[list[int]], embeds: list, answers: list[list[int]]) -> Verified:
        """One LLM forward pass over prompt + answer tokens (a left-padded batch, positions counted from each
        request's first token): for each request the next-token logits at the positions that predict each answer
        token and the token after them, shape (len(answer) + 1, vocab), divided by the model's `logits_scaling`;
        and the keys and values, so that greedy decoding can go on from any accepted prefix (`continue_greedy`)."""
        import torch

        core = unwrap_peft(self.lm.model)
        ids, mask = self._left_padded([p + a for p, a in zip(prompts, answers)], self.tokenizer.pad_token_id)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        scale = getattr(core.config.text_config, "logits_scaling", 1.0) or 1.0
        width = ids.shape[1]
        with torch.inference_mode():
            out = core.model.language_model(
                inputs_embeds=self._merged(ids.to(core.device), embeds),
                attention_mask=mask.to(core.device),
                position_ids=positions.to(core.device),
                use_cache=True,
            )
            logits = [
                (core.lm_head(out.last_hidden_state[i, width - len(a) - 1 :]) / scale).float()
                for i, a in enumerate(answers)
            ]
        return Verified(logits, out.past_key_values, [len(p) + len(a) for p, a in zip(prompts, answers)], width)
