"""A picture of the leaderboard: each model's rating with its 95% interval (PNG).

    png = plot_ratings(bradley_terry(table), Path("ratings.png"))

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch), so
it is safe from the web app's worker threads. matplotlib is imported inside the function.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.arena import Rating
from core.errors import InputError


def plot_ratings(
    ratings: Sequence[Rating],
    out: str | Path,
    *,
    title: str = "Arena ratings (Bradley-Terry, 95% intervals)",
    anchor: str | None = None,
) -> Path:
    """Draw ratings best-at-top with interval bars and battle counts; write ``out`` atomically.
    ``anchor`` names the model held at 1000 (the axis says so); None: the ratings are centred."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from core.paths import atomic_file

    if not ratings:
        raise InputError("no_ratings", "there are no ratings to draw")
    rows = sorted(ratings, key=lambda r: r.rating)
    fig = Figure(figsize=(7.5, 1.2 + 0.42 * len(rows)), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(rows)))
    centres = [r.rating for r in rows]
    errors = [[r.rating - r.lower for r in rows], [r.upper - r.rating for r in rows]]
    ax.errorbar(
        centres,
        y,
        xerr=errors,
        fmt="o",
        color="#1f5f8b",
        ecolor="#7aa6c2",
        elinewidth=3,
        capsize=4,
        markersize=6,
    )
    ax.set_yticks(y, [f"#{r.rank} {r.model}".replace("$", r"\$") for r in rows])  # not mathtext
    for yi, r in zip(y, rows, strict=True):
        ax.annotate(
            f"{r.rating:.0f}  (n={r.battles})",
            (r.upper, yi),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="#444444",
        )
    lo, hi = min(r.lower for r in rows), max(r.upper for r in rows)
    pad = max(10.0, 0.25 * (hi - lo))
    ax.set_xlim(lo - pad, hi + pad * 1.6)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.axvline(1000, color="#bbbbbb", linewidth=0.8, linestyle="--")
    ax.set_xlabel(
        f"rating ({anchor} held at 1000)" if anchor else "rating (mean of all models = 1000)"
    )
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    with atomic_file(out, "wb") as handle:
        fig.savefig(handle, format="png")
    return out
