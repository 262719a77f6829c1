"""distill() end to end on tiny models: Ctrl-C leaves a checkpoint, --resume finishes, the run is
recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.distill.config import DistillConfig
from core.hashing import sha256_weights
from core.recorder import NullRecorder


def tiny_config(teacher_dir: Path, **extra) -> DistillConfig:
    settings = dict(
        teacher=str(teacher_dir),
        student_name="tiny-distilled",
        prune={"layers": 2, "method": "uniform"},
        max_prompts=12,
        max_new_tokens=10,
        gen_batch_size=6,
        max_steps=6,
        batch_size=4,
        save_steps=100,
        logging_steps=1,
        topk=16,
        speed_tokens=4,
        eval_max_len=48,
        seed=3,
    )
    settings.update(extra)
    return DistillConfig(**settings)


@pytest.fixture(scope="module")
def interrupted_then_resumed(tiny_teacher_dir, session_home):
    """Send SIGINT during step 2, then resume: the two halves of one run."""
    from core.distill.run import InterruptedRun, distill

    os.environ["STILLHOUSE_HOME"] = str(session_home)
    config = tiny_config(tiny_teacher_dir)
    recorder = NullRecorder()
    seen: list[str] = []

    def progress(fraction, desc=""):
        seen.append(desc)
        if desc == "training step 2" and seen.count(desc) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(InterruptedRun) as stopped:
        distill(config, recorder=recorder, progress=progress)
    first = dict(recorder.runs)
    result = distill(config, recorder=recorder, progress=False, resume=True)
    return config, recorder, first, stopped.value, result, seen


def test_ctrl_c_leaves_a_resumable_checkpoint(interrupted_then_resumed):
    _, _, first, stopped, result, _ = interrupted_then_resumed
    assert "stopped at step" in stopped.message and "--resume" in stopped.hint
    (run,) = first.values()
    assert run["status"] == "interrupted"
    assert result.resumed_from_step >= 2
    assert result.evaluation["heldout_tokens"] > 0


def test_progress_callable_sees_every_phase(interrupted_then_resumed):
    *_, seen = interrupted_then_resumed
    for phase in (
        "teacher answers",
        "held-out evaluation",
        "teacher top-k cache",
        "training step 1",
    ):
        assert phase in seen


def test_student_is_saved_with_the_teachers_licence_and_name(
    interrupted_then_resumed, tiny_teacher_dir
):
    from core.models import resolve_model

    config, _, _, _, result, _ = interrupted_then_resumed
    spec = resolve_model("tiny-distilled")
    assert spec.license == "apache-2.0" and spec.base_model == Path(tiny_teacher_dir).name
    assert sha256_weights(result.student_dir) == result.student_sha256
    assert result.kept_layers == [0, 3]


def test_run_files_and_evaluation(interrupted_then_resumed):
    _, _, _, _, result, _ = interrupted_then_resumed
    evaluation = json.loads(Path(result.eval_json).read_text())
    for key in ("teacher", "student", "kl", "top1_agreement", "baseline", "kl_reduction"):
        assert key in evaluation
    assert evaluation["student"]["parameters"] < evaluation["teacher"]["parameters"]
    assert evaluation["student"]["bytes"] < evaluation["teacher"]["bytes"]
    assert Path(result.loss_curve_png).read_bytes()[:4] == b"\x89PNG"
    assert "KL drop vs pruned, untrained student" in result.table
    assert not (Path(result.run_dir) / "checkpoints").exists()  # cleaned after success


def test_recorder_gets_hashed_inputs_and_outputs(interrupted_then_resumed):
    _, recorder, _, _, result, _ = interrupted_then_resumed
    run = recorder.runs[result.run_id]
    assert run["status"] == "succeeded" and run["config"]["student_name"] == "tiny-distilled"
    inputs = {ref.role: ref for ref in run["inputs"]}
    assert set(inputs) == {"teacher", "prompts", "teacher_data", "heldout"}
    assert all(len(ref.sha256) == 64 for ref in inputs.values())
    assert inputs["teacher_data"].records == 12 and inputs["teacher"].license == "apache-2.0"
    outputs = {ref.role: ref for ref in run["outputs"]}
    assert outputs["student"].sha256 == result.student_sha256
    assert run["metrics"]["steps"] == 6


def test_cli_reports_bad_config_in_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "distill", "--set", "max_step=3", "--set", "loss=kl9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "max_step: unknown setting" in done.stderr and "loss" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_cli_reports_a_broken_prompt_file(tmp_path):
    bad = tmp_path / "prompts.jsonl"
    bad.write_text('{"prompt": "ok"}\nnot json\n')
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "distill", "--set", f"prompts={bad}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "line 2: not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_reports_prune_settings_that_leave_nothing_in_one_line(tiny_teacher_dir, tmp_path):
    """Bad prune values (pydantic) and ones that do not fit the teacher (checked against its
    config before any teacher data is made): exit 2, one line, every problem named."""
    env = {**os.environ, "STILLHOUSE_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "ui.cli", "distill", "--use", "research"]
    done = subprocess.run(
        [*cmd, "--set", "prune.mlp_keep=0", "--set", "prune.heads_keep=0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "prune.mlp_keep" in done.stderr and "prune.heads_keep" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run(
        [
            *cmd,
            "--set",
            f"teacher={tiny_teacher_dir}",
            "--set",
            "prune.layers=9",
            "--set",
            "prune.heads_keep=8",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "2 problem(s) in the prune settings" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "teacher-data").exists() or not any(
        (tmp_path / "teacher-data").iterdir()
    )


def test_cli_refuses_a_non_utf8_prompt_file_before_anything_is_recorded(tmp_path):
    bad = tmp_path / "prompts.jsonl"
    bad.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xff"}\n')
    ledger = tmp_path / "ledger.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "distill", "--set", f"prompts={bad}", "--db", str(ledger)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()[:1]
    assert "prompts.jsonl line 2: not valid UTF-8 (byte 0xff" in line
    assert "Traceback" not in done.stderr and not done.stdout.strip()
    assert not ledger.exists()  # not even the pre-flight was recorded


def test_a_depth_and_width_pruned_student_trains_saves_and_reloads(tiny_teacher_dir, session_home):
    from transformers import AutoConfig

    from core.distill.run import distill

    os.environ["STILLHOUSE_HOME"] = str(session_home)
    config = tiny_config(
        tiny_teacher_dir,
        student_name="tiny-narrow",
        prune={"layers": 3, "method": "block_influence", "mlp_keep": 0.5, "heads_keep": 2},
        max_steps=2,
        tail_samples=8,
    )
    result = distill(config, recorder=NullRecorder(), progress=False)
    saved = AutoConfig.from_pretrained(result.student_dir)
    assert (saved.num_hidden_layers, saved.intermediate_size) == (3, 64)
    assert (saved.num_attention_heads, saved.num_key_value_heads) == (2, 2)
    assert result.evaluation["answers"]["student"]  # held-out prompts were answered
