"""Replication risk: is a candidate model's output closer to a reference model's than chance allows?

Two answers to the same prompt look alike whatever their lineage, so a raw cosine
says nothing. Here every metric compares candidate-vs-reference with
baseline-vs-reference (an unrelated model answering the same prompts), tests the
difference with a permutation test stratified by prompt, corrects across baselines
(Holm-Bonferroni), and adds verbatim runs, near-duplicates and protected passages.

    report = score_texts(reference_rows, candidate_rows, {"other-model": baseline_rows})
    report.risk.level, report.p_value, report.verbatim
    report = score_files("ref.jsonl", "cand.jsonl", ["base.jsonl"], protected="books.jsonl")
    record_report(store, report)           # audit.ledger.store.Store: one ledger row
    plot_similarity(report, "dist.png")    # audit.similarity.plot

Rows are ``{"prompt_id": ..., "text": ...}``; see ``audit.similarity.risk`` for the rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audit.similarity import metrics as sm
from audit.similarity.io import file_facts, read_rows
from audit.similarity.risk import assess, metric_level
from audit.similarity.schema import (
    BaselineComparison,
    MatchSummary,
    MetricResult,
    NearDuplicate,
    PromptScores,
    ProtectedFinding,
    SimilarityConfig,
    SimilarityReport,
    VerbatimFinding,
)
from audit.similarity.stats import holm, min_p_value, paired_test
from core.errors import InputError

__all__ = ["SimilarityConfig", "SimilarityReport", "score_texts", "score_files", "record_report"]

Rows = Sequence[Mapping[str, Any]]


def _index(rows: Rows, role: str) -> dict[str, str]:
    """prompt_id -> text, refusing rows without them and repeated ids."""
    out: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        pid, text = row.get("prompt_id", row.get("id")), row.get("text")
        if pid is None or not isinstance(text, str):
            raise InputError("bad_rows", f"{role}: row {number} needs prompt_id and text")
        if str(pid) in out:
            raise InputError("duplicate_prompt_id", f"{role}: prompt_id '{pid}' appears twice")
        out[str(pid)] = text
    if not out:
        raise InputError("empty_rows", f"{role}: no answers given")
    return out


def match_prompts(
    reference: dict[str, str],
    candidate: dict[str, str],
    baselines: dict[str, dict[str, str]],
    config: SimilarityConfig,
) -> tuple[list[str], MatchSummary]:
    """The prompt ids answered (non-empty) in every file, in reference order; refuse too few."""
    sides = {"reference": reference, "candidate": candidate, **baselines}
    empty = {
        name: sorted(p for p, t in texts.items() if not t.strip()) for name, texts in sides.items()
    }
    empty = {name: ids for name, ids in empty.items() if ids}
    present = [p for p in reference if all(p in texts for texts in sides.values())]
    ids = [p for p in present if all(sides[n][p].strip() for n in sides)]
    minimum = max(1, math.ceil(config.min_match_fraction * len(reference)))
    summary = MatchSummary(
        reference=len(reference),
        candidate=len(candidate),
        baselines={n: len(t) for n, t in baselines.items()},
        matched=len(ids),
        minimum=minimum,
        unmatched=[p for p in reference if p not in present][:10],
        empty=empty,
    )
    if len(ids) < minimum:
        skipped = sum(len(v) for v in empty.values())
        raise InputError(
            "too_few_matched",
            f"only {len(ids)} of {len(reference)} reference prompts have a non-empty answer in "
            "every "
            f"file (minimum {minimum} = {config.min_match_fraction:.0%}; {skipped} empty texts)",
            hint="check that every file answers the same prompt set with the same prompt_id values",
        )
    return ids, summary


class _Scored:
    """Per metric, a (1 + baselines) x prompts array; plus the candidate's longest runs."""

    def __init__(
        self, values: dict[str, np.ndarray], runs: list[list[sm.Run]], embedding: dict[str, str]
    ):
        self.values, self.runs, self.embedding = values, runs, embedding


def _compute(
    reference: list[str], compared: list[list[str]], config: SimilarityConfig, progress: bool
) -> _Scored:
    """Every metric for every compared list (candidate first, then baselines) against the
    reference."""
    tokens = {
        t: sm.tokenize(t) for t in dict.fromkeys([*reference, *(x for c in compared for x in c)])
    }
    ref_tokens = [tokens[t] for t in reference]
    values: dict[str, np.ndarray] = {}
    embedding: dict[str, str] = {}
    if "embedding" in config.metrics:
        embedder = sm.load_embedder(config.embedding_model, config.embedding_backend)
        values["embedding"] = np.vstack(
            sm.embedding_cosines(
                embedder, reference, compared, batch_size=config.batch_size, progress=progress
            )
        )
        embedding = {
            "model": config.embedding_model or "all-minilm-l6-v2 (bundled)",
            "backend": str(getattr(embedder, "backend", config.embedding_backend)),
            "device": str(embedder.device),
        }
    pairwise = {"rougeL": sm.rouge_l, "chrF": sm.chrf}
    for name, fn in pairwise.items():
        if name in config.metrics:
            values[name] = np.array(
                [[fn(r, c) for r, c in zip(reference, texts, strict=True)] for texts in compared]
            )
    if "minhash" in config.metrics:
        values["minhash"] = np.vstack(
            [
                sm.minhash_jaccards(
                    ref_tokens,
                    [tokens[t] for t in texts],
                    shingle=config.shingle_size,
                    num_perm=config.minhash_permutations,
                )
                for texts in compared
            ]
        )
    runs = [
        [sm.longest_run(r, tokens[c]) for r, c in zip(ref_tokens, texts, strict=True)]
        for texts in compared
    ]
    if "longest_run" in config.metrics:
        values["longest_run"] = np.array([[run.tokens for run in row] for row in runs], float)
    ordered = {m: values[m] for m in sm.METRICS if m in values}
    return _Scored(ordered, runs, embedding)


def _compare(scored: _Scored, baselines: list[str], config: SimilarityConfig) -> list[MetricResult]:
    """Per metric: means, effect sizes, p-values and Holm across baselines."""
    names: list[Any] = list(scored.values)
    stacked = np.stack([scored.values[m] for m in names])  # metrics x (1 + k) x prompts
    n = stacked.shape[-1]
    tests = [
        paired_test(
            stacked[:, 0], stacked[:, 1 + j], permutations=config.permutations, seed=config.seed
        )
        if n >= 2
        else None
        for j in range(len(baselines))
    ]
    results = []
    for i, metric in enumerate(names):
        raw = [float(t.p_values[i]) for t in tests if t is not None]
        adjusted = holm(raw).tolist() if raw else []
        comparisons = [
            BaselineComparison(
                baseline=b,
                baseline_mean=float(stacked[i, 1 + j].mean()),
                difference=float(stacked[i, 0].mean() - stacked[i, 1 + j].mean()),
                effect_size=_effect(tests[j], i),
                p_value=raw[j] if raw else None,
                p_holm=adjusted[j] if adjusted else None,
            )
            for j, b in enumerate(baselines)
        ]
        result = MetricResult(
            metric=metric,
            description=sm.METRIC_DESCRIPTIONS[metric],
            candidate_mean=float(stacked[i, 0].mean()),
            comparisons=comparisons,
            p_value=max(adjusted) if adjusted else None,
            effect_size=min(_effect(t, i) or 0.0 for t in tests) if adjusted else None,
            level=None,
        )
        result.level = metric_level(result, config, primary=metric == config.primary_metric)
        results.append(result)
    return results


def _effect(test: Any, row: int) -> float | None:
    return None if test is None else float(test.effect_sizes[row])


def _verbatim(ids: list[str], scored: _Scored, config: SimilarityConfig) -> list[VerbatimFinding]:
    found = []
    for i, pid in enumerate(ids):
        run = scored.runs[0][i]
        if run.tokens < config.verbatim_warn_tokens:
            continue
        others = [row[i].tokens for row in scored.runs[1:]]
        found.append(
            VerbatimFinding(
                prompt_id=pid,
                tokens=run.tokens,
                span=run.span,
                level="finding" if run.tokens >= config.verbatim_tokens else "warning",
                baseline_tokens=max(others) if others else None,
            )
        )
    return sorted(found, key=lambda f: -f.tokens)


def _near_duplicates(
    ids: list[str],
    reference: list[str],
    candidate: list[str],
    scored: _Scored,
    config: SimilarityConfig,
) -> list[NearDuplicate]:
    ref_t = [sm.tokenize(t) for t in reference]
    cand_t = [sm.tokenize(t) for t in candidate]
    jac = (
        scored.values["minhash"][0]
        if "minhash" in scored.values
        else sm.minhash_jaccards(
            ref_t, cand_t, shingle=config.shingle_size, num_perm=config.minhash_permutations
        )
    )
    return [
        NearDuplicate(prompt_id=pid, jaccard=float(j))
        for pid, j, r, c in zip(ids, jac, ref_t, cand_t, strict=True)
        if j >= config.near_duplicate_jaccard
        and min(len(r.tokens), len(c.tokens)) >= config.near_duplicate_min_tokens
    ]


def find_protected(
    candidate: dict[str, str], protected: dict[str, str], min_tokens: int
) -> list[ProtectedFinding]:
    """Candidate outputs sharing a run of >= ``min_tokens`` tokens with a protected passage
    (or all of a passage shorter than that).

    A shared run that long implies a shared n-gram of that length, so passages are indexed
    by their n-grams first and only the ones that hit are compared in full.
    """
    passages = {pid: sm.tokenize(text) for pid, text in protected.items()}
    index: dict[int, dict[tuple[str, ...], set[str]]] = {}
    for pid, tok in passages.items():
        n = min(min_tokens, len(tok.tokens))
        grams = index.setdefault(n, {}) if n else {}
        for i in range(len(tok.tokens) - n + 1 if n else 0):
            grams.setdefault(tok.tokens[i : i + n], set()).add(pid)
    found = []
    for prompt_id, text in candidate.items():
        tok = sm.tokenize(text)
        hits: set[str] = set()
        for n, grams in index.items():
            for i in range(len(tok.tokens) - n + 1):
                hits |= grams.get(tok.tokens[i : i + n], set())
        for pid in sorted(hits):
            run = sm.longest_run(passages[pid], tok)
            found.append(
                ProtectedFinding(
                    prompt_id=prompt_id, passage_id=pid, tokens=run.tokens, span=run.span
                )
            )
    return sorted(found, key=lambda f: -f.tokens)


def _notes(
    n: int, baselines: list[str], summary: MatchSummary, config: SimilarityConfig
) -> list[str]:
    notes = []
    if not baselines:
        notes.append(
            "no baseline given: similarity was not tested, the risk level is uncalibrated "
            "(it rests on verbatim, near-duplicate and protected findings only)"
        )
    if n < 2:
        notes.append(
            "only one prompt matched: no permutation test is possible; the risk level is "
            "uncalibrated"
        )
    elif baselines and min_p_value(n, config.permutations) > config.alpha_medium:
        notes.append(
            f"with {n} prompts the smallest possible p-value is "
            f"{min_p_value(n, config.permutations):.3g}: too few prompts to reach significance"
        )
    for name, ids in summary.empty.items():
        notes.append(f"{len(ids)} empty text(s) in {name} skipped: {', '.join(ids[:5])}")
    if summary.matched < summary.reference:
        notes.append(
            f"{summary.matched} of {summary.reference} reference prompts matched in every file"
        )
    if len(baselines) > 1:
        notes.append(f"p-values Holm-Bonferroni adjusted across {len(baselines)} baselines")
    return notes


def score_texts(
    reference: Rows,
    candidate: Rows,
    baselines: Mapping[str, Rows] | Sequence[Rows] | None = None,
    protected: Rows | None = None,
    config: SimilarityConfig | None = None,
    *,
    names: Mapping[str, str] | None = None,
    provenance: dict[str, Any] | None = None,
    progress: bool = False,
) -> SimilarityReport:
    """Score a candidate's answers against a reference's, calibrated by baselines' answers.

    ``baselines`` maps a name to rows (a plain list gets names baseline-1, ...); ``names``
    may give ``reference`` and ``candidate`` display names.
    """
    config = config or SimilarityConfig()
    if baselines is not None and not isinstance(baselines, Mapping):
        baselines = {f"baseline-{i + 1}": rows for i, rows in enumerate(baselines)}
    base_rows = dict(baselines or {})
    names = dict(names or {})
    ref, cand = _index(reference, "reference"), _index(candidate, "candidate")
    bases = {name: _index(rows, name) for name, rows in base_rows.items()}
    ids, summary = match_prompts(ref, cand, bases, config)
    ref_texts = [ref[p] for p in ids]
    compared = [[cand[p] for p in ids], *([b[p] for p in ids] for b in bases.values())]
    scored = _compute(ref_texts, compared, config, progress)
    metrics = _compare(scored, list(bases), config)
    verbatim = _verbatim(ids, scored, config)
    near = _near_duplicates(ids, ref_texts, compared[0], scored, config)
    prot = (
        find_protected(cand, _index(protected, "protected"), config.protected_min_tokens)
        if protected
        else []
    )
    calibrated = bool(bases) and len(ids) >= 2
    risk = assess(
        config,
        metrics=metrics,
        verbatim=verbatim,
        near_duplicates=near,
        protected=prot,
        n_prompts=len(ids),
        calibrated=calibrated,
    )
    primary = next((m for m in metrics if m.metric == config.primary_metric), None)
    return SimilarityReport(
        reference=names.get("reference", "reference"),
        candidate=names.get("candidate", "candidate"),
        baselines=list(bases),
        risk=risk,
        p_value=primary.p_value if primary and calibrated else None,
        scores=_summary(metrics),
        prompt_set_hash=(provenance or {}).get("prompt_set_hash"),
        metrics=metrics,
        verbatim=verbatim,
        near_duplicates=near,
        protected=prot,
        matching=summary,
        notes=_notes(len(ids), list(bases), summary, config),
        config=config,
        embedding=scored.embedding,
        provenance=provenance or {},
        prompts=_prompt_scores(ids, scored, list(bases)),
    )


def _summary(metrics: list[MetricResult]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for m in metrics:
        scores[m.metric] = round(m.candidate_mean, 4)
        if m.comparisons:
            scores[f"{m.metric}_baseline"] = round(max(c.baseline_mean for c in m.comparisons), 4)
    return scores


def _prompt_scores(ids: list[str], scored: _Scored, baselines: list[str]) -> list[PromptScores]:
    return [
        PromptScores(
            prompt_id=pid,
            candidate={m: float(v[0, i]) for m, v in scored.values.items()},
            baselines={
                b: {m: float(v[1 + j, i]) for m, v in scored.values.items()}
                for j, b in enumerate(baselines)
            },
        )
        for i, pid in enumerate(ids)
    ]


def _unique_names(paths: Sequence[str | Path]) -> list[str]:
    names: list[str] = []
    for path in paths:
        stem = Path(path).stem
        names.append(stem if stem not in names else f"{stem}-{len(names) + 1}")
    return names


def score_files(
    reference: str | Path,
    candidate: str | Path,
    baselines: Sequence[str | Path] = (),
    protected: str | Path | None = None,
    config: SimilarityConfig | None = None,
    *,
    progress: bool = False,
) -> SimilarityReport:
    """``score_texts`` on JSONL files (for the CLI and uploads); file hashes go in the
    provenance."""
    base_names = _unique_names(baselines)
    ref_rows, cand_rows = read_rows(reference), read_rows(candidate)
    rows = {name: read_rows(path) for name, path in zip(base_names, baselines, strict=True)}
    prot_rows = read_rows(protected) if protected else None
    files = {
        "reference": file_facts(reference),
        "candidate": file_facts(candidate),
        "baselines": [file_facts(p) for p in baselines],
    }
    if protected:
        files["protected"] = file_facts(protected)
    return score_texts(
        ref_rows,
        cand_rows,
        rows,
        prot_rows,
        config,
        names={"reference": Path(reference).stem, "candidate": Path(candidate).stem},
        provenance={"source": "files", "files": files},
        progress=progress,
    )


def record_report(store: Any, report: SimilarityReport, *, run_id: str | None = None) -> str:
    """Append the report to the ledger through ``store.record_similarity``; returns its id."""
    return store.record_similarity(report.model_dump(mode="json"), run_id=run_id)
