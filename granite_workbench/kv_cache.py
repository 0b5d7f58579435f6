"""A verification pass's key/value cache, reused by greedy decoding (speculative-exact decoding).

A verification pass reads prompt + draft for a left-padded batch in one forward pass; the requests whose draft
was cut short go on decoding greedily from their accepted prefix. `Verified.cache_for` hands generation those
rows' keys and values for prompt + accepted prefix, re-aligned to the new batch's left padding, so the prefix
is not computed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Verified:
    """A verification pass: per-request logits, and the pass's key/value cache (left-padded rows of `lengths`
    real tokens in `width` positions). `rows` picks the requests that go on decoding (set by the caller)."""

    logits: list
    cache: object
    lengths: list[int]
    width: int
    rows: list[int] = field(default_factory=list)

    def cache_for(self, keep: list[int], width: int):
        """A cache for `rows`: the first `keep[j] - 1` real tokens of row `rows[j]` (prompt + accepted answer, less
        the last token, which generation feeds), right-aligned in `width` positions as left padding expects."""
        from transformers import DynamicCache

        new = DynamicCache()
        for layer_idx, layer in enumerate(self.cache.layers):
            parts = []
            for kv in (layer.keys, layer.values):
                out = kv.new_zeros((len(self.rows), kv.shape[1], width, kv.shape[3]))
                for j, (r, n) in enumerate(zip(self.rows, keep)):
                    first = self.width - self.lengths[r]  # where row r's real tokens start
                    out[j, :, width - (n - 1) :] = kv[r, :, first : first + n - 1]
                parts.append(out)
            new.update(parts[0], parts[1], layer_idx)
        return new
