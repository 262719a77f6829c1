"""Is the small model worth it? Teacher and student side by side, as the Distill tab shows them.

Figures come from the run's evaluation (``core.distill.evaluate.EvalReport`` as a dict), the
ledger's blind votes between the two, and the price of this machine per hour, which turns
tokens/s into a cost per million generated tokens.
"""

from __future__ import annotations

from typing import Any

HEADERS = ["", "Teacher", "Student", "Student vs teacher"]


def vote_share(votes: list[dict[str, Any]], teacher: str, student: str) -> tuple[float | None, int]:
    """The student's share of counted blind votes against the teacher (ties count half)."""
    score, n = 0.0, 0
    for vote in votes:
        pair = {vote.get("model_a"), vote.get("model_b")}
        if vote.get("excluded") or not vote.get("blind", True) or pair != {teacher, student}:
            continue
        n += 1
        winner = vote.get("vote")
        side = "model_a" if vote.get("model_a") == student else "model_b"
        score += 1.0 if winner == side else 0.5 if str(winner).startswith("tie") else 0.0
    return (score / n if n else None), n


def scorecard(
    evaluation: dict[str, Any], votes: list[dict[str, Any]], cost_per_hour: float
) -> list[list[str]]:
    """Rows of the scorecard: size, memory, speed, quality kept, votes and cost."""
    t, s = evaluation["teacher"], evaluation["student"]
    rows = [
        [
            "Parameters",
            f"{t['parameters'] / 1e6:.1f}M",
            f"{s['parameters'] / 1e6:.1f}M",
            _share(s["parameters"], t["parameters"]),
        ],
        [
            "Weights on disk",
            _mb(t.get("bytes")),
            _mb(s.get("bytes")),
            _share(s.get("bytes"), t.get("bytes")),
        ],
        [
            "Memory for weights (float32)",
            _mb(4 * t["parameters"]),
            _mb(4 * s["parameters"]),
            _share(s["parameters"], t["parameters"]),
        ],
        [
            "Tokens/s (greedy, batch 1)",
            _num(t.get("tokens_per_s")),
            _num(s.get("tokens_per_s")),
            _share(s.get("tokens_per_s"), t.get("tokens_per_s")),
        ],
        [
            "Held-out perplexity (lower is better)",
            f"{t['perplexity']:.2f}",
            f"{s['perplexity']:.2f}",
            _share(s["perplexity"], t["perplexity"]),
        ],
        ["KL to the teacher, nats/token", "0", f"{evaluation['kl']:.3f}", _kl_note(evaluation)],
        ["Top-1 agreement with the teacher", "100%", f"{evaluation['top1_agreement']:.0%}", ""],
    ]
    share, n = vote_share(votes, t["name"], s["name"])
    rows += _quality_rows(evaluation, share)
    rows.append(
        [
            "Blind-vote win rate",
            "–" if share is None else f"{1 - share:.0%}",
            "no votes yet" if share is None else f"{share:.0%}",
            f"{n} counted votes",
        ]
    )
    cost_t, cost_s = (
        _cost(t.get("tokens_per_s"), cost_per_hour),
        _cost(s.get("tokens_per_s"), cost_per_hour),
    )
    rows.append(
        [
            f"Cost per 1M generated tokens (at ${cost_per_hour:.2f}/h)",
            _usd(cost_t),
            _usd(cost_s),
            _share(cost_s, cost_t),
        ]
    )
    return rows


def _quality_rows(evaluation: dict[str, Any], win_rate: float | None) -> list[list[str]]:
    """Speed-up, answer agreement between floor and ceiling, and the one quality-kept number."""
    from ui.services.quality import answer_quality

    view = answer_quality(evaluation, win_rate)
    rows = []
    if view["speedup"]:
        rows.append(["Decode speed-up (batch 1, interleaved)", "1x", f"{view['speedup']:.2f}x", ""])
    agree = view["agreement"]
    if agree:
        for metric, label in (("chrf", "chrF"), ("cosine", "embedding cosine")):
            rows.append(
                [
                    f"Answer agreement, {label} (floor / ceiling)",
                    f"{agree['ceiling'][metric]:.2f} (ceiling)",
                    f"{agree['student'][metric]:.2f}",
                    f"{agree['position'][metric]:.0%} of the way from floor "
                    f"{agree['floor'][metric]:.2f} to ceiling",
                ]
            )
    if view["kept"] is not None:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in view["parts"].items())
        rows.append(["Quality kept", "100%", f"{view['kept']:.0%}", f"mean of {parts}"])
    return rows


def _cost(tokens_per_s: float | None, cost_per_hour: float) -> float | None:
    return cost_per_hour / (tokens_per_s * 3600) * 1e6 if tokens_per_s else None


def _share(part: float | None, whole: float | None) -> str:
    if not part or not whole:
        return ""
    ratio = part / whole
    return f"{ratio:.0f}x the teacher's" if ratio >= 10 else f"{ratio:.0%} of the teacher"


def _kl_note(evaluation: dict[str, Any]) -> str:
    drop = evaluation.get("kl_reduction")
    return f"{drop:.0%} lower than the pruned, untrained student" if drop is not None else ""


def _mb(value: float | None) -> str:
    return f"{value / 1e6:.0f} MB" if value else "–"


def _num(value: float | None) -> str:
    return f"{value:.1f}" if value else "–"


def _usd(value: float | None) -> str:
    return f"${value:.2f}" if value is not None else "–"
