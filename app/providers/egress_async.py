"""The egress guard for async HTTP clients (the MCP SDK speaks httpx2's AsyncClient).

`GuardedAsyncBackend` puts the synchronous guard's `GuardedBackend.vet` in front of every TCP connection an
async client opens: the host is resolved once, refused unless every address is public or allow-listed, and the
connection goes to the vetted address (TLS still verifies the original host name, which httpcore takes from the
request URL). Nothing is re-implemented here: the policy, the resolver and the refusal messages are the sync
guard's. Proxy variables from the environment are ignored. Imports nothing from `app.engine`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore2
import httpx2

from app.providers.egress import EgressRefused, GuardedBackend


class GuardedAsyncBackend(httpcore2.AsyncNetworkBackend):
    """Vets (off the loop: resolution blocks) then connects to the first reachable vetted address."""

    def __init__(self, guard: GuardedBackend) -> None:
        self.guard = guard
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        # The loop's default executor, not anyio's worker threads: `asyncio.run`/`anyio.run` join it on exit,
        # so a private loop per call leaves no thread behind.
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(None, self.guard.vet, host, port, timeout)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not reachable through the egress guard")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class GuardedAsyncTransport(httpx2.AsyncHTTPTransport):
    """httpx2's async transport with its pool rebuilt on the guarded backend (as `GuardedTransport` does)."""

    def __init__(self, guard: GuardedBackend, verify: bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore2.AsyncConnectionPool(ssl_context=self._pool._ssl_context,
                                                   network_backend=GuardedAsyncBackend(guard),
                                                   max_connections=10, max_keepalive_connections=5)


def guarded_async_client(guard: GuardedBackend, headers: dict[str, str] | None = None,
                         timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None) -> httpx2.AsyncClient:
    """An AsyncClient whose every connection passes the guard. The caller closes it (`async with`)."""
    return httpx2.AsyncClient(transport=GuardedAsyncTransport(guard), headers=headers, auth=auth,
                              timeout=timeout or httpx2.Timeout(30.0), trust_env=False, follow_redirects=False)
