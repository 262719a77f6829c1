"""A short distillation of the real default teacher: the student gets closer to it on held-out
text."""

from __future__ import annotations

import pytest

from core.distill.config import load_preset
from core.recorder import NullRecorder


@pytest.mark.slow
def test_a_few_steps_of_kd_bring_the_pruned_student_closer_to_the_teacher():
    from core.distill.run import distill
    from core.models import resolve_model

    config = load_preset(
        "quick",
        [
            "student_name=smollm2-kd-smoke",
            "max_prompts=16",
            "max_new_tokens=24",
            "gen_batch_size=16",
            "max_steps=12",
            "batch_size=4",
            "max_seq_len=64",
            "save_steps=1000",
            "eval_max_len=64",
            "speed_tokens=8",
            "lr=4e-4",
            # the old 8-layer uniform shape: small and quick, and far enough from the teacher
            # that 12 steps must visibly close the gap
            "prune.layers=8",
            "prune.method=uniform",
            "answers_per_prompt=1",
            "heldout_prompts=null",
        ],
    )
    recorder = NullRecorder()
    result = distill(config, recorder=recorder, progress=False)
    evaluation = result.evaluation
    assert result.kept_layers == [0, 4, 8, 12, 17, 21, 25, 29]
    assert evaluation["kl"] < 0.8 * evaluation["baseline"]["kl"]
    assert evaluation["student"]["perplexity"] < evaluation["baseline"]["perplexity"]
    assert 50e6 < evaluation["student"]["parameters"] < 60e6
    spec = resolve_model("smollm2-kd-smoke")
    assert spec.license == "apache-2.0" and spec.base_model == "smollm2-135m-instruct"
    run = recorder.runs[result.run_id]
    teacher = next(ref for ref in run["inputs"] if ref.role == "teacher")
    assert teacher.license == "apache-2.0" and len(teacher.sha256) == 64
