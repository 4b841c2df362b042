"""Learning while serving, in-process: label rules, decayed counts, the guard rails, the layer the scorer
reads, the store (memory and state file) and the learner's queue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.learning.labels import Label, rating_label, verdict_label
from gateway.learning.layer import LearnedLayer
from gateway.learning.learner import Learner
from gateway.learning.rails import Rails, blended, interval, moves
from gateway.tenancy.learned_store import Decayed, Delta, MemoryLearned

DAY = 86_400.0


class Prior:
    """A family set of three: f0 (prior rate 0.3), its child f0.0 (0.3), and f1 (0.7)."""

    rates = {"root": (0.4, 1000.0), "f0": (0.3, 500.0), "f0.0": (0.3, 25.0), "f1": (0.7, 400.0)}

    def prior(self, node: str) -> tuple[float, float]:
        return self.rates[node]

    def families(self) -> list[str]:
        return list(self.rates)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


RAILS = Rails(thresholds=(0.6,))


@pytest.mark.parametrize(
    ("verdict", "y"), [("reference_better", 1.0), ("cheaper_as_good", 0.0), ("tie", 0.0), ("?", None)]
)
def test_verdict_labels(verdict: str, y: float | None) -> None:
    assert verdict_label(verdict) == y


@pytest.mark.parametrize(
    ("label", "tier", "shadowed", "y"),
    [
        ("bad", "small", False, 1.0),
        ("good", "small", False, 0.0),
        ("neutral", "small", False, None),  # a neutral rating does not label
        ("bad", "large", False, None),  # the reference tier's own answer says nothing of a cheaper one
        ("bad", "small", True, None),  # drawn for shadow judging: its verdict labels it, not the rating
    ],
)
def test_rating_labels(label: str, tier: str, shadowed: bool, y: float | None) -> None:
    assert rating_label(label, tier=tier, reference_tier="large", shadowed=shadowed) == y


def test_counts_halve_every_half_life() -> None:
    d = Decayed()
    d.add(0.0, DAY, 1.0, 1.0)
    d.add(0.0, DAY, 1.0, 0.0)
    assert d.at(0.0, DAY) == (2.0, 1.0)
    assert d.at(DAY, DAY) == pytest.approx((1.0, 0.5))
    d.add(2 * DAY, DAY, 1.0, 1.0)
    assert d.at(2 * DAY, DAY) == pytest.approx((1.5, 1.25))
    with pytest.raises(ValueError, match="count"):
        Decayed.of([1.0, 2.0, 0.0])  # more shortfalls than labels


def test_the_interval_narrows_with_labels() -> None:
    assert interval(0, 0, 1.96) == (0.0, 1.0)
    lo10, hi10 = interval(10, 10, 1.96)
    lo40, _ = interval(40, 40, 1.96)
    assert hi10 == 1.0 and 0.70 < lo10 < lo40 < 1.0


def test_no_move_on_few_labels_or_on_a_point_estimate() -> None:
    # all ten say "fell short": the interval is past 0.6, the prior (0.3) is not: moves
    assert moves(0.3, 10, 10, RAILS)
    assert not moves(0.3, 9, 9, RAILS)  # fewer than min_labels
    assert not moves(0.3, 20, 13, RAILS)  # 0.65 as a point, but its interval reaches below 0.6
    assert moves(0.7, 10, 0, RAILS)  # ten clean verdicts bring a family past it back below
    assert not moves(0.3, 40, 12, RAILS)  # its interval holds the prior: no evidence against it
    # The prior is past the threshold already, but the evidence says the family is higher still: in
    # force (its requests' within-family spread no longer takes some of them below the threshold).
    assert moves(0.7, 20, 20, RAILS)
    # On the same side of the threshold as a prior it excludes: a family whose requests straddle the
    # threshold by their length (its rate 0.23, its long requests 0.93) comes under its learned level.
    assert moves(0.23, 45, 0, RAILS) and not moves(0.23, 9, 0, RAILS)


def labels_to_cross(prior: float, y: float, threshold: float, rails: Rails) -> int:
    """How many labels all saying `y` carry a family at `prior` past `threshold`: the documented
    prediction (docs/quality.md, "Learning while serving")."""
    n = 0
    while True:
        n += 1
        s = n * y
        if moves(prior, n, s, rails) and (blended(prior, n, s, rails) > threshold) != (prior > threshold):
            return n


def test_a_family_whose_verdicts_go_one_way_moves_within_about_twenty() -> None:
    assert labels_to_cross(0.3, 1.0, 0.6, RAILS) == 16
    assert labels_to_cross(0.7, 0.0, 0.6, RAILS) == 10
    assert labels_to_cross(0.5, 1.0, 0.6, RAILS) == 10


def test_the_layer_hands_the_scorer_counts_that_give_the_blended_rate() -> None:
    clock = Clock()
    layer = LearnedLayer("set-a", Prior(), RAILS, clock)
    assert layer.counts("f0") is None and layer.version == 0
    layer.load({"f0": Decayed(20.0, 20.0, clock.t), "root": Decayed(20.0, 20.0, clock.t)})
    assert layer.version == 1
    n, s = layer.counts("f0")  # type: ignore[misc]
    rate, strength = Prior.rates["f0"]
    assert (rate * strength + s) / (strength + n) == pytest.approx(blended(0.3, 20, 20, RAILS))
    assert layer.counts("root") is not None  # the root's prior (0.4) is not past 0.6 either
    assert layer.counts("f1") is None  # no labels of its own
    state = {s.family: s for s in layer.states()}
    assert state["f0"].in_force and state["f0"].rate == pytest.approx(0.65)
    # the same counts read again: nothing changed for the scorer, its cache stays
    layer.load({"f0": Decayed(20.0, 20.0, clock.t), "root": Decayed(20.0, 20.0, clock.t)})
    assert layer.version == 1
    # time passes: decayed below min_labels, the family falls back to its prior
    clock.t += 3 * RAILS.half_life_s
    layer.load({"f0": Decayed(20.0, 20.0, clock.t - 3 * RAILS.half_life_s)})
    assert layer.counts("f0") is None and layer.version == 2


async def test_a_tenants_ratings_count_only_up_to_the_cap() -> None:
    store = MemoryLearned()
    path = ("f0.0", "f0", "root")
    done = await store.add("s", [Delta(path, 1.0, "acme")] * 25, 0.0, DAY, tenant_cap=10)
    assert sum(done) == 10
    assert (await store.add("s", [Delta(path, 1.0, "beta")], 0.0, DAY, 10)) == [True]
    assert (await store.add("s", [Delta(path, 0.0)] * 5, 0.0, DAY, 10)) == [True] * 5  # verdicts: no cap
    counts = await store.read("s")
    assert counts["f0.0"].n == counts["f0"].n == counts["root"].n == 16
    assert counts["f0.0"].s == 11


async def test_the_state_file_survives_a_restart_and_is_written_whole(tmp_path: Path) -> None:
    store = MemoryLearned(tmp_path)
    await store.add("s", [Delta(("f1", "root"), 1.0)], 5.0, DAY, 10)
    await store.flush()
    data = json.loads((tmp_path / "learned.json").read_text())
    assert data["format"] == "gateway-learned-v1"
    again = MemoryLearned(tmp_path)
    assert (await again.read("s"))["f1"].to_list() == [1.0, 1.0, 5.0]
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # noqa: ASYNC240 - a test's tmp dir
    assert not left  # no temporary file left
    (tmp_path / "learned.json").write_text("{broken")
    assert await MemoryLearned(tmp_path).read("s") == {}  # a broken file: start from none, say so


async def test_an_export_is_folded_once_and_a_restart_keeps_what_was_learned_since(tmp_path: Path) -> None:
    store = MemoryLearned(tmp_path)
    learner = Learner(store, RAILS, queue_max=100)
    learner.attach("set-a", Prior())
    await store.add("set-a", [Delta(("f0",), 1.0)] * 12, 0.0, DAY, 10)
    export = {"learned_folded": {"family_set": "set-a", "at": 50.0}}
    assert await learner.fold({"learned_folded": {"family_set": "set-b", "at": 50.0}}) is None  # not ours
    assert await learner.fold(export) == "set-a" and await store.read("set-a") == {}
    await store.add("set-a", [Delta(("f0",), 1.0)] * 3, 60.0, DAY, 10)  # learned since
    await store.flush()
    again = MemoryLearned(tmp_path)  # a restart, the export still in force
    restarted = Learner(again, RAILS, queue_max=100)
    restarted.attach("set-a", Prior())
    assert await again.folded_at("set-a") == 50.0
    assert await restarted.fold(export) is None
    assert (await again.read("set-a"))["f0"].n == 3
    # a later export folds again
    assert await restarted.fold({"learned_folded": {"family_set": "set-a", "at": 70.0}}) == "set-a"


async def test_the_learner_applies_queued_labels_and_reloads_the_layer() -> None:
    seen: list[tuple[str, str, str]] = []
    clock = Clock()
    learner = Learner(MemoryLearned(), RAILS, queue_max=30, on_label=lambda *a: seen.append(a), wall=clock)
    layer = learner.attach("set-a", Prior())
    learner.offer(Label("set-b", "f0", 1.0, "verdict", "auto"))  # learned on other weights' families
    for _ in range(35):
        learner.offer(Label("set-a", "f0.0", 1.0, "verdict", "auto"))
    assert learner.pending == 30  # six dropped: the queue is bounded
    assert await learner.apply_pending() == 29
    assert layer.in_force("f0.0") and not layer.in_force("f0")  # the family, not its ancestors
    results = [r for *_, r in seen]
    assert results.count("dropped") == 6 and results.count("counted") == 29 and results.count("stale") == 1
    # the same family set keeps its layer; another set gets a new one
    assert learner.attach("set-a", Prior()) is layer
    assert learner.attach("set-b", Prior()) is not layer


@pytest.mark.parametrize(
    "prompt", ["What is the capital of France?", "Explain how attention works, with the maths. " * 8]
)
def test_an_export_scores_as_the_learned_layer_did(prompt: str) -> None:
    """Folded into a weights file, the learned counts give every request of the family the score it had
    while they were in force (its within-family term stays bounded), on the same family set."""
    from gateway.classify.family_file import model_from_json
    from gateway.classify.family_scorer import FamilyScorer
    from gateway.classify.scorer import default_scorer
    from gateway.classify.view import view_of_body

    scorer = default_scorer()
    view = view_of_body({"messages": [{"role": "user", "content": prompt}]})
    prior, hit = scorer.scored(view)
    assert hit is not None
    layer = LearnedLayer(hit.family_set, scorer, Rails(thresholds=(0.5, 1.0)), lambda: 0.0)  # type: ignore[arg-type]
    layer.load({hit.family: Decayed(26.0, 20.0, 0.0)})
    learning = scorer.with_learned(layer)  # type: ignore[attr-defined]
    learned = learning.score(view)
    assert abs(learned - prior) > 0.05  # the learned counts matter for this request
    exported = FamilyScorer(model_from_json(json.loads(json.dumps(learning.export_learned(layer))), "export"))
    assert exported.family_set == hit.family_set
    assert exported.score(view) == pytest.approx(learned, abs=1e-6)
