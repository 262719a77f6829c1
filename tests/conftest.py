"""Shared fixtures: an isolated STILLHOUSE_HOME, tiny random models, the real default teacher.

Every test runs with ``STILLHOUSE_HOME`` pointing at a fresh temp folder. The
converted default teacher (prepared once by ``make models`` in the user's cache) is
linked into it, so integration tests do not convert the GGUF again.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests compare exact token ids, so they serve in float32 on every CPU; the hardware pick
# (bf16 on CUDA and on CPUs with AMX / AVX512-BF16) is tested in tests/unit/test_dtype.py.
os.environ.setdefault("STILLHOUSE_DTYPE", "float32")

_USER_HOME = Path(
    os.environ.get("STILLHOUSE_HOME") or Path.home() / ".cache" / "stillhouse"
).expanduser()


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("stillhouse-home")
    (home / "models").mkdir()
    cached = _USER_HOME / "models" / "smollm2-135m-instruct"
    if (cached / "stillhouse.json").is_file():
        (home / "models" / "smollm2-135m-instruct").symlink_to(cached, target_is_directory=True)
    return home


@pytest.fixture(autouse=True)
def stillhouse_home(session_home, monkeypatch) -> Path:
    """Point STILLHOUSE_HOME at the session's temp home for every test."""
    monkeypatch.setenv("STILLHOUSE_HOME", str(session_home))
    monkeypatch.delenv("STILLHOUSE_DB", raising=False)
    return session_home


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from core.tiny import make_tokenizer

    return make_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A 2-layer random Llama checkpoint with a chat template (local model)."""
    from core.tiny import make_tiny_model

    return make_tiny_model(
        tmp_path_factory.mktemp("models") / "tiny-llama", n_layers=2, tokenizer=tiny_tokenizer
    )


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A 4-layer random Llama sharing the tiny tokenizer (a teacher for distillation tests)."""
    from core.tiny import make_tiny_model

    return make_tiny_model(
        tmp_path_factory.mktemp("models") / "tiny-teacher",
        n_layers=4,
        seed=1,
        tokenizer=tiny_tokenizer,
    )


@pytest.fixture(scope="session")
def default_teacher():
    """The real default teacher (SmolLM2-135M-Instruct), loaded once per session."""
    from core.backends.transformers_backend import TransformersBackend
    from core.models import resolve_model

    return TransformersBackend(resolve_model("smollm2-135m-instruct"))
