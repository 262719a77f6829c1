"""A KV cache layer that grows in place, so a decode step does not copy the whole cache.

    cache = growing_cache(model.config)        # a DynamicCache whose plain layers grow in place
    model(..., cache=cache, use_cache=True)

transformers' ``DynamicLayer`` appends each step's keys and values with ``torch.cat``:
every decode step copies every layer's whole cache (in the profiler, concatenation took
about a fifth of a bf16 decode step at batch 32 on this CPU; the engine served 5-8% more
tokens/s without it). ``GrowingLayer`` keeps spare room (``SPARE`` positions) after the
cached ones and writes new positions into it; ``keys`` and ``values`` are views of that
buffer, and dropping rows (``batch_select_indices``) copies the buffer once. When something
else replaces ``keys`` or ``values`` (the batching engine splicing rows in or trimming
padding, a shared prefix filled in, ``crop``), the next update copies them into a fresh
buffer, so every operation that works on a ``DynamicLayer`` still works. Only the cost
moves: one copy per ``SPARE`` steps instead of one per step.
"""

from __future__ import annotations

from typing import Any

from transformers.cache_utils import DynamicLayer

SPARE = 64  # positions of room kept after the cached ones


class GrowingLayer(DynamicLayer):
    """A ``DynamicLayer`` whose update writes into spare room instead of concatenating."""

    def lazy_initialization(self, key_states, value_states) -> None:
        super().lazy_initialization(key_states, value_states)
        self._buffers: tuple[Any, Any] | None = None  # (keys, values) with room to grow
        self._views: tuple[Any, Any] | None = None  # what keys and values were set to here

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        if not self._owns_views() or self._length() + new > self._buffers[0].shape[-2]:
            self._rebuffer(key_states, value_states, room=new + SPARE)
        used = self._length()
        keys, values = self._buffers
        keys[..., used : used + new, :] = key_states
        values[..., used : used + new, :] = value_states
        self.keys, self.values = keys[..., : used + new, :], values[..., : used + new, :]
        self._views = (self.keys, self.values)
        return self.keys, self.values

    def batch_select_indices(self, indices) -> None:
        """Keep only the rows ``indices``: one copy of the buffers, spare room included."""
        if not self._owns_views() or self._buffers is None:
            super().batch_select_indices(indices)
            return
        used = self._length()
        keys, values = self._buffers[0][indices], self._buffers[1][indices]
        self._buffers = (keys, values)
        self.keys, self.values = keys[..., :used, :], values[..., :used, :]
        self._views = (self.keys, self.values)

    def _owns_views(self) -> bool:
        return (
            self._views is not None
            and self.keys is self._views[0]
            and self.values is self._views[1]
        )

    def _length(self) -> int:
        keys = self.keys
        return keys.shape[-2] if keys is not None and keys.numel() else 0

    def _rebuffer(self, key_states, value_states, room: int) -> None:
        """Copy the cached positions into fresh buffers with ``room`` positions to spare."""
        used = self._length()
        shape = list(self.keys.shape if used and self.keys is not None else key_states.shape)
        shape[-2] = used + room
        keys, values = key_states.new_empty(shape), value_states.new_empty(shape)
        if used:
            keys[..., :used, :] = self.keys
            values[..., :used, :] = self.values
        self._buffers = (keys, values)
        self.keys, self.values = keys[..., :used, :], values[..., :used, :]
        self._views = (self.keys, self.values)


def growing_cache(config):
    """A ``DynamicCache`` for ``config`` whose plain layers are ``GrowingLayer``s (sliding
    window layers stay as they are)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=config)
    cache.layers = [GrowingLayer() if type(lay) is DynamicLayer else lay for lay in cache.layers]
    return cache
