"""Prompt categories for the arena: a small, documented classifier over the prompt.

    classify = CategoryClassifier.load()            # MiniLM, or the keyword fallback
    classify("Write a haiku about rain")            # "creative writing"
    CategoryClassifier.load(embed=False)("Solve 2x + 1 = 5")   # keywords only: "math"

The categories and their labelled prototypes live in ``data/arena/categories.yaml``:
coding, math, creative writing, advice, factual QA, and ``other`` for a prompt that
reaches no category. With embeddings (the bundled all-MiniLM-L6-v2, ``core.models.
embedding_model_path``, loaded offline and on CPU) a prompt's score per category is the mean
cosine similarity to its two nearest prototypes; the best score wins if it reaches the file's
``threshold`` and leads the second best by ``margin``. Without them (``embed=False``, or
when the model cannot be loaded) it is the category with the most keyword hits (whole words
or phrases, case-insensitive), ``other`` on none. ``mode`` says which one ran; the ledger
records it with each category.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError

OTHER = "other"
CATEGORIES_FILE = Path(__file__).resolve().parent.parent / "data" / "arena" / "categories.yaml"


@dataclass
class CategoryClassifier:
    """Nearest labelled prototypes (embeddings) or keyword hits; see the module docstring."""

    prototypes: dict[str, list[str]]
    keywords: dict[str, list[str]]
    threshold: float
    margin: float = 0.0
    embed: Callable[[Sequence[str]], Any] | None = None
    _matrix: Any = field(default=None, repr=False)
    _labels: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mode(self) -> str:
        return "minilm" if self.embed is not None else "keywords"

    @classmethod
    def load(cls, path: str | Path | None = None, *, embed: bool = True) -> CategoryClassifier:
        """Read the categories file; with ``embed`` try the bundled MiniLM, else keywords."""
        import yaml

        path = Path(path) if path else CATEGORIES_FILE
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            categories = data["categories"]
            prototypes = {name: list(c["prototypes"]) for name, c in categories.items()}
            keywords = {
                name: [k.lower() for k in c.get("keywords", [])] for name, c in categories.items()
            }
            threshold = float(data.get("threshold", 0.25))
            margin = float(data.get("margin", 0.0))
        except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as error:
            raise InputError(
                "bad_categories", f"cannot read the arena categories in {path}: {error}"
            ) from None
        return cls(prototypes, keywords, threshold, margin, _minilm() if embed else None)

    def __call__(self, prompt: str) -> str:
        """The category of one prompt."""
        if not prompt.strip():
            return OTHER
        if self.embed is None:
            return self._by_keywords(prompt)
        import numpy as np

        matrix, labels = self._prototype_matrix()
        vector = np.asarray(self.embed([prompt]))[0]
        sims = matrix @ vector
        scores = {
            name: float(
                np.sort(sims[[i for i, lab in enumerate(labels) if lab == name]])[-2:].mean()
            )
            for name in self.prototypes
        }
        ranked = sorted(scores, key=lambda n: -scores[n])
        best, second = scores[ranked[0]], scores[ranked[1]] if len(ranked) > 1 else -1.0
        return ranked[0] if best >= self.threshold and best - second >= self.margin else OTHER

    def _prototype_matrix(self):
        import numpy as np

        with self._lock:
            if self._matrix is None:
                self._labels = [n for n, texts in self.prototypes.items() for _ in texts]
                texts = [t for ts in self.prototypes.values() for t in ts]
                self._matrix = np.asarray(self.embed(texts))  # type: ignore[misc]
            return self._matrix, self._labels

    def _by_keywords(self, prompt: str) -> str:
        text = prompt.lower()
        hits = {
            name: sum(bool(re.search(rf"\b{re.escape(k)}\b", text)) for k in words)
            for name, words in self.keywords.items()
        }
        best = max(hits, key=lambda n: hits[n], default=OTHER)
        return best if hits.get(best, 0) > 0 else OTHER


def _minilm() -> Callable[[Sequence[str]], Any] | None:
    """A normalised-embedding function from the bundled MiniLM, or None if it cannot load."""
    try:
        from sentence_transformers import SentenceTransformer

        from core.models import MODEL_LOAD_LOCK, embedding_model_path, offline_env

        offline_env()
        with MODEL_LOAD_LOCK:
            model = SentenceTransformer(str(embedding_model_path()), device="cpu")
    except Exception:  # noqa: BLE001 - no model here: the keyword fallback runs instead
        return None
    lock = threading.Lock()

    def embed(texts: Sequence[str]) -> Any:
        with lock:
            return model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)

    return embed
