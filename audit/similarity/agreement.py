"""The answer-agreement scorer the distillation evaluation uses: chrF and embedding cosine.

    from core.distill.answers import agreement
    result = agreement(evaluation["answers"], answer_scorer())

``core`` produces the answers and does the floor/ceiling arithmetic; the metrics are the
similarity module's own (``audit.similarity.metrics``: sacrebleu chrF scaled to 0..1, cosine of
all-MiniLM-L6-v2 embeddings), so a distillation scorecard and a replication-risk report measure
"how alike" the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from audit.similarity.metrics import chrf, embedding_cosines, load_embedder


def answer_scorer(
    embedder: str | None = None,
) -> Callable[[list[tuple[str, str]]], dict[str, list[float]]]:
    """A scorer: (reference, candidate) pairs -> {"chrf": [...], "cosine": [...]}, one per pair."""

    def score(pairs: list[tuple[str, str]]) -> dict[str, list[float]]:
        model = load_embedder(embedder)
        references = [r for r, _ in pairs]
        candidates = [c for _, c in pairs]
        (cosines,) = embedding_cosines(model, references, [candidates])
        return {
            "chrf": [chrf(r, c) for r, c in pairs],
            "cosine": [float(x) for x in cosines],
        }

    return score
