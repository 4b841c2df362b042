"""The shared upstream HTTP client: one aiohttp session and connection pool per process.

Why aiohttp and not httpx (loadtests/RESULTS.md has the numbers, from loadtests/bench_overhead.py):
httpx's own pool (httpcore) collapses with many slow requests in flight (~0.1x the floor's req/s at
c=64 with a 50 ms upstream), and httpx over the aiohttp transport holds but spends twice the floor's
CPU per request on building httpx objects. aiohttp stays inside backends/; nothing else sees it.
"""

from __future__ import annotations

import aiohttp

__all__ = ["TRANSPORT_ERRORS", "Session", "make_session", "reachable"]

# What the process holds on to and closes; named here so that nothing outside backends/ imports aiohttp.
Session = aiohttp.ClientSession
# What the HTTP client may raise for a failed exchange (not a status): translated, never leaked.
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
_HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=2.0)


def make_session(
    *, max_connections: int, connect_timeout_s: float, read_timeout_s: float
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, ttl_dns_cache=300)
    # sock_read = the longest silence between two reads (time to first token, then between chunks).
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s)
    # Bodies are passed through without their content-encoding header, so they must be plain: ask
    # upstreams not to compress (loopback and LAN gain nothing), and decode if one does anyway.
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        headers={"accept-encoding": "identity"},
    )


async def reachable(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> bool:
    """A health probe: does `url` answer a GET below 400 within 2 s?"""
    try:
        async with session.get(url, headers=headers, timeout=_HEALTH_TIMEOUT) as resp:
            return resp.status < 400
    except TRANSPORT_ERRORS:
        return False
