"""Shared-prefix reuse for prefill: compute the common start of many prompts once.

Chat prompts share a long start: the template's default system prompt and the
``<|im_start|>user`` header are the same for every request. ``PrefixCache`` finds
the longest token prefix that every prompt in a prefill group starts with, computes
its keys and values once (batch 1), and keeps the last few prefixes, so later groups
starting the same way skip that part of the prefill altogether. The batching engine
then lays each row out as ``[prefix][padding][rest of the prompt]``: the attention
mask hides the padding in the middle and positions are given per row, so the
arithmetic is the same as prefilling each whole prompt.

    prefix = cache.choose([job.prompt_ids for job in jobs])    # [] when not worth it
    cache.fill(dynamic_cache, prefix, rows=len(jobs))          # keys/values for every row
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

MIN_PREFIX = 8  # shorter shared starts are not worth a separate forward pass


class PrefixCache:
    """Keys and values of recent shared prompt prefixes, per layer (batch 1)."""

    def __init__(self, model, *, keep: int = 4) -> None:
        self.model = model
        self.keep = keep
        self._entries: OrderedDict[tuple[int, ...], list[tuple]] = OrderedDict()
        self.hits = 0  # prefills that reused a stored prefix
        self.computed_tokens = 0  # prefix tokens run through the model

    def choose(self, prompts: list[list[int]]) -> list[int]:
        """The prefix to share: a stored one every prompt starts with, or the group's common
        start."""
        limit = min(len(p) for p in prompts) - 1  # every row keeps at least one token of its own
        common = _common_length(prompts, limit)
        stored = max(
            (
                len(k)
                for k in self._entries
                if len(k) <= common and tuple(prompts[0][: len(k)]) == k
            ),
            default=0,
        )
        if len(prompts) >= 2 and common >= MIN_PREFIX and common > stored:
            return list(prompts[0][:common])
        return list(prompts[0][:stored])

    def fill(self, cache, prefix: list[int], rows: int) -> None:
        """Put the prefix's keys and values into every row of an empty ``DynamicCache``."""
        key = tuple(prefix)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._compute(prefix)
            self._entries[key] = entry
            while len(self._entries) > self.keep:
                self._entries.popitem(last=False)
        else:
            self.hits += 1
            self._entries.move_to_end(key)
        for layer, (keys, values) in zip(cache.layers, entry, strict=True):
            layer.lazy_initialization(keys, values)
            layer.keys = keys.expand(rows, -1, -1, -1)  # a view: the next update copies it out
            layer.values = values.expand(rows, -1, -1, -1)

    def _compute(self, prefix: list[int]) -> list[tuple]:
        import torch
        from transformers import DynamicCache

        self.computed_tokens += len(prefix)
        device = self.model.device
        cache = DynamicCache(config=self.model.config)
        ids = torch.tensor([prefix], device=device)
        self.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            position_ids=torch.arange(len(prefix), device=device)[None],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        layers: list[Any] = list(cache.layers)  # plain DynamicLayers (the caller checked)
        return [(layer.keys, layer.values) for layer in layers]


def _common_length(prompts: list[list[int]], limit: int) -> int:
    first = prompts[0]
    length = 0
    while length < limit and all(p[length] == first[length] for p in prompts[1:]):
        length += 1
    return length
