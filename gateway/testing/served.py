"""An aiohttp application served on 127.0.0.1 for tests: in the caller's loop (`start`) or in a thread
with a loop of its own (`start_in_thread`: tests drive the gateway with blocking clients too), and
able to stop listening and listen again on the same port (`refuse`, `accept`: a crashed or
restarting server). The fake upstream is one (testing/fake_upstream.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

__all__ = ["Served"]


class Served:
    def __init__(self, name: str) -> None:
        self.name = name  # its thread's
        self.port = 0
        self._site: web.TCPSite | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        # A scripted hang must not hold the shutdown for aiohttp's default minute.
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.port

    def _in_loop(self, coro: Any) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def refuse(self) -> None:
        """Stop listening: new connections are refused (a crashed or restarting server)."""

        async def stop() -> None:
            if self._site is not None:
                await self._site.stop()
                self._site = None
            # Open keep-alive connections die too, as they would with the process.
            server = self._runner.server if self._runner is not None else None
            for proto in list(getattr(server, "connections", [])):
                transport = getattr(proto, "transport", None)
                if transport is not None:
                    transport.close()

        self._in_loop(stop())

    def accept(self) -> None:
        async def start() -> None:
            assert self._runner is not None
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await self._site.start()

        self._in_loop(start())

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _shutdown(self) -> None:
        await self.stop()
        # Handlers still scripted to hang would be destroyed pending: cancel them properly.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def start_in_thread(self) -> int:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.port

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
