"""Who the client is, and the password checks' turns (the counting of wrong passwords is
renewals.org.sign_in).

The client: the connecting address, unless that is a configured proxy (FORWARDED_ALLOW_IPS). Then
X-Forwarded-For is read from the right, where each proxy appends the address it was reached from,
past the configured proxies; the first address that is not one is the client. Whatever a client
writes into the header itself stands left of that and is never used. IPv6 clients are counted by
their /64 (one subscriber's network), so nobody rotates through their own addresses.

Turns: Argon2 is deliberately slow. A process checks at most RUNNING passwords at once, on worker
threads (the event loop never hashes). Waiting checks take turns by client, so a flood from one
client delays another client's sign-in by about one check, not by the whole flood; beyond WAITING
waiting checks a sign-in is refused at once (503, Retry-After) rather than queued for long.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.requests import Request

from api.errors import ApiError
from renewals.core.settings import Settings

RUNNING = 2
WAITING = 16
IPV6_CLIENT_PREFIX = 64


def client_address(request: Request, settings: Settings) -> str:
    """Who the request comes from, as the throttle counts it (see the module's docstring)."""
    peer = request.client.host if request.client else "unknown"
    proxies = settings.trusted_proxies
    if not _is_proxy(peer, proxies):
        return _counted_as(peer)
    forwarded = [entry.strip() for header in request.headers.getlist("x-forwarded-for")
                 for entry in header.split(",") if entry.strip()]
    for entry in reversed(forwarded):
        if not _is_proxy(entry, proxies):
            return _counted_as(entry)
    return _counted_as(forwarded[0] if forwarded else peer)  # a proxy's own request


def _ip(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from a header entry, with or without a port (`1.2.3.4:5`, `[::1]:5`)."""
    if entry.startswith("["):
        host = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        host = entry.partition(":")[0]
    else:
        host = entry
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _is_proxy(entry: str, proxies: tuple) -> bool:
    ip = _ip(entry)
    return ip is not None and any(ip in network for network in proxies)


def _counted_as(entry: str) -> str:
    ip = _ip(entry)
    if ip is None:
        return entry[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


class SignInBusy(ApiError):
    def __init__(self) -> None:
        super().__init__(503, "too many sign-ins at once: try again in a second", headers={"Retry-After": "1"})


class SignInTurns:
    """The password checks of one process: `running` at once, at most `waiting` waiting, and the
    waiting ones served in turn by client (round robin; each client's own in order)."""

    def __init__(self, running: int = RUNNING, waiting: int = WAITING):
        self.running, self.waiting = running, waiting
        self._free = running
        self._queued = 0
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}  # in turn order

    @asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        if self._free and not self._queues:
            self._free -= 1
        else:
            if self._queued >= self.waiting:
                raise SignInBusy()
            given: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queues.setdefault(client, deque()).append(given)
            self._queued += 1
            try:
                await given
            except asyncio.CancelledError:
                if given.cancelled():
                    self._leave(client, given)
                else:  # given a turn just as the request went away: pass it on
                    self._pass_on()
                raise
        try:
            yield
        finally:
            self._pass_on()

    def _leave(self, client: str, given: asyncio.Future[None]) -> None:
        queue = self._queues.get(client)
        if queue and given in queue:
            queue.remove(given)
            self._queued -= 1
            if not queue:
                del self._queues[client]

    def _pass_on(self) -> None:
        """A turn ends: the oldest check of the next client in turn gets it; that client goes last."""
        while self._queues:
            client = next(iter(self._queues))
            queue = self._queues.pop(client)
            given = queue.popleft()
            self._queued -= 1
            if queue:
                self._queues[client] = queue
            if not given.done():
                given.set_result(None)
                return
        self._free += 1
