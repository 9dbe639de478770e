"""The lookahead fill's robust fits (:mod:`osdfilter.filter.lookahead`): a group's motion
(an affine pulled towards the identity) and a candidate's brightness plane, each refitted
once without outliers."""

from __future__ import annotations

from typing import Optional

import numpy as np


def median(a: np.ndarray) -> float:
    """``np.median``'s value, without its generic checks (they cost more than the partition of
    the few hundred samples it sees, a few times per group and candidate)."""
    k = len(a) // 2
    if len(a) % 2:
        return float(np.partition(a, k)[k])
    p = np.partition(a, (k - 1, k))
    return float((p[k - 1] + p[k]) / 2)


def fit_affine(p: np.ndarray, q: np.ndarray, ridge: float = 10.0) -> np.ndarray:
    """3x3 ``A`` with ``A @ [p, 1] ≈ [q, 1]``: least squares with the linear part pulled towards
    the identity (as if the samples spread ``ridge`` px wider: one-sided rings at the frame's
    edge stay sane), refitted once without outliers."""
    c = p.mean(0)
    X = np.concatenate([p - c, np.ones((len(p), 1))], 1)
    Y = q - p
    lam = ridge * ridge * np.diag([1.0, 1.0, 0.0])

    def solve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.linalg.solve(x.T @ x + len(x) * lam + 1e-9 * np.eye(3), x.T @ y)

    coef = solve(X, Y)
    err = np.abs(X @ coef - Y).sum(1)
    keep = err <= max(1.0, 2.5 * median(err))
    if keep.sum() >= 6:
        coef = solve(X[keep], Y[keep])
    A = np.eye(3)
    A[:2, :2] += coef[:2].T
    A[:2, 2] = coef[2] - coef[:2].T @ c
    return A


def plane_fit(design: np.ndarray, d: np.ndarray) -> tuple[Optional[np.ndarray], float]:
    """Per-channel plane ``[3, 3]`` fitted to ``d`` ([n, 3]) over ``design``, refitted once
    without outliers, and the median residual (inf with too few samples)."""
    if len(d) < 12:
        return None, float("inf")
    a = design.T @ design + 1e-6 * np.eye(3)
    coef = np.linalg.solve(a, design.T @ d)
    err = np.abs(design @ coef - d).mean(1)
    keep = err <= max(2.0, 2.5 * median(err))
    if keep.sum() >= 12:
        x = design[keep]
        coef = np.linalg.solve(x.T @ x + 1e-6 * np.eye(3), x.T @ d[keep])
        err = np.abs(design @ coef - d).mean(1)
    return coef, median(err)
