"""Penalised Bradley-Terry fitting, shared by the default and the style-controlled fits.

    fit = Fit(pa, pb, m, lam=prior_precision(400.0), fixed=0)   # model 0 is the anchor
    theta = fit.newton(games[None], wins[None], np.zeros((1, m)))[0]  # natural-log units
    cov = fit.posterior_cov(theta, games)                        # Laplace covariance

Ratings live in natural-log units here (``theta``); ``NAT_TO_ELO`` turns them into Elo points.
The prior is Gaussian, the same for every model, centred on the anchor (held at 0) or, without
an anchor, on the mean (held at 0). Its precision ``lam`` is added to each model's Fisher
information, so a model with few battles keeps a wide interval and cannot pull the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InputError

ELO_SCALE = 400.0
ELO_BASE = 10.0
NAT_TO_ELO = ELO_SCALE / np.log(ELO_BASE)
PRIOR_SD = 400.0  # Elo points: the prior's standard deviation around the anchor (or the mean)
Z95 = 1.959963984540054
_SCORE = np.array([0.0, 0.5, 1.0])


def prior_precision(prior_sd: float | None) -> float:
    """The prior's precision in squared natural-log units (what is added to each model's
    Fisher information); a tiny ridge (1e-6) when there is no prior."""
    if prior_sd is None:
        return 1e-6
    if not prior_sd > 0 or not np.isfinite(prior_sd):
        raise InputError("bad_prior", f"the prior's standard deviation must be > 0, got {prior_sd}")
    return float((NAT_TO_ELO / prior_sd) ** 2)


def pairs_of_cells(
    keep: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fold ordered cells (a, b, outcome) onto unordered pairs (lo, hi) with lo's score."""
    a, b, code = keep // 3 // m, keep // 3 % m, keep % 3
    score = _SCORE[code]
    flip = a > b
    lo, hi = np.where(flip, b, a), np.where(flip, a, b)
    score = np.where(flip, 1.0 - score, score)
    pair_ids, cell_pair = np.unique(lo * m + hi, return_inverse=True)
    return cell_pair, pair_ids // m, pair_ids % m, score


def check_connected(models: tuple[str, ...], pa: np.ndarray, pb: np.ndarray) -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(models)
    graph = coo_matrix((np.ones(pa.size), (pa, pb)), shape=(m, m))
    n, labels = connected_components(graph, directed=False)
    if n > 1:
        groups = [sorted(models[i] for i in np.flatnonzero(labels == g)) for g in range(n)]
        raise InputError(
            "disconnected",
            "some models were never compared, even indirectly: "
            + " | ".join(", ".join(g) for g in groups),
            hint="ratings of separate groups are not comparable; add battles between them",
        )


@dataclass(frozen=True)
class Fit:
    """Penalised BT over pairs (pa, pb): prior precision ``lam`` on every theta, the anchor
    (index ``fixed``) held at 0, or, without one, the mean held at 0."""

    pa: np.ndarray
    pb: np.ndarray
    m: int
    lam: float
    fixed: int | None

    def loss(self, theta, games, wins) -> np.ndarray:
        d = theta[:, self.pa] - theta[:, self.pb]
        nll = -(wins * d - games * np.logaddexp(0.0, d)).sum(axis=1)
        return nll + 0.5 * self.lam * (theta**2).sum(axis=1)

    def newton(self, games, wins, theta, *, max_iter: int = 200, tol: float = 1e-10):
        """Batched Newton with step halving: one row of ``theta`` (B, m) per set of counts."""
        from scipy.special import expit

        m, pa, pb = self.m, self.pa, self.pb
        incidence = np.zeros((pa.size, m))
        incidence[np.arange(pa.size), pa] = 1.0
        incidence[np.arange(pa.size), pb] = -1.0
        outer = np.einsum("pi,pj->pij", incidence, incidence).reshape(pa.size, m * m)
        free = np.ones(m)
        if self.fixed is None:
            extra = np.ones((m, m)) / m + self.lam * np.eye(m)  # the mean is held, not free
        else:
            free[self.fixed] = 0.0
            extra = self.lam * np.eye(m) + np.diag(1.0 - free)
        keep = np.outer(free, free)
        theta = theta.copy()
        loss = self.loss(theta, games, wins)
        for _ in range(max_iter):
            p = expit(theta[:, pa] - theta[:, pb])
            grad = ((wins - games * p) @ incidence - self.lam * theta) * free
            hess = ((games * p * (1.0 - p)) @ outer).reshape(-1, m, m) * keep + extra
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
            scale = np.ones((theta.shape[0], 1))
            for _ in range(40):
                trial = theta + scale * step
                new = self.loss(trial, games, wins)
                worse = new > loss + 1e-12 * np.abs(loss)
                if not worse.any():
                    break
                scale[worse] *= 0.5
            theta, loss = trial, new
            if np.abs(scale * step).max() < tol:
                break
        if self.fixed is None:
            return theta - theta.mean(axis=1, keepdims=True)
        return theta - theta[:, [self.fixed]]

    def posterior_cov(self, theta, games) -> np.ndarray:
        """Laplace covariance of theta (natural-log units): inverse of Fisher + prior."""
        return posterior_cov(pair_hessian(theta, games, self.pa, self.pb, self.m), self)


def pair_hessian(theta, games, pa, pb, m) -> np.ndarray:
    from scipy.special import expit

    p = expit(theta[pa] - theta[pb])
    w = games * p * (1.0 - p)
    hess = np.zeros((m, m))
    np.add.at(hess, (pa, pa), w)
    np.add.at(hess, (pb, pb), w)
    np.add.at(hess, (pa, pb), -w)
    np.add.at(hess, (pb, pa), -w)
    return hess


def posterior_cov(hess: np.ndarray, fit: Any) -> np.ndarray:
    """Invert the rating block of a likelihood Hessian plus the prior, honouring the anchor
    (its variance is 0) or the centring (the common shift is not a free direction)."""
    m = fit.m
    post = hess[:m, :m] + fit.lam * np.eye(m)
    if fit.fixed is not None:
        free = [i for i in range(m) if i != fit.fixed]
        cov = np.zeros_like(post)
        cov[np.ix_(free, free)] = np.linalg.inv(post[np.ix_(free, free)])
        return cov
    centre = np.eye(m) - 1.0 / m
    return centre @ np.linalg.pinv(post) @ centre
