"""A vLLM server: the OpenAI-compatible backend, plus its `/health` and the load its `/metrics` shows.

A scrape loop reads `vllm:num_requests_waiting`, `vllm:num_requests_running` and the KV-cache usage
(`vllm:kv_cache_usage_perc`, or `vllm:gpu_cache_usage_perc` on older servers). Values older than
`stale_after_s` count as unknown: an unknown load is not a saturated one. A server whose queue or KV
cache is past the routes file's thresholds is saturated, and the plan spills to other backends.

It also reads the token counters (`vllm:prompt_tokens_total`, `vllm:generation_tokens_total`): a scrape
that finds them moved says the engine works (`progressed_at`), even while every request waiting on it
is silent, a plain answer being written; one that finds them still, or no scrape at all, says nothing.
So does the KV cache's usage moving: vLLM counts a prompt's tokens only once it is read, but a prompt
read in chunks fills the cache at every step, and the scheduler reports its usage at every step
whether or not a token came out (v1's `Scheduler.update_from_output`). A hung engine moves neither.
The gateway takes a long silence for a hang (routing/board.py, dispatch/modes.py), and this is what
lets it tell a plain answer being written from one that never will be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp

from gateway.backends.http import TRANSPORT_ERRORS
from gateway.backends.openai_compat import OpenAICompatBackend, api_key
from gateway.rules import KindSpec, VLLMSpec

if TYPE_CHECKING:
    from pydantic import SecretStr

    from gateway.backends.base import Resources

__all__ = ["VLLM_METRICS", "Load", "VLLMBackend", "parse_metrics"]

log = logging.getLogger(__name__)

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
# Each metric read, by what it says: "waiting", "running", "kv_cache" (a share), "tokens" (counters).
VLLM_METRICS: Mapping[str, str] = {
    "vllm:num_requests_waiting": "waiting",
    "vllm:num_requests_running": "running",
    "vllm:kv_cache_usage_perc": "kv_cache",
    "vllm:gpu_cache_usage_perc": "kv_cache",  # the name before vLLM 0.10
    # Counters: a prompt's tokens count once it is read, an answer's as they are written.
    "vllm:prompt_tokens_total": "tokens",
    "vllm:generation_tokens_total": "tokens",
}
_SCRAPE_TIMEOUT = aiohttp.ClientTimeout(total=2.0)


@dataclass(frozen=True, slots=True)
class Load:
    waiting: float
    running: float
    kv_cache: float | None  # 0..1
    at: float
    tokens: float | None = None  # prompt and generated tokens so far (counters); None: not shown


def parse_metrics(text: str, at: float, wanted: Mapping[str, str] = VLLM_METRICS) -> Load | None:
    """Sum each wanted gauge over its label sets (one per model/engine); None if the server has none."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _SAMPLE.match(line)
        if m is None or m.group(1) not in wanted:
            continue
        key = wanted[m.group(1)]
        with contextlib.suppress(ValueError):
            value = float(m.group(3))
            # KV usage is a share per engine: the fullest one is what matters; counts add up.
            found[key] = max(found.get(key, 0.0), value) if key == "kv_cache" else found.get(key, 0.0) + value
    if "waiting" not in found and "running" not in found:
        return None
    get = found.get
    return Load(get("waiting", 0.0), get("running", 0.0), get("kv_cache"), at, get("tokens"))


class VLLMBackend(OpenAICompatBackend):
    kind = "vllm"
    spec_type: ClassVar[type[KindSpec]] = VLLMSpec
    metric_names: ClassVar[Mapping[str, str]] = VLLM_METRICS
    # Told to an operator whose server shows no load: how to make it show some.
    metrics_hint: ClassVar[str] = "vLLM shows them at /metrics unless started with --disable-log-stats"

    def __init__(
        self,
        name: str,
        model: str,
        base_url: str,
        session: aiohttp.ClientSession,
        api_key: SecretStr | None = None,
        *,
        metrics_url: str,
        health_url: str,
        max_waiting: int,
        max_kv_cache: float,
        scrape_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, model, base_url, session, api_key)
        self.metrics_url = metrics_url
        self.health_url = health_url
        self.max_waiting = max_waiting
        self.max_kv_cache = max_kv_cache
        self.interval_s = scrape_interval_s
        self.stale_after_s = 3 * scrape_interval_s
        self._clock = clock
        self._load: Load | None = None
        self._task: asyncio.Task[None] | None = None
        # Its token counters and KV cache usage at the last scrape that showed them.
        self._tokens: float | None = None
        self._kv: float | None = None
        self._told = False  # that its metrics show no load: once, until they do

    @classmethod
    def from_spec(cls, spec: VLLMSpec, resources: Resources) -> VLLMBackend:  # type: ignore[override]
        backend = cls(
            spec.name,
            spec.model,
            spec.base_url,
            resources.session,
            api_key(spec, resources.env),
            metrics_url=spec.metrics_url or spec.root() + "/metrics",
            health_url=spec.health_url or spec.root() + "/health",
            max_waiting=spec.max_waiting,
            max_kv_cache=spec.max_kv_cache,
            scrape_interval_s=spec.scrape_interval_s,
        )
        return backend.speaking_as(spec)

    def load(self) -> Load | None:
        load = self._load
        if load is None or self._clock() - load.at > self.stale_after_s:
            return None
        return load

    @property
    def queued(self) -> int:
        load = self.load()
        return int(load.waiting) if load else 0

    @property
    def progress_lag_s(self) -> float | None:
        # A working engine moves its counters between two scrapes at worst, each taking up to its
        # timeout: silence is judged that much later on what they say (dispatch/modes.py). Stale
        # metrics say nothing.
        if self._tokens is None or self.load() is None:
            return None
        return 1.5 * self.interval_s + (_SCRAPE_TIMEOUT.total or 0.0)

    @property
    def saturated(self) -> bool:
        load = self.load()
        if load is None:
            return False
        kv_full = load.kv_cache is not None and load.kv_cache >= self.max_kv_cache
        return load.waiting >= self.max_waiting or kv_full

    async def scrape(self) -> None:
        try:
            async with self._session.get(
                self.metrics_url, headers=self._headers, timeout=_SCRAPE_TIMEOUT
            ) as resp:
                if resp.status >= 400:
                    self._no_load(f"its metrics URL answered {resp.status}")
                    return
                text = await resp.text()
        except TRANSPORT_ERRORS:
            return  # stale soon: unknown load (a server down is the health checks' to tell)
        self._load = load = parse_metrics(text, self._clock(), self.metric_names)
        if load is None:
            waiting = [n for n, what in self.metric_names.items() if what in ("waiting", "running")]
            self._no_load(f"its metrics show none of {', '.join(waiting)}")
            return
        self._told = False
        if load.tokens is None:
            return
        moved = self._tokens is not None and load.tokens != self._tokens  # (or a restart: alive)
        if moved or (self._kv is not None and load.kv_cache is not None and load.kv_cache != self._kv):
            self.progressed_at = max(self.progressed_at, load.at)  # chunks read may be newer news
        self._tokens, self._kv = load.tokens, load.kv_cache

    def _no_load(self, why: str) -> None:
        # Unknown load is safe (never saturated, a plain answer waited for) but silently blind:
        # say so once, without the URL, which may hold credentials.
        if not self._told:
            self._told = True
            log.warning(
                "backend %s (%s): %s; its load is unknown until they do (%s)", self.name, self.kind, why,
                self.metrics_hint,
            )  # fmt: skip

    async def _scrape_loop(self) -> None:
        while True:
            await self.scrape()
            await asyncio.sleep(self.interval_s)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._scrape_loop(), name=f"scrape-{self.name}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def describe(self) -> dict[str, Any]:
        load = self.load()
        return {
            **super().describe(),
            "load": None
            if load is None
            else {"waiting": load.waiting, "running": load.running, "kv_cache": load.kv_cache},
        }
