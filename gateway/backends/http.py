"""The shared upstream HTTP client: httpx's API over aiohttp's connection pool.

httpx's own pool (httpcore) collapses with many slow requests in flight (~120 req/s at 64 concurrent
50 ms calls on this machine class); the aiohttp transport holds. loadtests/bench_upstream.py measures it.
"""

from __future__ import annotations

import logging

import httpx
from httpx_aiohttp import HttpxAiohttpClient

__all__ = ["make_client"]


def make_client(
    *, max_connections: int, connect_timeout_s: float, read_timeout_s: float
) -> httpx.AsyncClient:
    # One log line per upstream request costs real CPU, and URLs are not worth it at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    # read = the longest silence between two bytes (time to first token, then between chunks);
    # pool = waiting for a free connection.
    timeout = httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=30.0)
    client: httpx.AsyncClient = HttpxAiohttpClient(limits=limits, timeout=timeout, follow_redirects=False)
    return client
