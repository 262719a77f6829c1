"""The picture of a similarity score: per-prompt similarity to the reference, candidate vs
baselines.

    plot_similarity(report, "similarity.png")                 # primary metric
    plot_similarity(report, "rouge.png", metric="rougeL")

Left: the distribution of per-prompt similarity (box plot with every prompt as a dot),
candidate beside each baseline. Right: per prompt, the candidate's value minus the
baseline's, sorted: mass right of zero is what the permutation test measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.similarity.schema import SimilarityReport
from core.errors import InputError
from core.paths import atomic_file

_COLOURS = {"high": "#c0392b", "medium": "#d68910", "low": "#1e8449"}


def _series(report: SimilarityReport, metric: str) -> dict[str, np.ndarray]:
    values = {report.candidate: np.array([p.candidate[metric] for p in report.prompts])}
    for name in report.baselines:
        values[name] = np.array([p.baselines[name][metric] for p in report.prompts])
    return values


def plot_similarity(
    report: SimilarityReport, out: str | Path, *, metric: str | None = None
) -> Path:
    """Write the PNG (atomically) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = metric or report.config.primary_metric
    result = report.metric(metric)
    if result is None or not report.prompts:
        raise InputError("no_metric", f"metric '{metric}' was not computed in this report")
    series = _series(report, metric)
    labels = [f"{n}\n(candidate)" if i == 0 else f"{n}\n(baseline)" for i, n in enumerate(series)]
    labels = [label.replace("$", r"\$") for label in labels]  # names are not mathtext
    fig, axes = plt.subplots(
        1, 2 if report.baselines else 1, figsize=(11 if report.baselines else 6, 4.5), squeeze=False
    )
    ax = axes[0][0]
    ax.boxplot(list(series.values()), showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels)
    rng = np.random.default_rng(0)
    for i, values in enumerate(series.values(), start=1):
        ax.scatter(
            i + rng.uniform(-0.12, 0.12, len(values)),
            values,
            s=14,
            alpha=0.6,
            color="#2e86c1" if i == 1 else "#7f8c8d",
        )
    ax.set_ylabel(f"{metric} similarity to {report.reference}".replace("$", r"\$"))
    ax.set_title(f"per-prompt {metric} (n = {len(report.prompts)})")
    if report.baselines:
        _differences(axes[0][1], series, report, metric)
    p = "uncalibrated" if report.p_value is None else f"p = {report.p_value:.3g}"
    fig.suptitle(
        f"replication risk: {report.risk.level.upper()} ({p})",
        color=_COLOURS[report.risk.level],
        fontweight="bold",
    )
    fig.tight_layout()
    out = Path(out)
    with atomic_file(out, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return out


def _differences(ax, series: dict[str, np.ndarray], report: SimilarityReport, metric: str) -> None:
    candidate = next(iter(series.values()))
    for name in report.baselines:
        diff = np.sort(candidate - series[name])
        ax.plot(diff, np.linspace(0, 1, len(diff)), drawstyle="steps-post", label=f"minus {name}")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"candidate {metric} - baseline {metric}, per prompt")
    ax.set_ylabel("share of prompts")
    ax.set_title("per-prompt difference (right of 0: candidate closer)")
    ax.legend(fontsize=8)
