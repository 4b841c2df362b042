"""How loadtests/lp_head_eval.py chooses and writes the weight of `lp_head` in the verifier's logprob
models: each set weighs the same, an input that tells nothing gets 0, and a rewrite leaves the fitted
bias alone."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.classify.verifier import Draft, load_verifier
from gateway.protocol import chat_view
from tests.support import REPO, loadtests_module

SHIPPED = REPO / "gateway" / "classify" / "weights" / "verifier.json"


@pytest.fixture(scope="module")
def lp_head_eval() -> Iterator[Any]:
    with loadtests_module("lp_head_eval") as module:
        yield module


def _set(rng: np.random.Generator, n: int, tells: bool) -> list[tuple[int, float, float | None]]:
    """Drafts whose right/wrong the log-odds z half tell; lp_head tells the rest only if `tells`."""
    y = rng.integers(0, 2, n)
    z = y + rng.normal(0, 1.5, n)
    h = -1.5 + (0.8 * (y - 0.5) if tells else 0.0) + rng.normal(0, 0.5, n)
    out: list[tuple[int, float, float | None]] = [
        (int(a), float(b), float(c)) for a, b, c in zip(y, z, h, strict=True)
    ]
    out += [(1, 0.5, None), (0, -0.5, None)]  # code or JSON asked for: no lp_head, read as before
    return out


def test_a_first_statement_that_tells_gets_weight_and_one_that_does_not_gets_none(lp_head_eval: Any) -> None:
    rng = np.random.default_rng(3)
    tells = {f"s{i}": _set(rng, 300, True) for i in range(3)}
    w, m = lp_head_eval.choose(tells, sorted(tells))
    assert w > 0 and m == pytest.approx(-1.5, abs=0.1)
    noise = {f"s{i}": _set(rng, 300, False) for i in range(3)}
    assert lp_head_eval.choose(noise, sorted(noise))[0] == 0.0


def test_the_weight_is_written_with_its_centre_and_the_fitted_bias_kept(
    lp_head_eval: Any, tmp_path: Path
) -> None:
    path = tmp_path / "verifier.json"
    shutil.copy(SHIPPED, path)
    before = json.loads(path.read_text())
    lp_head_eval.write_weight(path, 0.4, -2.0, ["a", "b"])
    lp_head_eval.write_weight(path, 0.4, -2.0, ["a", "b"])  # twice: the same file
    after = json.loads(path.read_text())
    for k in ("logprobs", "logprobs+samples"):
        assert after["heads"][k]["bias"] == before["heads"][k]["bias"]
        assert after["heads"][k]["weights"]["lp_head"] == 0.4 and after["heads"][k]["centre"] == {
            "lp_head": -2.0
        }
    assert after["heads"]["text"] == before["heads"]["text"]
    v = load_verifier(path)
    q = chat_view({"model": "auto", "messages": [{"role": "user", "content": "Capital of Portugal?"}]}, 0)
    at_centre, surer = (
        Draft("Lisbon.", "stop", (-2.0, -2.0), (0, 2)),
        Draft("Lisbon.", "stop", (-1.0, -3.0), (0, 1)),
    )
    assert v.explain(q, [at_centre])["evidence"] == pytest.approx(
        lp_head_eval.without_head(v).explain(q, [at_centre])["evidence"]
    )
    assert v.confidence(q, [surer]) > lp_head_eval.without_head(v).confidence(q, [surer])
