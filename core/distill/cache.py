"""The offline top-k logit cache: the teacher's forward pass, done once, before training.

    sequences = tokenize_records(tokenizer, records, max_len=160, train_on_prompt=True)
    cache = build_topk_cache(teacher, sequences, folder, k=32, samples=32, progress=progress)
    dataset = DistillDataset(sequences, cache)       # what the Trainer reads

The teacher is run teacher-forced over each training sequence (prompt + teacher answer).
For every position the cache keeps the k most likely next-token ids (uint16 when the
vocabulary fits, else int32), their log-probs (float16), the log of the remaining mass
(float16), and with ``samples = m > 0`` the entropy of the renormalised tail (float16) and m
token ids drawn from the tail with their log-probs (see ``core.distill.tail``):
``4k + 4m + 4`` bytes per token with uint16 ids (260 at k = m = 32; ``4k + 2`` without
samples), against ``4 V`` bytes for dense float32 logits.

A teacher answer that stopped on its own ends with EOS; one cut by ``max_new_tokens``
(``finish_reason == "length"``) does not, so the student never learns to stop mid-answer.

Shards are ``.npz`` files written atomically into a temp folder that is renamed into place
when complete, so an interrupted or failed build (disk full) leaves nothing half-written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.distill.data import disk_error
from core.errors import InputError
from core.paths import atomic_dir

if TYPE_CHECKING:
    import numpy as np

    from core.distill.progress import Progress

MANIFEST = "manifest.json"


@dataclass
class Sequence:
    """One training sequence: token ids, and which positions are targets (labels, -100 = ignore)."""

    input_ids: list[int]
    labels: list[int]


def tokenize_records(
    tokenizer,
    records: list[dict[str, Any]],
    *,
    max_len: int,
    train_on_prompt: bool,
    plain_share: float = 0.0,
    seed: int = 0,
) -> list[Sequence]:
    """Chat-template each (prompt, response) pair into ids; label the answer (and prompt if
    asked). A seeded ``plain_share`` of the records becomes plain text instead: prompt, blank
    line, answer, no chat template, every token a target."""
    import random

    sequences = []
    eos = tokenizer.eos_token or ""
    count = round(plain_share * len(records))
    plain = set(random.Random(seed).sample(range(len(records)), count))
    for index, record in enumerate(records):
        if index in plain:
            text = f"{record['prompt']}\n\n{record['response']}"
            sequences.append(plain_sequence(tokenizer, text, max_len))
            continue
        messages = [{"role": "system", "content": record["system"]}] if record.get("system") else []
        messages.append({"role": "user", "content": record["prompt"]})
        prompt_text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        ended = record.get("finish_reason") != "length"
        answer = record["response"] + (eos if ended else "")
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + answer_ids)[:max_len]
        labels = list(ids) if train_on_prompt else [-100] * len(prompt_ids) + answer_ids
        sequences.append(Sequence(ids, labels[:max_len]))
    return sequences


def plain_sequence(tokenizer, text: str, max_len: int) -> Sequence:
    """Text as one plain sequence: no template, every token a target (cut at ``max_len``)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_len]
    return Sequence(ids, list(ids))


def tokenize_texts(tokenizer, texts: list[str], *, max_len: int) -> list[Sequence]:
    """Ready text as plain sequences (one-token texts, with nothing to predict, left out)."""
    sequences = [plain_sequence(tokenizer, text, max_len) for text in texts]
    return [s for s in sequences if len(s.input_ids) > 1]


def sequences_sha(sequences: list[Sequence]) -> str:
    from core.hashing import canonical_json, sha256_text

    return sha256_text(canonical_json([[s.input_ids, s.labels] for s in sequences]))


@dataclass
class TopkCache:
    """A complete cache folder: per-token top-k arrays for a list of sequences."""

    folder: Path
    k: int
    tokens: int
    bytes: int
    ids: np.ndarray
    logprobs: np.ndarray
    tail: np.ndarray
    offsets: np.ndarray
    samples: int = 0
    entropy: np.ndarray | None = None
    sample_ids: np.ndarray | None = None
    sample_logprobs: np.ndarray | None = None

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / max(self.tokens, 1)

    def rows(self, index: int) -> tuple[np.ndarray, ...]:
        start, end = self.offsets[index], self.offsets[index + 1]
        base = (self.ids[start:end], self.logprobs[start:end], self.tail[start:end])
        if self.entropy is None or self.sample_ids is None or self.sample_logprobs is None:
            return base
        return (
            *base,
            self.entropy[start:end],
            self.sample_ids[start:end],
            self.sample_logprobs[start:end],
        )


def build_topk_cache(
    teacher,
    sequences: list[Sequence],
    folder: Path,
    *,
    k: int,
    samples: int = 0,
    seed: int = 0,
    batch_size: int = 8,
    bf16: bool = False,
    shard_tokens: int = 65536,
    progress: Progress,
    topk_rows: Any = None,
    vocab: int | None = None,
) -> TopkCache:
    """Run the teacher over ``sequences`` and store top-k per token; reuse a complete folder.

    ``topk_rows(batch) -> [(ids, logprobs, tail) per sequence]`` replaces the transformers
    forward pass (vLLM: ``core.distill.vllm_topk``); give ``vocab`` with it."""
    if (folder / MANIFEST).is_file():
        return load_topk_cache(folder)
    vocab = vocab or teacher.config.vocab_size
    if not 1 <= k < vocab:
        raise InputError(
            "bad_topk",
            f"topk must be between 1 and {vocab - 1} (the teacher's vocabulary "
            f"has {vocab} tokens), got {k}",
        )
    if topk_rows is not None:
        samples = 0  # vLLM's prompt_logprobs give the top-k and the tail mass, no tail samples
        rows = topk_rows
    else:
        import functools

        import torch

        generator = torch.Generator().manual_seed(seed)
        rows = functools.partial(
            _teacher_topk, teacher, k=k, samples=samples, bf16=bf16, generator=generator
        )
    try:
        with atomic_dir(folder) as tmp:
            shards = _write_shards(
                rows,
                vocab,
                sequences,
                tmp,
                batch_size=batch_size,
                shard_tokens=shard_tokens,
                progress=progress,
            )
            manifest = {
                "k": k,
                "samples": samples,
                "vocab": vocab,
                "sequences": len(sequences),
                "shards": shards,
                "tokens": sum(len(s.input_ids) for s in sequences),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    except OSError as exc:
        raise disk_error(exc, folder) from exc
    return load_topk_cache(folder)


ARRAYS = ("ids", "logprobs", "tail", "entropy", "sample_ids", "sample_logprobs")


def _write_shards(rows, vocab, sequences, tmp: Path, *, batch_size, shard_tokens, progress):
    import numpy as np

    id_dtype = np.uint16 if vocab <= 65536 else np.int32
    shards: list[str] = []
    pending: list[tuple[np.ndarray, ...]] = []

    def flush() -> None:
        if not pending:
            return
        name = f"shard-{len(shards):05d}.npz"
        arrays = {}
        for column, key in enumerate(ARRAYS[: len(pending[0])]):
            dtype = id_dtype if key.endswith("ids") else np.float16
            arrays[key] = np.concatenate([p[column] for p in pending]).astype(dtype)
        with open(tmp / name, "wb") as handle:
            np.savez(handle, **arrays)
        shards.append(name)
        pending.clear()

    total = sum(len(s.input_ids) for s in sequences)
    with progress.bar(total=total, desc="teacher top-k cache", unit="tok") as bar:
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start : start + batch_size]
            for seq, arrays in zip(batch, rows(batch), strict=True):
                pending.append(arrays)
                bar.update(len(seq.input_ids))
            if sum(len(p[0]) for p in pending) >= shard_tokens:
                flush()
    flush()
    return shards


def _teacher_topk(teacher, batch: list[Sequence], k: int, samples: int, bf16: bool, generator):
    """Top-k rows for a batch: the teacher's body runs over every token, its head and the
    vocabulary-wide top-k and tail sampling only over the positions the loss reads (those whose
    next token is labelled; the others, e.g. the prompt of an answer-only run, get a copy of
    a read row, which the loss masks out)."""
    import contextlib

    import torch

    from core.distill.losses import topk_of
    from core.distill.tail import teacher_rows

    width = max(len(s.input_ids) for s in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    read = torch.zeros(len(batch), width, dtype=torch.bool)
    for row, seq in enumerate(batch):
        n = len(seq.input_ids)
        ids[row, :n] = torch.tensor(seq.input_ids)
        mask[row, :n] = 1
        read[row, : n - 1] = torch.tensor([label != -100 for label in seq.labels[1:n]])
    if not read.any():
        read[0, 0] = True
    device = next(teacher.parameters()).device
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    )
    with torch.inference_mode(), autocast:
        if _plain_head(teacher):
            body, head = teacher.get_decoder(), teacher.get_output_embeddings()
            hidden = body(input_ids=ids.to(device), attention_mask=mask.to(device))
            logits = head(hidden.last_hidden_state[read.to(device)])
        else:  # soft-capped or scaled logits: the model's own forward, then the read rows
            out = teacher(input_ids=ids.to(device), attention_mask=mask.to(device))
            logits = out.logits[read.to(device)]
    if samples:
        picked = teacher_rows(logits.float(), k, samples, generator=generator).as_tuple()
    else:
        picked = topk_of(logits.float(), k)
    # Scatter the read rows back to [b, s, ...]; unread positions copy the first read row.
    where = torch.zeros(len(batch), width, dtype=torch.long)
    where[read] = torch.arange(int(read.sum()))
    columns = [column[where.to(column.device)] for column in picked]
    out = []
    for row, seq in enumerate(batch):
        n = len(seq.input_ids)
        out.append(tuple(column[row, :n].cpu().numpy() for column in columns))
    return out


def _plain_head(teacher) -> bool:
    """Are the logits just the output embedding applied to the decoder's last hidden state?"""
    config = teacher.config
    return (
        callable(getattr(teacher, "get_decoder", None))
        and teacher.get_output_embeddings() is not None
        and not getattr(config, "final_logit_softcapping", None)
        and getattr(config, "logit_scale", None) in (None, 1.0)
    )


def load_topk_cache(folder: Path) -> TopkCache:
    """Read every shard of a complete cache folder into memory."""
    import numpy as np

    manifest = json.loads((folder / MANIFEST).read_text())
    samples = int(manifest.get("samples", 0))
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ARRAYS[: 6 if samples else 3]}
    size = 0
    for name in manifest["shards"]:
        with np.load(folder / name) as shard:
            for key in parts:
                parts[key].append(shard[key])
                size += shard[key].nbytes
    arrays = {key: np.concatenate(value) for key, value in parts.items()}
    return TopkCache(
        folder=folder,
        k=manifest["k"],
        tokens=manifest["tokens"],
        bytes=size,
        offsets=np.zeros(1, dtype=np.int64),
        samples=samples,
        **arrays,
    )


def attach_offsets(cache: TopkCache, sequences: list[Sequence]) -> TopkCache:
    """Record where each sequence's rows start (the cache stores them back to back)."""
    import numpy as np

    lengths = np.array([len(s.input_ids) for s in sequences], dtype=np.int64)
    if int(lengths.sum()) != len(cache.ids):
        from core.errors import IntegrityError

        raise IntegrityError(
            "stale_cache", f"top-k cache {cache.folder} does not match the training data"
        )
    cache.offsets = np.concatenate([[0], np.cumsum(lengths)])
    return cache


class DistillDataset:
    """Training examples for the Trainer: ids, labels and (with a cache) the teacher's top-k
    rows."""

    def __init__(self, sequences: list[Sequence], cache: TopkCache | None = None) -> None:
        self.sequences = sequences
        self.cache = attach_offsets(cache, sequences) if cache is not None else None

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, Any]:
        seq = self.sequences[index]
        item: dict[str, Any] = {"input_ids": seq.input_ids, "labels": seq.labels}
        if self.cache is not None:
            item["topk"] = self.cache.rows(index)
        return item


def collate(items: list[dict[str, Any]], pad_id: int = 0) -> dict[str, Any]:
    """Right-pad a batch; labels -100 on padding; top-k rows padded with zeros."""
    import numpy as np
    import torch

    width = max(len(i["input_ids"]) for i in items)
    batch = {
        "input_ids": torch.full((len(items), width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros(len(items), width, dtype=torch.long),
        "labels": torch.full((len(items), width), -100, dtype=torch.long),
    }
    for row, item in enumerate(items):
        n = len(item["input_ids"])
        batch["input_ids"][row, :n] = torch.tensor(item["input_ids"])
        batch["attention_mask"][row, :n] = 1
        batch["labels"][row, :n] = torch.tensor(item["labels"])
    if "topk" in items[0]:
        for column, key in enumerate(ARRAYS[: len(items[0]["topk"])]):
            first = items[0]["topk"][column]
            dtype = np.int64 if key.endswith("ids") else np.float32
            out = np.zeros((len(items), width, *first.shape[1:]), dtype=dtype)
            for row, item in enumerate(items):
                values = item["topk"][column]
                out[row, : len(values)] = values
            batch[f"topk_{key}"] = torch.from_numpy(out)
    return batch
