"""ONNX embeddings: exported once, same cosines as torch on real texts, a corrupt export
refused by hash (torch used instead, with a warning)."""

from __future__ import annotations

import logging
import pydoc_data.topics

import numpy as np
import pytest

from audit.similarity import metrics as sm

pytestmark = pytest.mark.skipif(not sm.onnx_available(), reason="needs the onnx extra")


@pytest.fixture(scope="module")
def onnx_home(tmp_path_factory):
    """A STILLHOUSE_HOME holding an ONNX export of the bundled MiniLM (made once here)."""
    import os

    from audit.similarity.onnx_embedder import export_onnx

    home = tmp_path_factory.mktemp("onnx-home")
    (home / "models").mkdir()
    before = os.environ.get("STILLHOUSE_HOME")
    os.environ["STILLHOUSE_HOME"] = str(home)
    try:
        export_onnx(sm.default_embedding_path())
    finally:
        os.environ["STILLHOUSE_HOME"] = before or ""
    return home


@pytest.fixture
def at_onnx_home(onnx_home, monkeypatch):
    """The ONNX home on a CPU without native bf16, where ``auto`` picks ONNX Runtime."""
    monkeypatch.setenv("STILLHOUSE_HOME", str(onnx_home))
    monkeypatch.setattr(sm, "_bf16_cpu", lambda: False)
    sm.load_embedder.cache_clear()
    yield onnx_home
    sm.load_embedder.cache_clear()


def real_texts(n: int) -> list[str]:
    """``n`` passages of CPython's own help text (pydoc topics), 20-120 words each."""
    words = " ".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)).split()
    return [" ".join(words[i * 97 : i * 97 + 20 + (i * 13) % 100]) for i in range(n)]


def test_onnx_cosines_match_torch_on_200_real_texts(at_onnx_home):
    texts = real_texts(200)
    onnx = sm.load_embedder()  # auto: the export is there, so ONNX Runtime
    torch_model = sm.load_embedder(None, "torch")
    assert onnx.backend == "onnx" and torch_model.backend == "torch"
    refs, cands = texts[:100], texts[100:]
    got = sm.embedding_cosines(onnx, refs, [cands])[0]
    want = sm.embedding_cosines(torch_model, refs, [cands])[0]
    assert np.abs(got - want).max() < 0.01
    same = (sm.embed(onnx, texts) * sm.embed(torch_model, texts)).sum(axis=1)
    assert same.min() > 0.99  # each text's two embeddings point the same way


def test_a_corrupt_export_is_refused_and_torch_is_used_with_a_warning(at_onnx_home, caplog):
    from audit.similarity.onnx_embedder import ONNX_FILE, export_path

    onnx_file = export_path(sm.default_embedding_path()) / ONNX_FILE
    original = onnx_file.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(damaged))
    try:
        with caplog.at_level(logging.WARNING, logger="stillhouse"):
            embedder = sm.load_embedder()
        assert embedder.backend == "torch"
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "SHA-256" in warned[0] and "torch" in warned[0]
    finally:
        onnx_file.write_bytes(original)


def test_on_a_native_bf16_cpu_auto_takes_torch_under_bf16_with_the_same_cosines(
    at_onnx_home, monkeypatch
):
    monkeypatch.setattr(sm, "_bf16_cpu", lambda: True)
    texts = real_texts(200)
    fast = sm.load_embedder()
    exact = sm.load_embedder(None, "torch")
    assert fast.backend == "torch-bf16" and exact.backend == "torch"
    refs, cands = texts[:100], texts[100:]
    got = sm.embedding_cosines(fast, refs, [cands])[0]
    want = sm.embedding_cosines(exact, refs, [cands])[0]
    assert got.dtype == want.dtype and np.abs(got - want).max() < 0.01


def test_without_an_export_auto_uses_torch(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.setenv("STILLHOUSE_HOME", str(tmp_path))
    monkeypatch.setattr(sm, "_bf16_cpu", lambda: False)
    sm.load_embedder.cache_clear()
    try:
        assert sm.load_embedder().backend == "torch"
    finally:
        sm.load_embedder.cache_clear()


def test_models_prepare_exports_the_embedding_model_once(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "models").mkdir()
    env = {**os.environ, "STILLHOUSE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "ui.cli", "models", "prepare", "all-minilm-l6-v2"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    export = tmp_path / "models" / "all-minilm-l6-v2-onnx"
    assert f"onnx    {export}" in first.stdout and (export / "model.onnx").is_file()
    stamp = (export / "model.onnx").stat().st_mtime_ns
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and (export / "model.onnx").stat().st_mtime_ns == stamp


def test_an_export_made_by_another_recipe_is_refused_as_stale(at_onnx_home, caplog):
    import json

    from audit.similarity.onnx_embedder import MANIFEST, export_path

    manifest = export_path(sm.default_embedding_path()) / MANIFEST
    original = manifest.read_text()
    manifest.write_text(json.dumps({**json.loads(original), "format": "float32"}))
    try:
        with caplog.at_level(logging.WARNING, logger="stillhouse"):
            assert sm.load_embedder().backend == "torch"
        assert any("stale" in r.getMessage() for r in caplog.records)
    finally:
        manifest.write_text(original)
