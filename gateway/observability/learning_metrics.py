"""Learning while serving, in metrics: labels by family and what became of them, requests whose tier
the learned counts moved, and each family's learned state read at scrape time.

The `family` label is bounded: family ids come from the weights file (tens to a few hundred), never
from a request's text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LABEL_RESULTS", "FamilyRow", "LearningMetrics"]

# counted; capped (its tenant's tally for the family is full); dropped (the queue was full); lost (the
# store refused it); stale (learned on another weights file's families); off (the route learns nothing)
LABEL_RESULTS = ("counted", "capped", "dropped", "lost", "stale", "off")


# What a family's learned state shows: (family, learned labels, rate used, prior rate, in force)
FamilyRow = tuple[str, float, float, float, bool]


class _StateCollector(Collector):
    def __init__(self, states: Callable[[], Iterable[FamilyRow]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        labels = GaugeMetricFamily(
            "gateway_learning_family_labels", "Learned labels of the family, decayed", labels=["family"]
        )
        rate = GaugeMetricFamily(
            "gateway_learning_family_rate",
            "The family's shortfall rate the scorer uses (prior, or blended with learned labels)",
            labels=["family"],
        )
        prior = GaugeMetricFamily(
            "gateway_learning_family_prior_rate", "The family's rate from the weights file", labels=["family"]
        )
        force = GaugeMetricFamily(
            "gateway_learning_family_in_force",
            "1 when the family's learned labels move routing",
            labels=["family"],
        )
        for family, n, used, before, on in self._states():
            key = [family]
            labels.add_metric(key, n)
            rate.add_metric(key, used)
            prior.add_metric(key, before)
            force.add_metric(key, 1.0 if on else 0.0)
        yield from (labels, rate, prior, force)


class LearningMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.labels = Counter(
            "gateway_learning_labels",
            "Labels from shadow verdicts and ratings, by family, source and what became of them",
            ["family", "source", "result"],
            registry=r,
        )
        self.moved = Counter(
            "gateway_learning_moved",
            "Requests whose tier differs from the one the prior alone would have chosen",
            ["route", "family"],
            registry=r,
        )
        self.refits = Counter(
            "gateway_learning_refits",
            "Refits of the scorer on the decision log's labels (GATEWAY_REFIT_LABELS), by result",
            ["result"],
            registry=r,
        )
        for result in ("adopted", "set_aside", "nothing", "failed"):
            self.refits.labels(result)
        self._registry = r

    def refitted(self, result: str) -> None:
        self.refits.labels(result).inc()

    def label(self, family: str, source: str, result: str) -> None:
        self.labels.labels(family, source, result).inc()

    def watch(self, states: Callable[[], Iterable[FamilyRow]]) -> None:
        self._registry.register(_StateCollector(states))
