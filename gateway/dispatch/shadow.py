"""Shadow judging: after a cheaper tier answered, ask the reference tier the same request and let a
judge tier compare the two answers, to measure on live traffic how much quality each tier keeps.

Never in the client's way: the draw happens when the request is planned (so a stream keeps its text),
the judging after the answer was handed over, as a background task of its own, bounded in number.
Exploration: of the requests the reference tier answered, a share (`explore`) is also asked of the
route's cheapest tier and judged the same way, so that verdicts (and what is learned from them,
gateway/learning/) also cover requests above the threshold in force.
Never where it must not go: a tier the tenant's key may not use, tools or JSON answers unless the
route says `structured: true`, a reference tier with no backend available, or past the route's
`usd_per_day` (spent by shadowing alone, not billed to the tenant). The judge compares both orders
(A/B, then B/A) to cancel its position bias: the cheaper answer is as good when both orders agree it
is not worse, the reference is better when both say so, and anything else is a tie.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from gateway.dispatch.modes import PLAIN
from gateway.dispatch.walk import Walk
from gateway.errors import GatewayError
from gateway.observability.decision_log import LabelLine
from gateway.observability.trace import Trace
from gateway.protocol import Call, chat_view
from gateway.protocol.choices import answer_text
from gateway.routing.plan import pinned

if TYPE_CHECKING:
    from gateway.observability.decision_log import DecisionLog
    from gateway.observability.metrics import Metrics
    from gateway.routing.decision import Decision, Hints
    from gateway.rules import ShadowSpec
    from gateway.tenancy.shadow_budget import ShadowBudget

__all__ = ["OnVerdict", "Shadow", "verdict"]

# Told of every verdict: the request's walk, the cheaper tier judged, the verdict (learning's intake)
OnVerdict: TypeAlias = Callable[["Walk", str, str], None]

log = logging.getLogger(__name__)
_MAX_TASKS = 8
_TIMEOUT_S = 120.0  # a shadow call's own deadline: nobody waits on it
_JUDGE = (
    "You compare two answers to the same request. Judge correctness first, then helpfulness. "
    "Reply with one word: A if answer A is better, B if answer B is better, TIE if they are as good."
)


def verdict(first: str, second: str) -> str:
    """From the judge's two replies (A = cheaper first, then A = reference): the pair's verdict."""

    def side(reply: str, cheaper_is: str) -> int:  # +1 the cheaper answer won, -1 the reference
        word = reply.strip().upper()[:3]
        if word.startswith("TIE") or word[:1] not in ("A", "B"):
            return 0
        return 1 if word[:1] == cheaper_is else -1

    total = side(first, "A") + side(second, "B")
    return "cheaper_as_good" if total >= 1 else "reference_better" if total <= -1 else "tie"


def _judge_call(call: Call, a: str, b: str) -> Call:
    asked = "\n".join(f"{m.role}: {m.text}" for m in call.view.messages)
    prompt = (
        f"Request:\n{asked}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\nWhich answer is better? Reply A, B or TIE."
    )
    body = {
        "model": "judge",
        "messages": [{"role": "system", "content": _JUDGE}, {"role": "user", "content": prompt}],
        "max_tokens": 4,
        "temperature": 0,
    }
    return Call(chat_view(body, len(prompt)), body, call.received, call.tenant)


class Shadow:
    def __init__(
        self,
        metrics: Metrics,
        budget: ShadowBudget,
        decisions: Callable[[], DecisionLog | None],
        *,
        wall: Callable[[], float],
        rng: random.Random | None = None,
        on_verdict: OnVerdict | None = None,
    ) -> None:
        self._metrics = metrics
        self._budget = budget
        self._decisions = decisions
        self._wall = wall
        self.on_verdict = on_verdict
        self._rng = rng or random.Random()  # noqa: S311 - sampling traffic, not secrets
        self.tasks: set[asyncio.Task[None]] = set()

    def _skip(self, route: str, why: str) -> bool:
        self._metrics.shadow_skipped.labels(route, why).inc()
        return False

    def wants(self, decision: Decision, call: Call, hints: Hints) -> bool:
        """Drawn when the request is planned: may this one be judged (if a cheaper tier answers) or
        explored (if the reference tier does)? `after` draws again which of the two it is."""
        spec = decision.route.spec.shadow if decision.route.spec is not None else None
        if spec is None or self._rng.random() >= max(spec.share, spec.explore_share):
            return False
        route = decision.route.name
        if call.view.structured and not spec.structured:
            return self._skip(route, "structured")
        if hints.tiers is not None and not {spec.reference, spec.judge} <= hints.tiers:
            return self._skip(route, "tier_not_allowed")
        return call.endpoint != "embeddings"

    def after(self, walk: Walk, answer: str | None) -> None:
        """The client has its answer: judge it in the background, if it came from a cheaper tier."""
        spec = walk.decision.route.spec.shadow if walk.decision.route.spec is not None else None
        if spec is None or answer is None:
            return
        route, tier = walk.decision.route.name, walk.trace.tier
        prices = walk.snap.table.spec.tiers
        own, ref = prices.get(tier), prices.get(spec.reference)
        if own is None or ref is None:
            return
        drawn = max(spec.share, spec.explore_share)
        judged = tier
        if tier == spec.reference:
            cheapest = self._cheapest(walk, spec)
            if cheapest is None or self._rng.random() * drawn >= spec.explore_share:
                return  # nothing cheaper to explore, or drawn for judging a cheaper tier only
            judged = cheapest
        elif own.price.per_mtok >= ref.price.per_mtok:
            return  # not a cheaper tier: nothing to learn about saving
        elif self._rng.random() * drawn >= spec.share:
            return  # drawn for exploring only
        if len(self.tasks) >= _MAX_TASKS:
            self._skip(route, "busy")
            return
        ours = answer if judged == tier else None  # exploring: the cheaper tier is asked now
        reference = None if judged == tier else answer
        task = asyncio.get_running_loop().create_task(self._judge(walk, spec, judged, ours, reference))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _tier(self, walk: Walk, tier: str, call: Call) -> tuple[str, float]:
        """The tier's answer text and what it cost: a walk of its backends, not a client request."""
        snap, now = walk.snap, walk.clock()
        tokens = call.view.output_tokens or 256
        plan = pinned(snap.planner.board(now, tokens).tier(tier), tokens)
        trace = Trace(walk.trace.route)
        side = Walk(snap, walk.recorder, walk.clock, walk.decision, call, trace, now + _TIMEOUT_S)
        answer = await side.run(side.candidates(plan), PLAIN, call)
        for name in side.took:  # no request of a client's: its answers reach the breakers, nothing else
            snap.guard.breakers.success(name, walk.clock())
        usage = trace.usage
        usd = snap.costs.bill(tier, usage).cost_usd if usage is not None else 0.0
        return answer_text(answer.result.content) or "", usd

    @staticmethod
    def _cheapest(walk: Walk, spec: ShadowSpec) -> str | None:
        """The route's cheapest tier in this request's plan, if it is cheaper than the reference."""
        tiers = walk.snap.table.spec.tiers
        ref = tiers[spec.reference].price.per_mtok
        names = dict.fromkeys(c.tier for c in walk.decision.plan.candidates if c.tier in tiers)
        cheaper = [t for t in names if t != spec.reference and tiers[t].price.per_mtok < ref]
        return min(cheaper, key=lambda t: tiers[t].price.per_mtok) if cheaper else None

    async def _judge(
        self, walk: Walk, spec: ShadowSpec, tier: str, cheaper: str | None, reference: str | None
    ) -> None:
        """Judge the cheaper tier's answer against the reference's, asking whichever is not in hand."""
        route, snap = walk.decision.route.name, walk.snap
        spent = 0.0  # counted per call: a judge failing after the reference answered was still billed

        async def ask(which: str, call: Call) -> str:
            nonlocal spent
            text, usd = await self._tier(walk, which, call)
            spent += usd
            return text

        try:
            if await self._budget.spent(route) >= spec.usd_per_day:
                self._skip(route, "budget")
                return
            now = walk.clock()
            if not any(
                snap.guard.available(snap.backends[b.name], now)
                for b in snap.table.tier(spec.reference).backends
                if b.name in snap.backends
            ):
                self._skip(route, "reference_down")
                return
            original = walk.call.chat or walk.call  # a Responses request asks in chat form
            body = {k: v for k, v in original.body.items() if k not in ("stream", "stream_options", "n")}
            asked = Call(original.view, body, original.received, original.tenant)
            if reference is None:
                reference = await ask(spec.reference, asked)
            if cheaper is None:
                cheaper = await ask(tier, asked)
            first = await ask(spec.judge, _judge_call(walk.call, cheaper, reference))
            second = await ask(spec.judge, _judge_call(walk.call, reference, cheaper))
        except GatewayError as err:
            log.info("shadow judging for route %s failed: %s", route, err.message)
            self._skip(route, "failed")
            await self._spent(route, spent)
            return
        await self._spent(route, spent)
        found = verdict(first, second)
        self._metrics.shadow_verdicts.labels(route, tier, found).inc()
        if self.on_verdict is not None:
            self.on_verdict(walk, tier, found)
        decisions = self._decisions()
        if decisions is not None and walk.call.response_id:
            decisions.write(
                LabelLine(
                    ts=round(self._wall(), 3),
                    kind="shadow",
                    id=walk.call.response_id,
                    route=route,
                    tier=tier,
                    verdict=found,
                    reference_tier=spec.reference,
                    shadow_cost_usd=round(spent, 8),
                )
            )

    async def _spent(self, route: str, usd: float) -> None:
        if usd:
            await self._budget.add(route, usd)
        self._metrics.shadow_cost.labels(route).inc(usd)

    async def drain(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
