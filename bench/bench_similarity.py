"""Benchmark: every similarity metric over 1,000 pairs of ~100-word answers.

    .venv/bin/python bench/bench_similarity.py [--pairs 1000] [--repeats 2]

Prints pairs/s for a full ``score_texts`` (all five metrics, verbatim and near-duplicate
findings, default embedding backend), the time of each metric, then, side by side and
interleaved in this process (best of ``--repeats``): a bare torch
``SentenceTransformer.encode`` of the 2,000 texts, our embedding stage
(``embedding_cosines``: dedupe, encode, cosine) on torch, the same stage on torch under bf16
autocast (the default on a CPU with native bf16) and on ONNX Runtime (the ``onnx`` extra; the
export is made first if missing). The last line is
``onnx/torch speed: R.Rx``: bare torch encode time over our ONNX stage's time (must >= 2x).

Texts: 100-word windows of CPython's help topics (``pydoc_data``), the candidate window
shifted by 15 words from the reference's, so pairs overlap as real answers do.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from audit.similarity import metrics as sm  # noqa: E402
from audit.similarity.score import SimilarityConfig, score_texts  # noqa: E402


def make_pairs(n: int, words: int = 100) -> tuple[list[str], list[str]]:
    import pydoc_data.topics

    corpus = " ".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)).split()
    refs, cands = [], []
    for i in range(n):
        start = (i * 37) % (len(corpus) - words - 20)
        refs.append(" ".join(corpus[start : start + words]) + f" (answer {i})")
        cands.append(" ".join(corpus[start + 15 : start + 15 + words]) + f" (reply {i})")
    return refs, cands


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_of(repeats: int, fn) -> float:
    return min(timed(fn) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="Pairs of answers (default 1000).")
    parser.add_argument(
        "--repeats", type=int, default=2, help="Repeats of the side-by-side embedding timing."
    )
    args = parser.parse_args()
    refs, cands = make_pairs(args.pairs)
    ref_rows = [{"prompt_id": str(i), "text": t} for i, t in enumerate(refs)]
    cand_rows = [{"prompt_id": str(i), "text": t} for i, t in enumerate(cands)]
    embedder = sm.load_embedder(None, "torch")
    embedder.encode(refs[:32], batch_size=32)  # warm-up
    onnx_model = sm.load_embedder(None, "onnx") if sm.onnx_available() else None
    bf16_model = sm.load_embedder(None, "torch-bf16")
    default = sm.load_embedder()
    print(
        f"pairs: {args.pairs}, ~{sum(len(t.split()) for t in refs) / len(refs):.0f} words per "
        "answer, "
        f"torch threads: {__import__('torch').get_num_threads()}, device: {embedder.device}"
    )

    total = timed(lambda: score_texts(ref_rows, cand_rows, None, config=SimilarityConfig()))
    print(
        f"all metrics (score_texts, no baseline, embeddings on the default "
        f"{getattr(default, 'backend', 'torch')}): {total:.1f} s, "
        f"{args.pairs / total:.1f} pairs/s"
    )
    ref_t, cand_t = [sm.tokenize(t) for t in refs], [sm.tokenize(t) for t in cands]
    stages = {
        "rougeL": lambda: [sm.rouge_l(r, c) for r, c in zip(refs, cands, strict=True)],
        "chrF": lambda: [sm.chrf(r, c) for r, c in zip(refs, cands, strict=True)],
        "minhash": lambda: sm.minhash_jaccards(ref_t, cand_t),
        "longest_run": lambda: [sm.longest_run(r, c) for r, c in zip(ref_t, cand_t, strict=True)],
    }
    for name, fn in stages.items():
        seconds = timed(fn)
        print(f"  {name:<12} {seconds:6.2f} s  {args.pairs / seconds:8.1f} pairs/s")

    texts = refs + cands
    if onnx_model is None:
        print(f"onnx: not measured, backend {sm.embedding_backends()['onnx']}")
    bare, ours, onnx, bf16 = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so load on a shared machine hits all alike
        bare.append(timed(lambda: embedder.encode(texts, batch_size=32, normalize_embeddings=True)))
        ours.append(timed(lambda: sm.embedding_cosines(embedder, refs, [cands], batch_size=32)))
        bf16.append(timed(lambda: sm.embedding_cosines(bf16_model, refs, [cands], batch_size=32)))
        if onnx_model is not None:
            onnx.append(
                timed(lambda: sm.embedding_cosines(onnx_model, refs, [cands], batch_size=32))
            )
    print(
        f"embedding stage: ours (torch) {min(ours):.1f} s, bare torch encode {min(bare):.1f} s "
        f"({len(texts) / min(bare):.0f} texts/s)"
    )
    print(f"ratio ours/bare SentenceTransformer.encode: {min(ours) / min(bare):.3f} (time)")
    bf16_note = sm.embedding_backends()["torch-bf16"]
    print(
        f"embedding stage on torch under bf16 autocast: {min(bf16):.1f} s "
        f"({len(texts) / min(bf16):.0f} texts/s; torch-bf16 {bf16_note}): "
        f"torch-bf16/torch speed: {min(bare) / min(bf16):.1f}x"
    )
    print(f"default backend here: {getattr(default, 'backend', 'torch')}")
    if onnx_model is not None:
        print(
            f"embedding stage on ONNX Runtime: {min(onnx):.1f} s "
            f"({len(texts) / min(onnx):.0f} texts/s; must >= 2x, goal >= 3x bare torch)"
        )
        print(f"onnx/torch speed: {min(bare) / min(onnx):.1f}x")


if __name__ == "__main__":
    main()
