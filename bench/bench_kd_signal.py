"""How exact is the cached KD signal? Cached loss vs dense loss on the default teacher.

    .venv/bin/python bench/bench_kd_signal.py            # 8 held-out texts, 5 draws, layers 24
    .venv/bin/python bench/bench_kd_signal.py --layers 28 --draws 3

The teacher's logits on held-out text are cached two ways: exact top-32 + 32 sampled tail tokens
+ the tail's entropy (``core.distill.tail``, 260 bytes/token) and the old exact top-64 + one
tail bucket (258 bytes/token). A student (the teacher pruned to ``--layers`` layers, untrained:
far from the teacher, the hard case) is scored with each loss against both caches and against
the dense logits; the relative error of each cached loss is printed per draw of the samples.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=24, help="student layers (uniform)")
    parser.add_argument("--texts", type=int, default=8, help="held-out texts")
    parser.add_argument("--draws", type=int, default=5, help="draws of the tail samples")
    args = parser.parse_args()

    import torch

    from core.distill import losses, tail
    from core.distill.data import load_heldout
    from core.distill.student import prune_layers
    from core.models import load_causal_lm, resolve_model

    teacher, tok = load_causal_lm(resolve_model("smollm2-135m-instruct"))
    texts = load_heldout("data/prompts/heldout.jsonl")[: args.texts]
    enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=96)
    student, _ = prune_layers(teacher, args.layers, "uniform")
    with torch.inference_mode():
        t_logits = teacher(**enc).logits.float()
        s_logits = student(**enc).logits.float()
    mask = enc["attention_mask"].bool()
    print(f"student: {args.layers} uniform layers, untrained; {int(mask.sum())} tokens")
    print("k=32 + 32 samples: 260 bytes/token; k=64 + bucket: 258 bytes/token")
    for name in losses.LOSS_NAMES:
        dense = losses.dense_loss(name, s_logits, t_logits, mask=mask).item()
        ids, lp, tl = losses.topk_of(t_logits, 64)
        bucket = losses.topk_loss(name, s_logits, ids, lp.half(), tl.half(), mask=mask).item()
        errors = []
        for draw in range(args.draws):
            rows = tail.teacher_rows(
                t_logits, 32, 32, generator=torch.Generator().manual_seed(draw)
            )
            rows = tail.TeacherRows(
                rows.ids,
                rows.logprobs.half(),
                rows.tail.half(),
                rows.entropy.half(),
                rows.sample_ids,
                rows.sample_logprobs.half(),
            )
            got = losses.reduce(tail.sampled_loss(name, s_logits, rows), mask).item()
            errors.append((got - dense) / dense)
        print(
            f"{name:16s} dense {dense:.4f}  sampled tail "
            + " ".join(f"{e:+.2%}" for e in errors)
            + f"  |  one bucket {(bucket - dense) / dense:+.2%}"
        )


if __name__ == "__main__":
    main()
