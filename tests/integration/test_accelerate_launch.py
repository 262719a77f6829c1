"""The scale-out path on CPU: `accelerate launch` with the shipped DDP config runs the quick
preset in 2 gloo processes and writes one student; a sharded (FSDP) student is gathered by every
rank and saved whole by the main one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STILLHOUSE_HOME": str(home),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(ROOT),
    }


@pytest.mark.slow
def test_accelerate_launch_ddp_quick_writes_one_student(session_home, tmp_path):
    if not (session_home / "models" / "smollm2-135m-instruct").exists():
        pytest.skip("the default teacher is not converted (make models)")
    accelerate = Path(sys.executable).with_name("accelerate")
    sets = [
        "max_steps=4",
        "max_prompts=16",
        "max_new_tokens=16",
        "speed_tokens=4",
        "eval_max_len=64",
        "kd_chunk_tokens=32",  # the chunked loss and gradient checkpointing under DDP, too
        "gradient_checkpointing=true",
        "student_name=ddp-quick",
    ]
    db = tmp_path / "ledger.duckdb"
    done = subprocess.run(
        [str(accelerate), "launch", "--config_file", str(ROOT / "data/accelerate/ddp.yaml")]
        + ["--num_processes", "2", "--main_process_port", "29561", "-m", "ui.cli", "distill"]
        + ["--preset", "quick", "--quiet", "--db", str(db)]
        + [arg for s in sets for arg in ("--set", s)],
        capture_output=True,
        text=True,
        timeout=900,
        env=_env(session_home),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("student     ") == 1  # only the main process reports
    student = session_home / "models" / "ddp-quick"
    assert (student / "config.json").is_file() and (student / "model.safetensors").is_file()
    assert "KL drop vs pruned" in done.stdout
    from audit.ledger.store import Store

    runs = Store(db).runs("distill")
    assert len(runs) == 1 and runs[0]["status"] == "succeeded"  # one writer, one run


@pytest.mark.slow
def test_every_rank_joins_the_fsdp_gather_and_one_whole_student_is_saved(
    tiny_model_dir, session_home, tmp_path
):
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29563"]
        + [str(ROOT / "tests/integration/fsdp_gather_job.py"), str(tiny_model_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(session_home),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["keys"] > 0 and ranks[1]["keys"] == 0  # full weights on the main rank only
    assert ranks[0]["max_diff"] < 1e-5  # the gathered student is the trained one, whole
    assert Path(ranks[0]["student_dir"], "model.safetensors").is_file()
    assert "student_dir" not in ranks[1]
