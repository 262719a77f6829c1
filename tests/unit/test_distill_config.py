"""Presets load, overrides apply, and every config problem is reported at once."""

from __future__ import annotations

import pytest

from core.distill.config import DistillConfig, load_preset
from core.errors import InputError, NotFoundError


def test_quick_preset_is_the_default_teacher_to_a_pruned_student():
    config = load_preset("quick")
    assert config.teacher == "smollm2-135m-instruct"
    kept = config.prune.keep_layers or []
    assert 8 < len(kept) < 30 and kept == sorted(set(kept)) and kept[-1] < 30
    assert config.plain_share > 0 and config.answers_per_prompt > 1
    assert config.student_name == "smollm2-distilled"
    assert config.topk + config.tail_samples > 0 and not config.train_on_prompt


def test_every_shipped_preset_loads():
    from core.distill.config import PRESETS_DIR

    names = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
    assert {"quick", "tiny", "gpu-qwen"} <= set(names)
    for name in names:
        load_preset(name)


def test_gpu_preset_loads():
    config = load_preset("gpu-qwen")
    assert config.student_from and config.topk > 0


def test_overrides_are_read_as_yaml():
    config = load_preset(
        "quick",
        ["max_steps=7", "prune.keep_layers=[0, 5, 29]", "bf16=false", "loss=reverse_kl"],
    )
    assert config.max_steps == 7 and config.prune.keep_layers == [0, 5, 29]
    assert config.bf16 is False and config.loss == "reverse_kl"


def test_every_problem_is_reported_at_once():
    with pytest.raises(InputError) as caught:
        load_preset("quick", ["max_step=7", "loss=kl2", "lr=-1", "oops"])
    message = caught.value.message
    assert "4 problem(s)" in message
    for needle in (
        "max_step: unknown setting",
        "loss:",
        "forward_kl",
        "lr:",
        "'oops' is not key=value",
    ):
        assert needle in message


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="known: .*quick"):
        load_preset("nope")


def test_nothing_to_train_is_refused():
    with pytest.raises(InputError, match="nothing to train"):
        load_preset("quick", ["kd_weight=0", "ce_weight=0"])


def test_every_setting_is_described_and_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "distill.md").read_text()
    for name, field in DistillConfig.model_fields.items():
        assert field.description, name
        assert f"`{name}`" in doc, f"{name} missing from docs/distill.md"


def test_a_depth_override_replaces_the_presets_pinned_layers():
    """quick pins its 20 layers; ``prune.layers=18`` must mean 18, not be silently ignored."""
    assert load_preset("quick").prune.keep_layers
    deeper = load_preset("quick", ["prune.layers=18", "prune.method=angular"])
    assert deeper.prune.keep_layers is None and deeper.prune.layers == 18
    assert load_preset("quick", ["prune.layers=18"]).prune.keep_layers is None
    pinned = load_preset("quick", ["prune.layers=18", "prune.keep_layers=[0, 29]"])
    assert pinned.prune.keep_layers == [0, 29]
