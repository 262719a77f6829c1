"""The quality / speed frontier: several student shapes, the same teacher data, the same budget.

    .venv/bin/python bench/bench_frontier.py                 # every shape, 240 s of training each
    .venv/bin/python bench/bench_frontier.py --budget 120 --shapes d20,d8u
    .venv/bin/python bench/bench_frontier.py --plot docs/images/frontier.png --json out.json

Every shape is distilled from the quick preset's teacher data and top-k cache (made once, then
reused) for the same wall-clock training budget, at a constant learning rate after warm-up so
that stopping on the budget is fair. Per shape it prints parameters, decode tokens/s at batch 1
and 16 (greedy, same backend and dtype as the teacher, timed interleaved with the teacher),
held-out perplexity ratio (human-written text, and the teacher's own answers to held-out
prompts), answer agreement (chrF and embedding cosine, as a position between floor and
ceiling) and "quality kept" (``core.distill.answers``). Figures on a shared machine are taken
under load: compare ratios, not absolute speeds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHAPES: dict[str, dict] = {
    "d22": {"layers": 22, "method": "angular"},  # depth only
    "d18": {"layers": 18, "method": "angular"},  # depth only, deeper cut
    "d20": {"layers": 20, "method": "angular"},
    "d20-bi": {"layers": 20, "method": "block_influence"},
    "w-mlp50-h6": {"mlp_keep": 0.5, "heads_keep": 6},  # width only
    "d22-mlp75": {"layers": 22, "method": "angular", "mlp_keep": 0.75},  # width + depth
    "d20-mlp75": {"layers": 20, "method": "angular", "mlp_keep": 0.75},
    "d8u": {"layers": 8, "method": "uniform"},  # the old 8-layer student
}
# The quick preset's layers: greedy removal by output KL (core.distill.student.greedy_kl_layers).
GREEDY_20 = [0, 1, 2, 8, 9, 10, 11, 12, 13, 15, 19, 20, 21, 22, 23, 24, 25, 27, 28, 29]
SHAPES["d20-greedy"] = {"keep_layers": GREEDY_20}
DEFAULT_SHAPES = "d22,d20-bi,d20-greedy,w-mlp50-h6,d22-mlp75,d8u"


def distill_shape(name: str, prune: dict, budget: float, extra: list[str]):
    from core.distill.config import load_preset
    from core.distill.run import distill

    overrides = [
        f"prune={json.dumps(prune)}",
        f"student_name=frontier-{name}",
        "max_steps=2000",
        f"train_seconds={budget}",
        "lr_scheduler=constant_with_warmup",
        "warmup_ratio=0.005",
        "save_steps=100000",
        *extra,
    ]
    started = time.perf_counter()
    result = distill(load_preset("quick", overrides), progress=False)
    return result, time.perf_counter() - started


def measure(name: str, prune: dict, result, wall: float, scorer) -> dict:
    from core.distill.answers import agreement, quality_kept
    from core.distill.evaluate import decode_speeds
    from core.models import load_causal_lm, resolve_model

    evaluation = result.evaluation
    teacher, tokenizer = load_causal_lm(resolve_model("smollm2-135m-instruct"))
    student, _ = load_causal_lm(resolve_model(result.student_name))
    t16, s16 = decode_speeds(teacher, student, tokenizer, 32, batch=16, repeats=2)
    agree = agreement(evaluation["answers"], scorer)
    t, s = evaluation["teacher"], evaluation["student"]
    ppl_ratio = s["perplexity"] / t["perplexity"]
    ap = evaluation["answers_perplexity"]
    kept, parts = quality_kept(ppl_ratio, agree)
    return {
        "shape": name,
        "prune": prune,
        "parameters": s["parameters"],
        "teacher_parameters": t["parameters"],
        "tokens_per_s_b1": s["tokens_per_s"],
        "teacher_tokens_per_s_b1": t["tokens_per_s"],
        "speedup_b1": s["tokens_per_s"] / t["tokens_per_s"],
        "tokens_per_s_b16": s16,
        "teacher_tokens_per_s_b16": t16,
        "speedup_b16": s16 / t16,
        "perplexity": s["perplexity"],
        "teacher_perplexity": t["perplexity"],
        "perplexity_ratio": ppl_ratio,
        "answers_perplexity_ratio": ap["student"] / ap["teacher"],
        "untrained_perplexity": (evaluation.get("baseline") or {}).get("perplexity"),
        "agreement": agree.model_dump(),
        "quality_kept": kept,
        "quality_parts": parts,
        "wall_s": wall,
    }


def table(rows: list[dict]) -> str:
    head = (
        f"{'shape':12s} {'params':>7s} {'b1 x':>5s} {'b16 x':>6s} {'ppl':>7s} {'ppl x':>6s} "
        f"{'ans ppl x':>9s} {'chrF pos':>8s} {'cos pos':>7s} {'kept':>5s} {'wall s':>6s}"
    )
    lines = [head]
    for r in rows:
        pos = r["agreement"]["position"]
        lines.append(
            f"{r['shape']:12s} {r['parameters'] / 1e6:6.1f}M {r['speedup_b1']:5.2f} "
            f"{r['speedup_b16']:6.2f} {r['perplexity']:7.1f} {r['perplexity_ratio']:6.2f} "
            f"{r['answers_perplexity_ratio']:9.2f} {pos['chrf']:8.2f} {pos['cosine']:7.2f} "
            f"{r['quality_kept']:5.2f} {r['wall_s']:6.0f}"
        )
    if rows:
        r = rows[0]
        lines.append(
            f"teacher: {r['teacher_parameters'] / 1e6:.1f}M parameters, perplexity "
            f"{r['teacher_perplexity']:.2f}; speed-ups are student/teacher decode tokens/s, "
            "timed interleaved"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    for r in rows:
        ax.scatter(r["speedup_b1"], r["quality_kept"], s=40)
        ax.annotate(
            r["shape"],
            (r["speedup_b1"], r["quality_kept"]),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.axvline(1.4, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("decode speed-up at batch 1 (student / teacher tokens/s)")
    ax.set_ylabel("quality kept (0..1)")
    ax.set_title("stillhouse: student shapes, same teacher data and training time")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds per shape")
    parser.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated shape names")
    parser.add_argument("--set", action="append", default=[], help="extra preset override")
    parser.add_argument("--json", type=Path, default=None, help="append rows to this JSONL file")
    parser.add_argument("--plot", type=Path, default=None, help="write the frontier PNG here")
    args = parser.parse_args()

    import torch

    from audit.similarity.agreement import answer_scorer

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    scorer = answer_scorer()
    rows = []
    for name in args.shapes.split(","):
        prune = SHAPES[name]
        result, wall = distill_shape(name, prune, args.budget, args.set)
        row = measure(name, prune, result, wall, scorer)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps(row) + "\n")
    print(table(rows))
    if args.plot:
        plot(rows, args.plot)
        print(f"plot: {args.plot}")
    fast = [r for r in rows if r["speedup_b1"] >= 1.4] or rows
    best = max(fast, key=lambda r: r["quality_kept"])
    print(  # the key figure last: the best shape at >= 1.4x (the issue's must), or overall
        f"best shape {best['shape']}: quality kept {best['quality_kept']:.2f} at "
        f"{best['speedup_b1']:.2f}x batch-1 decode, perplexity {best['perplexity_ratio']:.2f}x"
    )


if __name__ == "__main__":
    main()
