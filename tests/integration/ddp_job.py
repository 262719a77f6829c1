"""One process of the 2-process DDP test: distil a tiny teacher, write what this process ended with.

torchrun --nproc_per_node 2 tests/integration/ddp_job.py TEACHER_DIR OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.distill.config import DistillConfig  # noqa: E402
from core.distill.run import distill  # noqa: E402
from core.recorder import NullRecorder  # noqa: E402


def main(teacher_dir: str, out_dir: str) -> None:
    config = DistillConfig(
        teacher=teacher_dir,
        student_name="tiny-ddp",
        prune={"layers": 2, "method": "uniform"},
        max_prompts=16,
        max_new_tokens=10,
        gen_batch_size=8,
        max_steps=4,
        batch_size=2,
        save_steps=100,
        logging_steps=1,
        topk=16,
        speed_tokens=4,
        eval_max_len=48,
        bf16=False,
        seed=5,
    )
    result = distill(config, recorder=NullRecorder(), progress=False)
    rank = int(os.environ.get("RANK", "0"))
    import torch.distributed as dist

    from core.distill.student import prune_layers
    from core.distill.training import state_sha256
    from core.models import load_causal_lm, resolve_model

    teacher, _ = load_causal_lm(resolve_model(teacher_dir))
    untrained = state_sha256(prune_layers(teacher, 2)[0])
    payload = {
        "rank": rank,
        "untrained_sha256": untrained,
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "state_sha256": result.state_sha256,
        "student_dir": result.student_dir,
        "kl": result.evaluation.get("kl"),
        "kl_untrained": (result.evaluation.get("baseline") or {}).get("kl"),
    }
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(payload))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
