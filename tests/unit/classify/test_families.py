"""The family model (classify/families.py) and its scorer (family_scorer.py), in process: the weights file
round trip, the family set's hash, the descent, counts learned while serving, the guarantee that a
family without labels ranks by length, and the agent-turn reading (features.py)."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from gateway.classify.embed import Embedding
from gateway.classify.families import (
    LEARNED_BOUND,
    ROOT,
    UNKNOWN,
    Counts,
    FamilyModel,
    Node,
    bounded,
)
from gateway.classify.family_file import model_from_json
from gateway.classify.family_scorer import FamilyScorer
from gateway.classify.features import SYSTEM_HEAD_CHARS, TAIL_CHARS, TASK_CHARS, profile, prompt_slice
from gateway.classify.scorer import default_scorer
from gateway.classify.view import view_of_body
from tests.support import REPO

SHIPPED = REPO / "gateway" / "classify" / "weights" / "default.json"


def user(text: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}]}


def projected() -> Embedding:
    """The shipped scorer's tokens and table, already projected on the shipped basis: shared."""
    s = default_scorer()
    return Embedding(s._tokens, s._table)


def shipped() -> FamilyModel:
    return model_from_json(json.loads(SHIPPED.read_text()), "shipped")


@dataclass
class Learned:
    """A LearnedCounts: what issue 22's learning layer hands the scorer."""

    table: dict[str, tuple[float, float]] = field(default_factory=dict)
    version: int = 0

    def counts(self, node: str) -> tuple[float, float] | None:
        return self.table.get(node)

    def labels(self, node: str) -> float:
        return self.table.get(node, (0.0, 0.0))[0]

    def add(self, path: tuple[str, ...], labels: float, shortfalls: float) -> None:
        for nid in path:
            n, s = self.table.get(nid, (0.0, 0.0))
            self.table[nid] = (n + labels, s + shortfalls)
        self.version += 1


def test_the_weights_file_round_trips_byte_for_byte() -> None:
    text = SHIPPED.read_text()
    model = model_from_json(json.loads(text), "shipped")
    assert model.dumps() == text
    assert model.meta["label"] == "P(a Mixtral-8x7B-class model's answer falls short of GPT-4's)"
    assert list(model.nodes)[:2] == [ROOT, UNKNOWN]
    assert model.nodes[UNKNOWN].base.labels == 0  # the unknown family ships without labels


def test_the_family_set_hash_is_the_structure_not_the_counts() -> None:
    model = shipped()
    h = model.family_set_hash
    assert h == shipped().family_set_hash == FamilyScorer(model, projected()).family_set
    counted = copy.deepcopy(model)
    counted.nodes["f0"].added.add(10.0, 3.0, np.zeros(len(model.signals)), np.zeros(len(model.signals)))
    counted.nodes["f0"].slopes = model.nodes[ROOT].slopes
    assert counted.family_set_hash == h  # counts and slopes are not the structure
    grown = copy.deepcopy(model)
    dim = len(model.signals)
    grown.nodes["f7.0"] = Node(
        "f7.0", "f7", model.nodes["f7"].centroid, -math.inf, Counts.zero(dim), Counts.zero(dim)
    )
    grown.nodes["f7"].children.append("f7.0")
    assert grown.family_set_hash != h
    moved = copy.deepcopy(model)
    cen = moved.nodes["f3"].centroid
    assert cen is not None
    moved.nodes["f3"].centroid = cen[::-1].copy()
    assert moved.family_set_hash != h


def test_rates_shrink_towards_the_parent_by_the_label_count() -> None:
    model = shipped()
    folded = model.folded()
    root = model.nodes[ROOT].base
    assert folded[ROOT].rate == pytest.approx((root.shortfalls + 1) / (root.labels + 2))
    f0 = model.nodes["f0"].base  # a top-level family: its shipped counts in full
    assert folded["f0"].rate == pytest.approx((f0.shortfalls + 20 * folded[ROOT].rate) / (f0.labels + 20))
    assert folded["f0"].labels == f0.labels and folded["f0"].own == 0.0
    sub = model.nodes["f0.0"].base  # a sub-family: its shipped counts capped at 5 labels
    d = 5.0 / sub.labels
    expect = (d * sub.shortfalls + 20 * folded["f0"].rate) / (5.0 + 20)
    assert folded["f0.0"].rate == pytest.approx(expect)
    assert model.rate(UNKNOWN) == pytest.approx(folded[ROOT].rate)  # no labels: its parent's rate
    assert model.labels(UNKNOWN) == 0.0


def test_the_descent_finds_the_leaf_the_offline_assignment_finds() -> None:
    from gateway.offline.data import Example
    from gateway.offline.encoded import encode
    from gateway.offline.family_fit import assign, project

    scorer = default_scorer()
    texts = [
        "Which of these is a mammal? A) shark B) dolphin C) trout D) eel",
        "Write a python function that returns the n-th Fibonacci number.",
        "The trophy doesn't fit in the suitcase because _ is too big. Option1: trophy Option2: suitcase",
        "hi",
        "Tell me a story about a dragon who learns to bake bread.",
    ]
    enc = encode([Example(user(t), 0, "t", "test") for t in texts])
    u, ok = project(scorer.model, enc.mean_emb)
    offline = assign(scorer.model, u, ok)
    for t, leaf in zip(texts, offline, strict=True):
        hit = scorer.family(view_of_body(user(t)))
        assert hit.family == leaf
        assert hit.path[0] == leaf and hit.path[-1] == ROOT
        assert all(scorer.model.nodes[a].parent == b for a, b in zip(hit.path, hit.path[1:], strict=False))
        assert hit.family_set == scorer.family_set
    assert scorer.family(view_of_body(user(""))).family == ROOT  # no tokens: the root's values


def test_a_label_less_family_ranks_its_requests_by_length() -> None:
    """The guarantee: within a family whose slopes are the shipped ones (length alone), the score is a
    strictly increasing function of the turn's length, whatever else the request says."""
    model = shipped()
    for nid, nd in model.nodes.items():  # only the root has counts: every family is label-less
        if nid != ROOT:
            nd.base = Counts.zero(len(model.signals))
    scorer = FamilyScorer(model, projected())
    prompts = [
        ("What is the capital of France? " * k) + "Answer briefly." for k in (1, 2, 3, 5, 8, 13, 21)
    ] + ["Prove the Riemann hypothesis.", "Explain quantum entanglement to a child, step by step."]
    views = [view_of_body(user(p)) for p in prompts]
    hits = {scorer.family(v).family for v in views}
    folded = model.folded()
    assert all(folded[h].labels == 0 for h in hits)
    scores = [scorer.logit(v) for v in views]
    lengths = [profile(v).turn_tokens for v in views]
    order = sorted(range(len(views)), key=lambda i: scores[i])
    assert [lengths[i] for i in order] == sorted(lengths)
    assert len(set(scores)) == len(set(lengths))  # equal lengths, equal scores: nothing else counts


def test_learned_counts_move_the_rate_and_refold_the_scorer() -> None:
    scorer = FamilyScorer(shipped(), projected())
    view = view_of_body(user("Which of these is a mammal? A) shark B) dolphin C) trout D) eel"))
    hit = scorer.family(view)
    before = scorer.logit(view)
    assert hit.labels == 0.0  # nothing of the deployment's own yet
    learned = Learned()
    scorer.learned = learned
    assert scorer.logit(view) == before  # nothing in force: the file's rate
    learned.add(hit.path, 200.0, 180.0)  # the small model fell short on 90% of 200 labels there
    after = scorer.logit(view)
    r0, r1 = scorer.model.rate(hit.family), scorer.model.rate(hit.family, learned)
    assert r1 > r0 + 0.3
    # the learned labels carry no signals: the family's level moves to theirs, and its requests' places
    # within it stay in order but within LEARNED_BOUND of that level
    within = before - math.log(r0 / (1 - r0))
    assert after - math.log(r1 / (1 - r1)) == pytest.approx(bounded(within))
    assert abs(after - math.log(r1 / (1 - r1))) <= LEARNED_BOUND
    assert scorer.family(view).labels == 200.0
    assert scorer.model.labels(hit.family, learned) == scorer.model.labels(hit.family) + 200.0
    learned.add(hit.path, 200.0, 0.0)  # a new version: the scorer folds again on its next score
    assert scorer.logit(view) < after
    scorer.learned = None
    assert scorer.logit(view) == before


def test_a_hit_carries_the_signals_the_model_counts() -> None:
    scorer = default_scorer()
    view = view_of_body(user("Write a python function that merges two sorted lists, with tests."))
    hit = scorer.family(view)
    x = hit.x
    assert len(x) == len(scorer.model.signals)
    assert x[0] == pytest.approx(math.log(profile(view).turn_tokens))
    u = np.array(x[len(x) - scorer.model.emb_dims :])
    assert float(np.linalg.norm(u)) == pytest.approx(1.0, abs=1e-5)
    p, same = scorer.scored(view)
    assert p == scorer.score(view) and same.family == hit.family


def test_an_invalid_structure_is_refused() -> None:
    from gateway.errors import ConfigError

    data = json.loads(SHIPPED.read_text())
    data["families"]["nodes"].insert(3, copy.deepcopy(data["families"]["nodes"][2]))
    with pytest.raises(ConfigError, match="twice"):
        model_from_json(data, "w.json")


# ---- agent turns -------------------------------------------------------------------------------

SYSTEM = "You are Forge, an autonomous coding agent. " + "Follow every rule. " * 2000


def agent(*turns: dict[str, object]) -> dict[str, object]:
    return {"messages": [{"role": "system", "content": SYSTEM}, *turns], "tools": [{"type": "function"}]}


def test_a_single_turn_request_is_read_as_before() -> None:
    body = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "q" * 900}]}
    f = profile(view_of_body(body))
    assert f.turn_tokens == f.prompt_tokens  # the whole prompt, system included
    assert prompt_slice(view_of_body(body)) == SYSTEM[:SYSTEM_HEAD_CHARS] + "\n" + "q" * TAIL_CHARS


def test_an_agent_turn_is_read_by_what_changed() -> None:
    body = agent(
        {"role": "user", "content": "Task: fix the failing build."},
        {"role": "assistant", "content": "Reading the file.", "tool_calls": [{"id": "c"}]},
        {"role": "tool", "tool_call_id": "c", "content": "x = 1\n" * 2000},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "Now add a test for the empty list."},
    )
    view = view_of_body(body)
    f = profile(view)
    assert f.prompt_tokens > 10_000
    assert f.turn_tokens == len("Now add a test for the empty list.") // 4 + 1  # the delta alone
    text = prompt_slice(view)
    assert text == SYSTEM[:SYSTEM_HEAD_CHARS] + "\nNow add a test for the empty list."


def test_a_tool_result_turn_reads_the_task_then_the_result() -> None:
    result = "FAILED tests/test_a.py::test_b - AssertionError\n" * 40
    body = agent(
        {"role": "user", "content": "Task: " + "make the parser handle empty input. " * 10},
        {"role": "assistant", "content": "Running the tests.", "tool_calls": [{"id": "t"}]},
        {"role": "tool", "tool_call_id": "t", "content": result},
    )
    view = view_of_body(body)
    assert profile(view).turn_tokens == len(result) // 4 + 1
    text = prompt_slice(view)
    head, task, rest = text.split("\n", 2)
    assert head == SYSTEM[:SYSTEM_HEAD_CHARS]
    assert len(task) == TASK_CHARS and task.endswith("empty input. ")
    assert rest.endswith("AssertionError\n") and len(text) == SYSTEM_HEAD_CHARS + 1 + TAIL_CHARS


def test_an_agent_turn_scores_as_its_new_turn_would() -> None:
    """The static prefix counts once: a turn's score follows the new message, not the 20k-token
    prompt around it, so a hard last turn outscores an easy one in the same session."""
    scorer = default_scorer()
    history = [
        {"role": "user", "content": "Task: refactor the module."},
        {"role": "assistant", "content": "Done with that step."},
    ]
    easy = agent(*history, {"role": "user", "content": "thanks"})
    hard = agent(*history, {"role": "user", "content": "Now prove the invariant holds. " * 30})
    assert scorer.score(view_of_body(easy)) < scorer.score(view_of_body(hard))
    bare = scorer.score(view_of_body(user("thanks")))
    assert scorer.score(view_of_body(easy)) < bare + 0.2  # not "hard" because the prefix is long
