"""How loadtests/stacked_eval.py chooses and writes the weights of `lp_head` and `missing_answer` in the
verifier's logprob models: each set weighs the same, an input that tells nothing gets 0, one that
tells gets the sign of its meaning, and a rewrite leaves the fitted bias alone."""

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
def stacked() -> Iterator[Any]:
    with loadtests_module("stacked_eval") as module:
        yield module


def _set(mod: Any, rng: np.random.Generator, n: int, head: bool, missing: bool) -> list[Any]:
    """Drafts whose right/wrong the log-odds z half tell; lp_head tells the rest only if `head`, and
    a draft without its answer is wrong only if `missing` (else right as often as the others)."""
    y = rng.integers(0, 2, n)
    z = y + rng.normal(0, 1.5, n)
    h = -1.5 + (0.8 * (y - 0.5) if head else 0.0) + rng.normal(0, 0.5, n)
    gone = (rng.random(n) < 0.15) & ((y == 0) if missing else np.ones(n, dtype=bool))
    out = [mod.Row(int(a), float(b), (float(c), float(d))) for a, b, c, d in zip(y, z, h, gone, strict=True)]
    # Code or JSON asked for: no lp_head, read as before.
    return [*out, mod.Row(1, 0.5, (None, 0.0)), mod.Row(0, -0.5, (None, 0.0))]


def test_inputs_that_tell_get_weight_of_their_sign_and_those_that_do_not_get_none(stacked: Any) -> None:
    rng = np.random.default_rng(3)
    tells = {f"s{i}": _set(stacked, rng, 400, True, True) for i in range(3)}
    (w_head, w_missing), (c_head, c_missing) = stacked.choose(tells, sorted(tells))
    assert w_head > 0 and w_missing < 0
    assert c_head == pytest.approx(-1.5, abs=0.1) and c_missing == 0.0
    noise = {f"s{i}": _set(stacked, rng, 2000, False, False) for i in range(3)}
    assert stacked.choose(noise, sorted(noise))[0] == (0.0, 0.0)


def test_the_weights_are_written_with_lp_heads_centre_and_the_fitted_bias_kept(
    stacked: Any, tmp_path: Path
) -> None:
    path = tmp_path / "verifier.json"
    shutil.copy(SHIPPED, path)
    before = json.loads(path.read_text())
    stacked.write_weights(path, (0.4, -2.0), (-2.0, 0.0), ["a", "b"])
    stacked.write_weights(path, (0.4, -2.0), (-2.0, 0.0), ["a", "b"])  # twice: the same file
    after = json.loads(path.read_text())
    for k in ("logprobs", "logprobs+samples"):
        assert after["heads"][k]["bias"] == before["heads"][k]["bias"]
        assert after["heads"][k]["weights"]["lp_head"] == 0.4
        assert after["heads"][k]["weights"]["missing_answer"] == -2.0
        assert after["heads"][k]["centre"] == {"lp_head": -2.0}
    assert after["heads"]["text"] == before["heads"]["text"]
    assert after["meta"]["stacked"] == {"lp_head": 0.4, "missing_answer": -2.0, "chosen_on": ["a", "b"]}
    v, bare = load_verifier(path), stacked.without_stacked(load_verifier(path))
    q = chat_view({"model": "auto", "messages": [{"role": "user", "content": "Capital of Portugal?"}]}, 0)
    at_centre, surer = (
        Draft("Lisbon.", "stop", (-2.0, -2.0), (0, 2)),
        Draft("Lisbon.", "stop", (-1.0, -3.0), (0, 1)),
    )
    assert v.explain(q, [at_centre])["evidence"] == pytest.approx(bare.explain(q, [at_centre])["evidence"])
    assert v.confidence(q, [surer]) > bare.confidence(q, [surer])
    legs = {"role": "user", "content": "How many legs has a cat?"}
    count = chat_view({"model": "auto", "messages": [legs]}, 0)
    said, not_said = Draft("4.", "stop", (-2.0, -2.0), (0, 2)), Draft("Cats.", "stop", (-2.0, -2.0), (0, 2))
    assert v.explain(count, [said])["evidence"] == pytest.approx(bare.explain(count, [said])["evidence"])
    assert v.explain(count, [not_said])["missing_answer"] == 1.0
    assert v.confidence(count, [not_said]) < bare.confidence(count, [not_said])
