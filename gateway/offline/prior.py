"""The probability side of the scorer (numpy; offline only): the nearest-centroid prior that sets the
level across families of prompts, and the calibration that maps index and prior to P(label)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CLUSTERS", "PRIOR_ROWS", "TEMPERATURE", "calibrate", "clusters", "level"]

CLUSTERS = 16  # nearest-centroid prior: clusters of training prompts
TEMPERATURE = 20.0  # softmax over cosine similarity to the centroids
PRIOR_ROWS = 20.0  # a cluster's rate is shrunk towards the overall rate by this many rows


def clusters(u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (fixed seed) of the training prompts, and each cluster's label log-odds,
    shrunk towards the overall rate by PRIOR_ROWS pseudo-rows and centred: the nearest-centroid prior."""
    import numpy as np

    rng = np.random.default_rng(0)
    c = u[rng.choice(len(u), CLUSTERS, replace=False)]
    for _ in range(30):
        assign = np.argmax(u @ c.T, axis=1)
        for j in range(CLUSTERS):
            members = u[assign == j]
            if len(members):
                c[j] = members.sum(axis=0)
        c /= np.linalg.norm(c, axis=1, keepdims=True)
    assign = np.argmax(u @ c.T, axis=1)
    p = float(np.clip(y.mean(), 0.01, 0.99))
    rates = np.array(
        [
            (y[assign == j].sum() + PRIOR_ROWS * p) / ((assign == j).sum() + PRIOR_ROWS)
            for j in range(CLUSTERS)
        ]
    )
    logits = np.log(rates / (1 - rates)) - np.log(p / (1 - p))
    return c, logits


def level(u: np.ndarray, centroids: np.ndarray, cluster_logits: np.ndarray, temperature: float) -> np.ndarray:
    """The nearest-centroid prior for normalised embeddings u: a softmax over cosine similarity."""
    import numpy as np

    s = temperature * (u @ centroids.T)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    out: np.ndarray = (s @ cluster_logits) / s.sum(axis=-1)
    return out


def _logistic(x: np.ndarray, y: np.ndarray, offset: np.ndarray, l2: float = 1e-4) -> np.ndarray:
    """Logistic regression by Newton steps (a handful of parameters), with a fixed offset."""
    import numpy as np

    w = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w + offset, -40, 40)))
        g = x.T @ (p - y) / len(y) + l2 * w
        h = (x * (p * (1 - p))[:, None]).T @ x / len(y) + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def calibrate(
    z: np.ndarray, prior: np.ndarray, y: np.ndarray, task: np.ndarray
) -> tuple[float, float, float]:
    """(intercept, slope, prior weight) of P(label) = sigmoid(intercept + slope * z + weight * prior).

    The slope is fitted within tasks (one intercept per task): pooled, it would learn which task is
    harder than which, and a negative slope would turn the within-task ranking upside down. It is kept
    positive, so the probability ranks as the index does within a task. The level across tasks is the
    nearest-centroid prior's job: its weight (not negative) and the intercept are then fitted pooled.
    """
    import numpy as np

    tasks = sorted(set(task))
    dummies = np.column_stack([task == t for t in tasks]).astype(np.float64)
    w = _logistic(np.column_stack([dummies, z]), y, np.zeros_like(z))
    slope = max(float(w[-1]), 0.01)
    a, c = _logistic(np.column_stack([np.ones_like(z), prior]), y, slope * z)
    if c < 0:
        (a,), c = _logistic(np.ones((len(z), 1)), y, slope * z), 0.0
    return float(a), slope, float(c)
