"""loadtests/bench_overhead.py's order of servers: a before/after pair is measured fairly.

A server's place in a repetition is worth a few percent of CPU a request on the shared machine, so over
every four repetitions both members of a NAME, NAME@base pair must hold each place, and follow each
neighbour, equally often (reversal alone kept the middle one of floor,NAME,NAME@base in the middle)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support import loadtests_module


@pytest.mark.parametrize(
    "servers",
    [
        ["floor", "gateway-pinned", "gateway-pinned@base"],
        ["floor", "gateway-pinned", "gateway-pinned@base", "gateway", "gateway@base"],
    ],
)
def test_both_members_of_a_pair_hold_each_place_and_follow_each_neighbour_alike(servers: list[str]) -> None:
    with loadtests_module("bench_overhead") as bench:
        runs = [bench.order(servers, rep) for rep in range(4)]
    assert all(sorted(r) == sorted(servers) for r in runs)
    for name in (s for s in servers if f"{s}@base" in servers):
        base = f"{name}@base"
        places = {n: Counter(r.index(n) for r in runs) for n in (name, base)}
        before = {n: Counter(r[r.index(n) - 1] if r.index(n) else None for r in runs) for n in (name, base)}
        assert places[name] == places[base], places
        # each follows the same neighbours, every server of a pair standing in for its partner
        pairs = [(s, f"{s}@base") for s in servers if f"{s}@base" in servers]
        swap = {a: b for x, y in pairs for a, b in ((x, y), (y, x))}
        assert Counter(swap.get(k, k) for k in before[name].elements()) == before[base], before
        assert all(abs(r.index(name) - r.index(base)) == 1 for r in runs)  # side by side every time
