"""Pairwise text similarity, each metric from a well-kept library.

    embedder = load_embedder()                        # bundled all-MiniLM-L6-v2, loaded once
    cos = embedding_cosines(embedder, refs, [cands])  # one array per compared list
    rouge_l(ref, cand); chrf(ref, cand); longest_run(ref, cand)
    minhash_jaccards(refs, cands, shingle=5)

| metric         | library                    | what it sees                              |
|----------------|----------------------------|-------------------------------------------|
| embedding      | sentence-transformers /    | meaning (cosine of normalised embeddings) |
|                | onnxruntime                |                                           |
| rougeL         | rouge-score                | longest common subsequence of words (F1)  |
| chrF           | sacrebleu                  | character n-gram F-score (0-1)            |
| minhash        | datasketch                 | Jaccard of word shingles (near-duplicates)|
| longest_run    | difflib (stdlib)           | longest verbatim run of tokens            |

Tokens, for ``longest_run`` and the shingles, are words and punctuation marks
(Unicode regex ``\\w+|[^\\w\\s]+``: a run of punctuation is one token), case-folded; spans are cut
from the original text.

Embeddings run on torch under bf16 autocast on a CPU that computes bf16 natively (AMX or
AVX512-BF16: 2.5x float32 torch on this machine, pair cosines within 0.002); elsewhere on ONNX
Runtime when the ``onnx`` extra is installed and the model's export (made once by ``stillhouse
models prepare all-minilm-l6-v2``, checked by SHA-256 at load, ``audit.similarity.
onnx_embedder``) is there; otherwise on float32 torch. ``backend="auto"`` (the default) picks
so; ``"torch"``, ``"torch-bf16"`` and ``"onnx"`` force one. On the quiet AMX machine the int8
ONNX export ran 0.76x float32 torch (docs/similarity.md), so it is not the pick there.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast, get_args

import numpy as np

from core.errors import InputError, NotFoundError


class Embedder(Protocol):
    """What the metrics need of an embedder: sentence-transformers' model or ``OnnxEmbedder``."""

    device: Any

    def encode(self, sentences: list[str], **kwargs: Any) -> Any: ...


METRICS = ("embedding", "rougeL", "chrF", "minhash", "longest_run")
METRIC_DESCRIPTIONS = {
    "embedding": "cosine of sentence embeddings (sentence-transformers), -1..1",
    "rougeL": "ROUGE-L F-measure (rouge-score), 0..1",
    "chrF": "chrF character n-gram F-score (sacrebleu), 0..1",
    "minhash": "MinHash estimate of the Jaccard similarity of word shingles (datasketch), 0..1",
    "longest_run": "longest common run of tokens (difflib), in tokens",
}
_TOKEN = re.compile(r"\w+|[^\w\s]+")


@dataclass(frozen=True)
class Tokens:
    """A text's case-folded tokens and each token's (start, end) in the original text."""

    text: str
    tokens: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]

    def span_text(self, start: int, size: int) -> str:
        """The original text covering tokens ``start .. start + size - 1``."""
        if size <= 0:
            return ""
        return self.text[self.spans[start][0] : self.spans[start + size - 1][1]]


def tokenize(text: str) -> Tokens:
    """Split into case-folded word and punctuation tokens, keeping their offsets."""
    matches = list(_TOKEN.finditer(text))
    return Tokens(
        text, tuple(m.group().casefold() for m in matches), tuple(m.span() for m in matches)
    )


@dataclass(frozen=True)
class Run:
    """The longest verbatim run shared by two texts: its length in tokens and the copied span."""

    tokens: int
    span: str
    start: int


def longest_run(reference: Tokens, candidate: Tokens) -> Run:
    """Longest common run of tokens (difflib, no junk heuristic), cut from the candidate's text."""
    matcher = difflib.SequenceMatcher(None, reference.tokens, candidate.tokens, autojunk=False)
    match = matcher.find_longest_match(0, len(reference.tokens), 0, len(candidate.tokens))
    return Run(match.size, candidate.span_text(match.b, match.size), match.b)


@functools.lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F-measure of ``candidate`` against ``reference`` (rouge-score's own tokenizer)."""
    return float(_rouge_scorer().score(reference, candidate)["rougeL"].fmeasure)


@functools.lru_cache(maxsize=1)
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrf(reference: str, candidate: str) -> float:
    """sacrebleu sentence chrF of ``candidate`` against ``reference``, scaled to 0..1."""
    return float(_chrf().sentence_score(candidate, [reference]).score) / 100.0


def shingles(tokens: Tokens, size: int) -> set[bytes]:
    """Word shingles of ``size`` tokens (the whole text when shorter), UTF-8 encoded."""
    words = tokens.tokens
    if len(words) <= size:
        return {" ".join(words).encode("utf-8")} if words else set()
    return {" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)}


def minhash_jaccards(
    references: Sequence[Tokens],
    candidates: Sequence[Tokens],
    *,
    shingle: int = 5,
    num_perm: int = 128,
    seed: int = 1,
) -> np.ndarray:
    """MinHash (datasketch) estimates of the Jaccard similarity of each pair's word shingles."""
    from datasketch import MinHash

    sets = [shingles(t, shingle) for t in (*references, *candidates)]
    hashes = MinHash.bulk(sets, num_perm=num_perm, seed=seed)
    n = len(references)
    out = np.empty(n)
    for i in range(n):
        a, b = sets[i], sets[n + i]
        out[i] = (
            (1.0 if not (a or b) else 0.0) if not (a and b) else hashes[i].jaccard(hashes[n + i])
        )
    return out


def onnx_available() -> bool:
    """True when the ONNX embedding backend can run here (onnxruntime, onnx and onnx-ir, the
    quantizer's, installed)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx", "onnx_ir"))


def embedding_backends() -> dict[str, str]:
    """Each embedding backend and whether it is usable here, in words (for --help and the UI)."""
    from core.dtype import native_bf16

    onnx = (
        "available"
        if onnx_available()
        else "unavailable: install the onnx extra (pip install -e '.[onnx]')"
    )
    bf16 = "available" if native_bf16("cpu") else "available, emulated (no native bf16: slow)"
    return {"torch": "available", "torch-bf16": bf16, "onnx": onnx}


class Bf16Embedder:
    """A sentence-transformers model whose ``encode`` runs under CPU bf16 autocast (float32
    results)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = f"{model.device} (bf16 autocast)"
        self.backend = "torch-bf16"

    def encode(self, sentences: list[str], **kwargs: Any) -> Any:
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.model.encode(sentences, **kwargs)


def default_embedding_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model."""
    from core.bundled import embedding_model_path

    return embedding_model_path()


Backend = Literal["auto", "torch", "torch-bf16", "onnx"]


@functools.lru_cache(maxsize=4)
def load_embedder(model: str | None = None, backend: Backend = "auto") -> Embedder:
    """Load an embedder once per process (offline; bundled model by default).

    ``auto``: torch under bf16 autocast on a CPU with native bf16 (and no GPU); else the
    checked ONNX export when onnxruntime is installed and the export exists; else torch.
    ``onnx``: export now if needed. A corrupt export falls back to torch with a warning.
    """
    import os

    if backend not in get_args(Backend):
        raise InputError(
            "bad_embedding_backend",
            f"unknown embedding backend '{backend}' (auto, torch, torch-bf16 or onnx)",
        )
    if backend == "auto" and _bf16_cpu():
        backend = "torch-bf16"
    if backend == "onnx" and not onnx_available():
        raise InputError(
            "onnx_unavailable",
            "the ONNX embedding backend is unavailable here",
            hint=embedding_backends()["onnx"].removeprefix("unavailable: "),
        )
    path = Path(model) if model else default_embedding_path()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise NotFoundError("missing_embedding", f"no sentence-transformers model in {path}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if backend not in ("torch", "torch-bf16") and onnx_available():
        from audit.similarity import onnx_embedder

        if backend == "onnx":  # made now when missing or stale (a no-op when it is current)
            onnx_embedder.export_onnx(path)
        found = onnx_embedder.load_onnx_embedder(path)
        if found is not None:
            return found
    from sentence_transformers import SentenceTransformer as Torch

    from core.bundled import MODEL_LOAD_LOCK

    with MODEL_LOAD_LOCK:
        loaded = Torch(str(path), backend="torch", local_files_only=True)
    return cast(Embedder, Bf16Embedder(loaded) if backend == "torch-bf16" else loaded)


def _bf16_cpu() -> bool:
    """A CPU-only machine whose CPU computes bf16 natively."""
    import torch

    from core.dtype import native_bf16

    return not torch.cuda.is_available() and native_bf16("cpu")


def embed(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """Normalised embeddings of ``texts`` (float32, one row per text)."""
    return np.asarray(
        embedder.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
    )


def embedding_cosines(
    embedder: Embedder,
    references: Sequence[str],
    others: Sequence[Sequence[str]],
    *,
    batch_size: int = 32,
    progress: bool = False,
) -> list[np.ndarray]:
    """Cosine of each reference text with the same-position text of every list in ``others``.

    Every distinct text is encoded once, in one call, whatever the number of lists.
    """
    unique = list(dict.fromkeys([*references, *(t for texts in others for t in texts)]))
    index = {text: i for i, text in enumerate(unique)}
    vectors = embed(embedder, unique, batch_size=batch_size, progress=progress)
    ref = vectors[[index[t] for t in references]]
    return [
        np.einsum("ij,ij->i", ref, vectors[[index[t] for t in texts]]).astype(float)
        for texts in others
    ]
