"""The memory-mapped top-k cache reads the same rows as the in-memory one, from flat files
written once (shard by shard), so training processes page in only the rows they use."""

from __future__ import annotations

import numpy as np

from core.distill.cache import DistillDataset, Sequence, build_topk_cache, load_topk_cache
from core.distill.cache_mmap import mmap_topk_cache
from core.distill.progress import Progress


def test_mapped_cache_equals_the_loaded_one(tiny_model_dir, tmp_path):
    from core.models import load_causal_lm, resolve_model

    model, tokenizer = load_causal_lm(resolve_model(str(tiny_model_dir)))
    texts = ["Paris is the capital of France.", "One, two, three.", "def add(a, b):"] * 3
    sequences = [
        Sequence(ids, list(ids))
        for ids in (tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts)
    ]
    folder = tmp_path / "cache"
    build_topk_cache(
        model, sequences, folder, k=4, bf16=False, shard_tokens=16, progress=Progress(False)
    )
    loaded = load_topk_cache(folder)
    assert len(list(folder.glob("shard-*.npz"))) > 1  # several shards were joined

    mapped = mmap_topk_cache(folder)
    assert isinstance(mapped.ids, np.memmap)
    for key in ("ids", "logprobs", "tail"):
        assert np.array_equal(getattr(mapped, key), getattr(loaded, key))
    assert mapped.bytes == loaded.bytes and mapped.tokens == loaded.tokens

    written = (folder / "flat-ids.npy").stat().st_mtime_ns
    again = DistillDataset(sequences, mmap_topk_cache(folder))  # a second process
    assert (folder / "flat-ids.npy").stat().st_mtime_ns == written  # not rewritten
    rows = again[4]["topk"]
    expected = DistillDataset(sequences, loaded)[4]["topk"]
    assert all(np.array_equal(a, b) for a, b in zip(rows, expected, strict=True))
