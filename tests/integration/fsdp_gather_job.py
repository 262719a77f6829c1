"""One process of the 2-process FSDP save test: shard a tiny student, train one step, gather.

torchrun --nproc_per_node 2 tests/integration/fsdp_gather_job.py TEACHER_DIR OUT_DIR

accelerate refuses FSDP without an accelerator, so this drives torch's FSDP2 (``fully_shard``)
on CPU over gloo directly and calls the gather and rebuild that ``gather_student`` uses under
``accelerate launch --config_file data/accelerate/fsdp.yaml``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(model_dir: str, out_dir: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from core.distill.trainer import full_model, full_state_dict
    from core.distill.training import state_sha256
    from core.models import load_causal_lm, resolve_model, save_model
    from core.specs import ModelSpec

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    model, tokenizer = load_causal_lm(resolve_model(model_dir))
    model.train()
    reference = None
    if rank == 0:  # the same step without sharding, for comparison
        reference, _ = load_causal_lm(resolve_model(model_dir))
        reference.train()
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    ids = torch.randint(
        3, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0)
    )
    for net in [model] + ([reference] if reference is not None else []):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
        net(input_ids=ids, labels=ids).loss.backward()  # same batch on both ranks
        optimizer.step()
    state = full_state_dict(model)  # every rank takes part
    payload = {"rank": rank, "keys": len(state)}
    if rank == 0:
        gathered = full_model(model.config, state)
        saved = save_model(gathered, tokenizer, ModelSpec(name="tiny-fsdp", source="local"))
        payload.update(
            student_dir=str(saved.path),
            gathered_sha256=state_sha256(gathered),
            reference_sha256=state_sha256(reference),
            max_diff=max(
                float((a - b).abs().max())
                for a, b in zip(
                    gathered.state_dict().values(), reference.state_dict().values(), strict=True
                )
            ),
        )
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(payload))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(sys.argv[1], sys.argv[2])
