"""Style control: Bradley-Terry with answer-style covariates, as LMArena does it.

    style = StyleCounts.from_rows(rows)          # token, header, list and bold counts per side
    fit = style_controlled(table, style, bootstrap=1000, seed=0, anchor="teacher")
    fit.ratings                                   # list[core.arena.Rating], style removed
    fit.coefficients                              # {"length": StyleCoefficient(...), ...}

Longer, markdown-heavy answers win votes whatever the model. Style control fits
P(a beats b) = sigmoid(theta_a - theta_b + x . beta) where x holds, per battle, the four
style differences ``length`` (answer tokens), ``headers``, ``lists`` and ``bold`` (markdown
counts), each as (a - b) / (a + b) (0 when both are 0) and then standardised over the
battles (mean 0, sd 1), exactly as arena-rank's ``ContextualPairDataset`` does. ``beta``
(log-odds per standard deviation of a difference) is the style effect; ``theta`` is the
rating with style held equal. The objective matches arena-rank's ``ContextualBradleyTerry``:
the battles are reweighted by 1 / max(battles of their pair, 50) (normalised to mean 1), the
coefficients carry a N(0, ``coef_sd``^2) prior (a ridge 1 / coef_sd^2 on the summed
log-likelihood; ``coef_sd`` = 1, weak, as FastChat's 0.5 * |params|^2 was), and the ratings
carry the same anchor and prior as ``core.arena.bradley_terry``. arena-rank's default
(``reg=1.0`` on the MEAN log-likelihood) is a prior sd of 1 / sqrt(n) on each coefficient:
on big data it shrinks the style effects almost to zero, so style control then changes
little. ``ContextualBradleyTerry(reg=1 / (n * coef_sd**2))`` is the same objective as ours:
the tests and the benchmark compare with arena-rank configured so (the ratings' prior is
negligible against thousands of battles).

It is fitted by Newton's method (convex, a few iterations over all battles). Intervals are
the wider of the Laplace interval and a one-step bootstrap: battles are dealt at random
into at most 2,048 groups (each battle its own group below that), each bootstrap round
resamples the groups multinomially, and takes one Newton step from the full fit with that
round's gradient and Hessian (Davison & Hinkley's linear bootstrap; a full refit per round
of a million battles would take minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.arena import ELO_INIT, BattleTable, Rating, anchor_index, check_enough, rank_ratings
from core.arena_fit import NAT_TO_ELO, PRIOR_SD, Z95, Fit, check_connected, prior_precision
from core.errors import InputError
from core.vote import style_totals

STYLE_FEATURES: tuple[str, ...] = ("length", "headers", "lists", "bold")
_GROUPS = 2048
_MIN_PAIR_COUNT = 50


class StyleCoefficient(BaseModel):
    """One style effect: log-odds per standard deviation of the normalised difference."""

    model_config = ConfigDict(extra="forbid")

    value: float = Field(description="Fitted coefficient (log-odds per standard deviation).")
    lower: float = Field(description="Lower end of its 95% interval.")
    upper: float = Field(description="Upper end of its 95% interval.")


class StyleFit(BaseModel):
    """Style-controlled ratings and the style coefficients."""

    model_config = ConfigDict(extra="forbid")

    ratings: list[Rating] = Field(description="Ratings with style held equal, best first.")
    coefficients: dict[str, StyleCoefficient] = Field(
        description="Style effect per feature (length, headers, lists, bold)."
    )
    anchor: str | None = Field(description="Model held at the anchor rating, or None: centred.")


@dataclass(frozen=True)
class StyleCounts:
    """Per battle and side: answer tokens, markdown headers, list items and bold spans."""

    a: np.ndarray  # (n, 4) float
    b: np.ndarray  # (n, 4) float

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> StyleCounts:
        """Read ``conv_metadata`` (FastChat's clean-battle shape) from each row."""
        a: list[list[float]] = []
        b: list[list[float]] = []
        for line, row in enumerate(rows, start=1):
            meta = row.get("conv_metadata") if isinstance(row, Mapping) else None
            side_a, side_b = style_totals(meta, f"line {line}")
            a.append(side_a)
            b.append(side_b)
        return cls(
            np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
        )


def style_features(style: StyleCounts) -> np.ndarray:
    """(a - b) / (a + b) per feature (0 when both are 0), standardised to mean 0, sd 1."""
    total = style.a + style.b
    diff = style.a - style.b
    np.divide(diff, total, out=diff, where=total > 0)  # 0 - 0 stays 0 where both are 0
    diff -= diff.mean(axis=0)
    sd = np.sqrt((diff**2).mean(axis=0))
    diff /= np.where(sd == 0, 1.0, sd)
    return diff


def style_controlled(
    table: BattleTable,
    style: StyleCounts,
    bootstrap: int = 1000,
    seed: int | None = 0,
    *,
    anchor: str | None = None,
    anchor_rating: float = ELO_INIT,
    prior_sd: float | None = PRIOR_SD,
    coef_sd: float = 1.0,
) -> StyleFit:
    """Style-controlled Bradley-Terry ratings and coefficients (see the module docstring)."""
    check_enough(table)
    if style.a.shape != (len(table), len(STYLE_FEATURES)) or style.b.shape != style.a.shape:
        raise InputError("bad_style", "style counts must have one row per battle and side")
    if bootstrap < 0:
        raise InputError("bad_bootstrap", f"bootstrap rounds must be >= 0, got {bootstrap}")
    if not coef_sd > 0:
        raise InputError("bad_prior", f"coef_sd must be > 0, got {coef_sd}")
    m = len(table.models)
    lo, hi = np.minimum(table.a, table.b), np.maximum(table.a, table.b)
    pair_ids, pair_of = np.unique(lo * m + hi, return_inverse=True)
    check_connected(table.models, pair_ids // m, pair_ids % m)
    weights = 1.0 / np.maximum(np.bincount(pair_of)[pair_of], _MIN_PAIR_COUNT)
    problem = _Problem(
        a=table.a,
        b=table.b,
        x=style_features(style),
        y=np.array([0.0, 0.5, 1.0])[table.outcome],
        w=weights / weights.mean(),
        fit=Fit(pair_ids // m, pair_ids % m, m, prior_precision(prior_sd), None),
        fixed=anchor_index(table.models, anchor),
        ridge=1.0 / coef_sd**2,
    )
    phi = problem.newton(_warm_start(table, problem))
    grad, hess = problem.grad_hess(phi)
    cov = problem.posterior_cov(hess)
    half = Z95 * np.sqrt(np.maximum(np.diag(cov), 0.0))
    lower, upper = phi - half, phi + half
    if bootstrap:
        rounds = problem.one_step_bootstrap(phi, bootstrap, np.random.default_rng(seed))
        lo_b, hi_b = np.percentile(rounds, [2.5, 97.5], axis=0)
        lower, upper = np.minimum(lower, lo_b), np.maximum(upper, hi_b)
    offset = anchor_rating if anchor is not None else ELO_INIT
    per_model = np.bincount(table.a, minlength=m) + np.bincount(table.b, minlength=m)
    ratings = rank_ratings(
        table.models,
        phi[:m] * NAT_TO_ELO + offset,
        lower[:m] * NAT_TO_ELO + offset,
        upper[:m] * NAT_TO_ELO + offset,
        per_model,
    )
    coefficients = {
        name: StyleCoefficient(
            value=float(phi[m + j]), lower=float(lower[m + j]), upper=float(upper[m + j])
        )
        for j, name in enumerate(STYLE_FEATURES)
    }
    return StyleFit(ratings=ratings, coefficients=coefficients, anchor=anchor)


@dataclass
class _Problem:
    """The penalised contextual BT objective over parameters phi = [theta (m), beta (k)]."""

    a: np.ndarray
    b: np.ndarray
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    fit: Fit
    fixed: int | None
    ridge: float

    @property
    def m(self) -> int:
        return self.fit.m

    @cached_property
    def incidence(self):
        from scipy.sparse import csr_matrix

        n = self.a.shape[0]
        rows = np.concatenate([np.arange(n), np.arange(n)])
        values = np.concatenate([np.ones(n), -np.ones(n)])
        columns = np.concatenate([self.a, self.b])
        return csr_matrix((values, (rows, columns)), shape=(n, self.m))

    def _penalty(self) -> np.ndarray:
        k = self.x.shape[1]
        return np.concatenate([np.full(self.m, self.fit.lam), np.full(k, self.ridge)])

    def loss(self, phi: np.ndarray) -> float:
        z = phi[self.a] - phi[self.b] + self.x @ phi[self.m :]
        nll = -(self.w * (self.y * z - np.logaddexp(0.0, z))).sum()
        return float(nll + 0.5 * (self._penalty() * phi**2).sum())

    def _rows(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.special import expit

        p = expit(phi[self.a] - phi[self.b] + self.x @ phi[self.m :])
        return self.w * (self.y - p), self.w * p * (1.0 - p)

    def grad_hess(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of the log-posterior and Hessian of the loss (both with the penalties)."""
        r, h = self._rows(phi)
        g, hess = _full(self, r, h)
        pen = self._penalty()
        return g - pen * phi, hess + np.diag(pen)

    def _constrain(self, hess: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hold the anchor (or the mean of theta) fixed: edit the Newton system in place."""
        m = self.m
        if self.fixed is None:
            hess[..., :m, :m] += 1.0 / m
        else:
            i = self.fixed
            grad[..., i] = 0.0
            hess[..., i, :] = 0.0
            hess[..., :, i] = 0.0
            hess[..., i, i] = 1.0
        return hess, grad

    def newton(
        self, start: np.ndarray | None = None, *, max_iter: int = 100, tol: float = 1e-7
    ) -> np.ndarray:
        phi = np.zeros(self.m + self.x.shape[1])
        if start is not None:
            phi[: self.m] = start  # warm start: the ratings without style
        loss = self.loss(phi)
        for _ in range(max_iter):
            grad, hess = self.grad_hess(phi)
            hess, grad = self._constrain(hess, grad)
            step = np.linalg.solve(hess, grad)
            scale = 1.0
            for _ in range(40):
                trial = phi + scale * step
                new = self.loss(trial)
                if new <= loss + 1e-12 * abs(loss):
                    break
                scale *= 0.5
            phi, loss = trial, new
            if np.abs(scale * step).max() < tol:
                break
        return self._centre(phi)

    def _centre(self, phi: np.ndarray) -> np.ndarray:
        m = self.m
        phi = phi.copy()
        shift = phi[..., :m].mean(axis=-1) if self.fixed is None else phi[..., self.fixed]
        phi[..., :m] -= np.asarray(shift)[..., None]
        return phi

    def posterior_cov(self, hess: np.ndarray) -> np.ndarray:
        m = self.m
        if self.fixed is not None:
            free = [i for i in range(hess.shape[0]) if i != self.fixed]
            cov = np.zeros_like(hess)
            cov[np.ix_(free, free)] = np.linalg.inv(hess[np.ix_(free, free)])
            return cov
        centre = np.eye(hess.shape[0])
        centre[:m, :m] -= 1.0 / m
        return centre @ np.linalg.pinv(hess) @ centre

    def one_step_bootstrap(self, phi: np.ndarray, rounds: int, rng) -> np.ndarray:
        """Bootstrap rounds (rounds, m + k) by one Newton step from ``phi`` each."""
        n = self.a.shape[0]
        groups = min(n, _GROUPS)
        group = rng.permutation(n) % groups
        r, h = self._rows(phi)
        g, hess = _grouped(self, r, h, group, groups)
        d = phi.shape[0]
        draws = rng.multinomial(groups, np.full(groups, 1.0 / groups), size=rounds).astype(float)
        pen = self._penalty()
        grad_b = draws @ g - pen * phi
        hess_b = (draws @ hess.reshape(groups, d * d)).reshape(rounds, d, d) + np.diag(pen)
        hess_b, grad_b = self._constrain(hess_b, grad_b)
        return self._centre(phi + np.linalg.solve(hess_b, grad_b[..., None])[..., 0])


def _full(problem: _Problem, r, h) -> tuple[np.ndarray, np.ndarray]:
    """All battles at once: the gradient (d,) and negative Hessian (d, d), through the sparse
    battle-by-model incidence (+1 for a, -1 for b) and BLAS for the style block."""
    m, x = problem.m, problem.x
    inc = problem.incidence
    hx = h[:, None] * x
    g = np.concatenate([inc.T @ r, x.T @ r])
    cells = np.bincount(problem.a * m + problem.b, weights=h, minlength=m * m).reshape(m, m)
    cells = cells + cells.T
    top = np.diag(cells.sum(axis=1)) - cells
    cross = np.asarray(inc.T @ hx)
    hess = np.block([[top, cross], [cross.T, x.T @ hx]])
    return g, hess


def _grouped(problem: _Problem, r, h, group, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the log-likelihood gradient (G, d) and negative Hessian (G, d, d)."""
    m, x, a, b = problem.m, problem.x, problem.a, problem.b
    k = x.shape[1]
    d = m + k
    g = np.zeros((groups, d))
    g[:, :m] = _by(group * m + a, r, groups * m).reshape(groups, m)
    g[:, :m] -= _by(group * m + b, r, groups * m).reshape(groups, m)
    for j in range(k):
        g[:, m + j] = _by(group, r * x[:, j], groups)
    hess = np.zeros((groups, d, d))
    cells = _by((group * m + a) * m + b, h, groups * m * m).reshape(groups, m, m)
    cells = cells + cells.transpose(0, 2, 1)
    hess[:, :m, :m] = -cells
    idx = np.arange(m)
    hess[:, idx, idx] += cells.sum(axis=2)
    for j in range(k):
        hx = h * x[:, j]
        cross = (_by(group * m + a, hx, groups * m) - _by(group * m + b, hx, groups * m)).reshape(
            groups, m
        )
        hess[:, :m, m + j] = cross
        hess[:, m + j, :m] = cross
        for i in range(j, k):
            hess[:, m + j, m + i] = hess[:, m + i, m + j] = _by(group, hx * x[:, i], groups)
    return g, hess


def _by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(index, weights=values, minlength=size)


def _warm_start(table: BattleTable, problem: _Problem) -> np.ndarray:
    """Default BT ratings (natural-log units, no bootstrap): a start a few Newton steps away."""
    from core.arena import bradley_terry

    fitted = {r.model: r.rating for r in bradley_terry(table, bootstrap=0, prior_sd=None)}
    theta = (np.array([fitted[name] for name in table.models]) - ELO_INIT) / NAT_TO_ELO
    return theta - (theta.mean() if problem.fixed is None else theta[problem.fixed])
