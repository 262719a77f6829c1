"""The top-k cache memory-mapped, so that each training process pages in only its own rows.

    cache = mmap_topk_cache(folder)       # a TopkCache whose arrays are np.memmap views

``core.distill.cache`` writes the cache as ``.npz`` shards, which numpy cannot memory-map. The
first process to open a complete cache folder writes each array once as one flat ``.npy`` file
beside the shards (``flat-ids.npy``, ``flat-logprobs.npy``, ``flat-tail.npy``; shard by shard,
so never more than one shard in RAM) and every process then maps them read-only. Under
``accelerate launch`` the Trainer's sampler gives each rank its own sequences, and a rank reads
only the pages of those rows: the cache is sharded per rank by access, without a second copy.
At gpu-qwen's size (about 4.2M tokens x 386 bytes = 1.6 GB) eight ranks that each loaded the
whole cache would hold 13 GB of host RAM; mapped, they share the page cache.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.distill.cache import ARRAYS, MANIFEST, TopkCache


def mmap_topk_cache(folder: Path) -> TopkCache:
    """Open a complete cache folder memory-mapped (writing the flat files on first use)."""
    import numpy as np

    manifest = json.loads((folder / MANIFEST).read_text())
    samples = int(manifest.get("samples", 0))
    keys = ARRAYS[: 6 if samples else 3]  # sampled-tail columns only where the cache has them
    paths = {key: folder / f"flat-{key}.npy" for key in keys}
    if not all(p.is_file() for p in paths.values()):
        _flatten(folder, manifest["shards"], paths)
    arrays = {key: np.load(paths[key], mmap_mode="r") for key in keys}
    return TopkCache(
        folder=folder,
        k=manifest["k"],
        tokens=manifest["tokens"],
        bytes=sum(a.nbytes for a in arrays.values()),
        offsets=np.zeros(1, dtype=np.int64),
        samples=samples,
        **arrays,
    )


def _flatten(folder: Path, shards: list[str], paths: dict[str, Path]) -> None:
    """Concatenate the shards' arrays into flat .npy files, one shard in memory at a time."""
    import numpy as np

    shapes: dict[str, tuple] = {}
    dtypes: dict[str, object] = {}
    rows = 0
    for name in shards:  # first pass: sizes only (npz members load lazily)
        with np.load(folder / name) as shard:
            rows += len(shard["ids"])
            for key in paths:
                shapes[key], dtypes[key] = shard[key].shape[1:], shard[key].dtype
    for key in paths:
        tmp = paths[key].with_suffix(".tmp")
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=dtypes[key], shape=(rows, *shapes[key])
        )
        start = 0
        for name in shards:
            with np.load(folder / name) as shard:
                part = shard[key]
                out[start : start + len(part)] = part
                start += len(part)
        out.flush()
        del out
        tmp.replace(paths[key])  # atomic: a reader sees a complete file or none
