"""Fitting the family model and adding labels to it (offline/family_fit.py), on synthetic rows: the
structure, the counts, splits where labels concentrate, refitted slopes, determinism, the guarantee."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gateway.classify.families import CANDIDATES, ROOT, UNKNOWN
from gateway.classify.family_file import model_from_json
from gateway.offline.family_fit import Config, add_labels, assign, fit, logits, project
from gateway.offline.stats import kendall_tau

CFG = Config(clusters=3, presplit=False)


def rows(
    n: int, centres: list[int], seed: int, rate: tuple[float, ...] = (0.1, 0.5, 0.9)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean embeddings, labels): rows around the given centres of three directions in 256-d, each
    centre its own shortfall rate; longer prompts fall short more often."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).normal(size=(3, 256))
    which = rng.choice(centres, n)
    emb = basis[which] + 0.3 * rng.normal(size=(n, 256))
    x = rng.normal(size=(n, len(CANDIDATES)))
    x[:, 0] = rng.normal(4.0, 1.0, n)  # log prompt tokens
    p = np.array(rate)[which] * (0.5 + 0.5 * (x[:, 0] > 4.0))
    return x, emb, (rng.random(n) < p).astype(float)


def test_the_fit_counts_every_row_in_its_family_and_ancestors() -> None:
    x, emb, y = rows(600, [0, 1, 2], 0)
    model = fit(x, emb, y, np.ones(len(y), dtype=bool), CFG)
    assert list(model.nodes) == [ROOT, UNKNOWN, "f0", "f1", "f2"]
    root = model.nodes[ROOT]
    assert root.base.labels == 600 and root.base.shortfalls == y.sum()
    assert sum(model.nodes[f].base.labels for f in ("f0", "f1", "f2")) == 600
    assert model.nodes[UNKNOWN].base.labels == 0
    assert root.slopes is not None and root.slopes[0] == CFG.beta and not root.slopes[1:].any()
    rates = sorted(model.rate(f) for f in ("f0", "f1", "f2"))
    assert rates[0] < 0.15 and rates[2] > 0.5  # the three centres' levels, shrunk a little
    assert model_from_json(model.to_json(), "x").dumps() == model.dumps()


def test_within_a_family_the_score_is_the_length_order() -> None:
    x, emb, y = rows(600, [0, 1, 2], 0)
    model = fit(x, emb, y, np.ones(len(y), dtype=bool), CFG)
    z, leaf = logits(model, x, emb)
    for f in sorted(set(leaf)):
        m = leaf == f
        assert kendall_tau(z[m], x[m, 0]) == pytest.approx(1.0)


def test_labels_that_concentrate_split_their_family_and_refit_its_slopes() -> None:
    x, emb, y = rows(600, [0, 1, 2], 0)
    model = fit(x, emb, y, np.ones(len(y), dtype=bool), CFG)
    xn, en, yn = rows(150, [0], 5, rate=(0.4, 0.4, 0.4))
    u, ok = project(model, en)
    (family,) = set(assign(model, u, ok))
    grown = add_labels(model, xn, en, yn, CFG)
    assert grown.nodes[family].added.labels == 150 and grown.nodes[ROOT].added.labels == 150
    kids = grown.nodes[family].children
    assert kids == [f"{family}.{j}" for j in range(len(kids))] and len(kids) >= 2
    assert sum(grown.nodes[k].added.labels for k in kids) == 150
    assert all(grown.nodes[k].base.labels == 0 for k in kids)  # the operator's rows alone
    slopes = grown.nodes[family].slopes  # >= beta_min new labels: its own slopes
    assert slopes is not None and slopes[0] >= 0.01 * CFG.beta
    for other in ("f0", "f1", "f2"):
        if other != family:
            assert grown.nodes[other].slopes is None and not grown.nodes[other].children
    assert model.nodes[family].added.labels == 0  # the prior is not changed in place
    again = add_labels(model, xn, en, yn, CFG)
    assert again.dumps() == grown.dumps()  # deterministic, byte for byte
    few = add_labels(model, xn[:30], en[:30], yn[:30], CFG)
    assert not few.nodes[family].children and few.nodes[family].slopes is None


def test_rows_beyond_every_radius_grow_families_under_the_unknown_one() -> None:
    cfg = replace(CFG, radius_q=0.05)
    x, emb, y = rows(600, [0, 1], 0)
    model = fit(x, emb, y, np.ones(len(y), dtype=bool), cfg)
    xn, en, yn = rows(120, [2], 6)  # a family the prior never saw
    u, ok = project(model, en)
    assert (assign(model, u, ok) == UNKNOWN).mean() > 0.9
    grown = add_labels(model, xn, en, yn, cfg)
    kids = grown.nodes[UNKNOWN].children
    assert kids and all(k.startswith("u.") for k in kids)
    assert grown.nodes[UNKNOWN].added.labels >= 0.9 * 120
    # label-less: before the labels, the unknown family's requests are one length-ordered block
    z, leaf = logits(model, xn, en)
    m = leaf == UNKNOWN
    assert kendall_tau(z[m], xn[m, 0]) == pytest.approx(1.0)
    assert model.rate(UNKNOWN) == pytest.approx(model.rate(ROOT))
