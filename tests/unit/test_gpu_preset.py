"""gpu-qwen loads, derives its steps from the data size, and fetches its prompt set once, refusing
clearly where there is no network (or falling back to the bundled file when told to)."""

from __future__ import annotations

import pytest

from core.distill.config import data_path, load_preset
from core.distill.progress import Progress
from core.distill.prompt_sets import prompts_file
from core.distill.trainer import steps_for
from core.errors import InputError


def test_gpu_qwen_loads_with_the_gpu_settings():
    config = load_preset("gpu-qwen")
    assert config.kd_chunk_tokens > 0 and config.gradient_checkpointing and config.topk == 64
    assert config.prompts_dataset and config.epochs
    # 2 epochs over 8,192 sequences: 1,024 steps on one GPU, 128 on eight (not 1,600 epochs)
    assert steps_for(config, 8192, 1) == 1024 and steps_for(config, 8192, 8) == 128
    assert steps_for(config, 3, 8) == 1


def test_no_network_is_refused_clearly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="needs network") as caught:
        prompts_file(load_preset("gpu-qwen"), Progress(False))
    assert "prompts_offline=fallback" in caught.value.hint


def test_fallback_uses_the_bundled_prompts(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = load_preset("gpu-qwen", ["prompts_offline=fallback"])
    assert prompts_file(config, Progress(False)) == data_path("data/prompts/default.jsonl")


def test_a_fetched_set_is_reused_without_network(monkeypatch, stillhouse_home):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = stillhouse_home / "prompts" / "nvidia--HelpSteer2-train.jsonl"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text('{"id": "a", "prompt": "Name three colours."}\n')
    assert prompts_file(load_preset("gpu-qwen"), Progress(False)) == cached
