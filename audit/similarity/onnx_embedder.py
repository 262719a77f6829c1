"""ONNX Runtime sentence embeddings: the bundled all-MiniLM-L6-v2 exported once, checked by hash.

    folder = export_onnx(model_dir)         # at ``stillhouse models prepare all-minilm-l6-v2``
    embedder = load_onnx_embedder(model_dir)  # None (and one warning) when unusable
    vectors = embedder.encode(texts, batch_size=32, normalize_embeddings=True)

The export is the model's transformer (``torch.onnx.export`` of the eager-attention graph,
dynamic batch and length, then onnxruntime's BERT fusions: attention, skip layer norm,
bias GELU, then its 18 dense MatMuls as ``MatMulNBits``: 8-bit weights in blocks of 32,
``accuracy_level=4`` so onnxruntime multiplies in int8 with one activation scale per block
of 32; see ``_quantize``) in
``$STILLHOUSE_HOME/models/<name>-onnx/model.onnx``, beside ``stillhouse-onnx.json`` that
records the SHA-256 of the ONNX file and of the weights it came from. ``load_onnx_embedder``
re-hashes the file and refuses it (falls back to torch, with a warning) when either hash
differs: a corrupt or stale export is never used. ``OnnxEmbedder.encode`` does what the
sentence-transformers pipeline of this model does (tokenize to its max length, mean-pool
over the attention mask, normalise) and takes the same arguments as
``SentenceTransformer.encode``, so ``metrics.embed`` runs either one.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.hashing import sha256_file, sha256_weights

DEFAULT_EMBEDDING = "all-minilm-l6-v2"  # the bundled model's name (core.models.DEFAULT_EMBEDDING)
MANIFEST = "stillhouse-onnx.json"
# The export's recipe; an export made by another recipe is stale and made again.
FORMAT = "bert-fused+matmulnbits8-b32-acc4"
ONNX_FILE = "model.onnx"
log = logging.getLogger("stillhouse")


def onnx_runtime_installed() -> bool:
    """True when onnxruntime (the ``onnx`` extra) is importable."""
    return importlib.util.find_spec("onnxruntime") is not None


def _name_of(model_dir: Path) -> str:
    """The bundled model's name when ``model_dir`` is the bundled folder, else its folder name."""
    try:
        from core.bundled import embedding_model_path

        if Path(model_dir).resolve() == embedding_model_path().resolve():
            return DEFAULT_EMBEDDING
    except Exception:  # the bundled package is missing: name it by folder
        pass
    return Path(model_dir).name


def export_path(model_dir: Path) -> Path:
    """Folder of the export for ``model_dir`` (named after the model)."""
    from core.paths import models_dir

    return models_dir() / f"{_name_of(model_dir)}-onnx"


def export_onnx(model_dir: Path, *, force: bool = False) -> Path:
    """Export the model's transformer to ONNX once (atomic); return the export's folder."""
    import torch
    from transformers import AutoModel

    from core.paths import atomic_dir

    model_dir = Path(model_dir)
    target = export_path(model_dir)
    weights = sha256_weights(model_dir)
    if not force and _manifest_ok(target, weights):
        return target
    from core.bundled import MODEL_LOAD_LOCK

    with MODEL_LOAD_LOCK:
        loaded = AutoModel.from_pretrained(
            str(model_dir), local_files_only=True, attn_implementation="eager"
        )
    model = _Hidden(loaded.eval())
    sample = torch.ones((2, 8), dtype=torch.long)
    with atomic_dir(target) as tmp:
        with torch.inference_mode():
            torch.onnx.export(
                model,
                (sample, sample, torch.zeros_like(sample)),
                str(tmp / "raw.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    name: {0: "batch", 1: "tokens"}
                    for name in (
                        "input_ids",
                        "attention_mask",
                        "token_type_ids",
                        "last_hidden_state",
                    )
                },
                opset_version=17,
                dynamo=False,
            )
        _fuse(tmp / "raw.onnx", tmp / "fused.onnx", loaded.config)
        _quantize(tmp / "fused.onnx", tmp / ONNX_FILE)
        (tmp / "raw.onnx").unlink()
        (tmp / "fused.onnx").unlink()
        manifest = {
            "format": FORMAT,
            "onnx_sha256": sha256_file(tmp / ONNX_FILE),
            "weights_sha256": weights,
            "source": str(model_dir),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return target


def _fuse(source: Path, target: Path, config) -> None:
    """onnxruntime's BERT graph fusions (attention, skip layer norm, bias GELU) into ``target``."""
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
    )
    fused.save_model_to_file(str(target))


def _quantize(source: Path, target: Path) -> None:
    """Rewrite the dense MatMuls as onnxruntime's ``MatMulNBits``, 8-bit, blocks of 32.

    Measured on this 2-core AVX512-VNNI machine (bench_similarity's texts, cosines on the
    unit test's 200 texts): float32 ONNX ran 1.0-1.1x torch; ``quantize_dynamic`` int8 ran
    2.0-2.2x but moved cosines by 0.035 (per channel) to 0.13 (per tensor), with any one
    kind of layer or the last layer left in float32 still 0.03 or more, because it quantizes
    each activation tensor with one scale and MiniLM's activations have outlier channels.
    ``MatMulNBits`` with ``accuracy_level=4`` takes one activation scale per block of 32
    values, so an outlier spoils only its block: cosines within 0.006 at 1.4-2.7x torch (the
    load varied). Adding int8 QAttention for the fused Q/K/V: 0.0125, and slower.
    4-bit weights moved cosines by 0.05; blocks of 128 by 0.0095 (too near the 0.01 bar).
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(source)), bits=8, block_size=32, is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def _hidden_class() -> type:
    import torch

    class Hidden(torch.nn.Module):
        """The transformer with keyword inputs and its last hidden state as the one output."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return Hidden


def _Hidden(model):  # noqa: N802 - reads as the class it builds
    return _hidden_class()(model)


def _manifest_ok(folder: Path, weights: str) -> bool:
    """True when the export exists, its file hashes as recorded, and it came from ``weights``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return (
            manifest.get("format") == FORMAT
            and manifest["weights_sha256"] == weights
            and sha256_file(folder / ONNX_FILE) == manifest["onnx_sha256"]
        )
    except (OSError, ValueError, KeyError):
        return False


def load_onnx_embedder(model_dir: Path) -> OnnxEmbedder | None:
    """The checked ONNX export of ``model_dir``; None when there is none, or (with a warning)
    when its hash does not match."""
    if not onnx_runtime_installed():
        return None
    folder = export_path(model_dir)
    if not (folder / MANIFEST).is_file():
        return None
    if not _manifest_ok(folder, sha256_weights(model_dir)):
        log.warning(
            f"stillhouse: the ONNX embedding export in {folder} does not match its recorded "
            "SHA-256 (corrupt or stale): using torch; re-run `stillhouse models prepare "
            "all-minilm-l6-v2` to export it again"
        )
        return None
    return OnnxEmbedder(Path(model_dir), folder / ONNX_FILE)


class OnnxEmbedder:
    """A sentence-transformers-like ``encode`` over an ONNX Runtime session (mean pooling)."""

    def __init__(self, model_dir: Path, onnx_file: Path) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        config = model_dir / "sentence_bert_config.json"
        settings = json.loads(config.read_text()) if config.is_file() else {}
        self.max_seq_length = int(settings.get("max_seq_length", 256))
        import torch

        options = ort.SessionOptions()
        # As many threads as torch uses, and no busy-waiting between ops: spinning threads
        # cost more than they save on a shared or small machine.
        options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or max(
            1, torch.get_num_threads()
        )
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.device = "cpu (onnxruntime)"
        self.backend = "onnx"

    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
        **_: Any,
    ) -> np.ndarray:
        """Embeddings of ``sentences`` (float32, one row each), batched by length."""
        from tqdm import tqdm

        texts = list(sentences)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="embedding (onnx)", disable=not show_progress_bar):
            rows = order[start : start + batch_size]
            vectors = self._batch([texts[i] for i in rows])
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        if normalize_embeddings and len(out):
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_seq_length,
            return_tensors="np",
        )
        mask = enc["attention_mask"].astype(np.int64)
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": mask,
            "token_type_ids": enc.get("token_type_ids", np.zeros_like(mask)).astype(np.int64),
        }
        hidden = self.session.run(["last_hidden_state"], feeds)[0]
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
