"""The distill job runs under 2-process CPU DDP (gloo via torchrun) and both processes agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

JOB = Path(__file__).with_name("ddp_job.py")


@pytest.mark.slow
def test_two_gloo_processes_train_the_same_student(tiny_teacher_dir, tmp_path, session_home):
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {
        **os.environ,
        "STILLHOUSE_HOME": str(session_home),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    done = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            str(JOB),
            str(tiny_teacher_dir),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # DDP keeps the replicas identical: both processes end with the same weights.
    # Each process saw different batches; only synchronised gradients keep the replicas equal.
    assert ranks[0]["state_sha256"] == ranks[1]["state_sha256"] != ""
    assert ranks[0]["state_sha256"] != ranks[0]["untrained_sha256"]  # and training did move them
    # Only the main process saves and evaluates.
    assert ranks[0]["student_dir"] and not ranks[1]["student_dir"]
    assert Path(ranks[0]["student_dir"], "config.json").is_file()
    assert ranks[0]["kl"] is not None and ranks[0]["kl_untrained"] is not None
