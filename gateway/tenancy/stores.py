"""Every store shared between replicas, built one way from the settings: in this process, or in Redis
when GATEWAY_REDIS_URL is set (redis is imported only then).

A store reports each failed Redis operation to the callback given for it (the server counts them in
its metrics); nothing here knows about metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.tenancy.answer_index import AnswerIndex, MemoryAnswers
from gateway.tenancy.learned_store import LearnedStore, MemoryLearned
from gateway.tenancy.limits import LimitStore, TenantLimits
from gateway.tenancy.response_store import MemoryResponses, ResponseStore
from gateway.tenancy.shadow_budget import MemoryShadowBudget, ShadowBudget

if TYPE_CHECKING:
    from gateway.config import Settings

__all__ = ["StoreErrors", "Stores", "build_stores"]

OnError = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class StoreErrors:
    """Where each store reports a failed operation, by the operation's name ("admit", "get", ...)."""

    limits: OnError | None = None
    responses: OnError | None = None
    answers: OnError | None = None
    shadow_budget: OnError | None = None
    learned: OnError | None = None


@dataclass(frozen=True, slots=True)
class Stores:
    limits: LimitStore  # tenants' request, token and spend windows
    responses: ResponseStore  # the Responses API's stored responses (previous_response_id)
    answers: AnswerIndex  # which tenant each answer went to (feedback)
    shadow_budget: ShadowBudget  # shadow judging's spend today
    learned: LearnedStore  # family counts learned while serving (the learner closes it)

    async def aclose(self) -> None:
        await asyncio.gather(
            self.limits.aclose(), self.responses.aclose(), self.answers.aclose(), self.shadow_budget.aclose()
        )


def build_stores(settings: Settings, errors: StoreErrors | None = None) -> Stores:
    errors = errors or StoreErrors()
    if settings.redis_url is None:
        return Stores(
            TenantLimits(),
            MemoryResponses(
                max_count=settings.responses_max,
                max_bytes=settings.responses_max_bytes,
                tenant_count=settings.responses_tenant_max,
                tenant_bytes=settings.responses_tenant_max_bytes,
                ttl_s=settings.responses_ttl_s,
            ),
            MemoryAnswers(settings.answers_max, settings.answers_retention_s),
            MemoryShadowBudget(),
            MemoryLearned(settings.state_dir),
        )
    from gateway.tenancy.redis_answers import RedisAnswers
    from gateway.tenancy.redis_learned_store import RedisLearned
    from gateway.tenancy.redis_limits import RedisLimits
    from gateway.tenancy.redis_responses import RedisResponses
    from gateway.tenancy.redis_shadow_budget import RedisShadowBudget

    # One client per store: each closes its own, and a slow store cannot hold another's connections.
    url = settings.redis_url.get_secret_value()
    return Stores(
        RedisLimits.from_url(url, fail_open=settings.limits_fail_open, on_error=errors.limits),
        RedisResponses.from_url(
            url,
            ttl_s=settings.responses_ttl_s,
            tenant_count=settings.responses_tenant_max,
            tenant_bytes=settings.responses_tenant_max_bytes,
            on_error=errors.responses,
        ),
        RedisAnswers.from_url(url, retention_s=settings.answers_retention_s, on_error=errors.answers),
        RedisShadowBudget.from_url(url, on_error=errors.shadow_budget),
        RedisLearned.from_url(url, on_error=errors.learned),
    )
