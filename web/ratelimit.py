"""Rate limits per client address: a token bucket per (route, address) in Redis.

A bucket holds up to ``burst`` tokens and refills at ``per_minute``; each request takes
one, and a request that finds none is refused with 429 and Retry-After (RFC 6585 §4,
RFC 9110 §10.2.3). One Lua script reads and updates the bucket, so every web process
shares it atomically, on Redis's own clock (theirs need not agree); the key expires once
the bucket would be full again, so idle addresses cost nothing.

A limiter that cannot reach Redis in a moment lets the request through and says so in the
log, then leaves Redis alone for a few seconds: a broken limiter must never take the
subscribe form down, nor slow every request to its timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from fastapi import Request
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from config import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 0.25  # connect + answer; the request waits no longer than this for it
REST_SECONDS = 5.0  # after a failure, requests go through unchecked this long
KEY_PREFIX = "budkavle:rate:"

# KEYS[1] the bucket; ARGV: tokens per second, burst. Returns {1, 0} when the request may
# go ahead, else {0, seconds until a token is there} (as a string: Lua numbers would be
# truncated to integers on the way out).
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1]) or burst
local at = tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1)
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True)
class Rule:
    per_minute: float  # 0: no limit
    burst: int


def rules(settings: Settings) -> dict[str, Rule]:
    return {
        "subscribe": Rule(settings.subscribe_rate_per_minute, settings.subscribe_burst),
        "websub": Rule(settings.websub_rate_per_minute, settings.websub_burst),
        "partner_pull": Rule(settings.partner_pull_rate_per_minute, settings.partner_pull_burst),
        # Desk sign-ins: per client address, and per account named (whatever the address).
        "desk_login": Rule(settings.desk_login_rate_per_minute, settings.desk_login_burst),
        "desk_login_account": Rule(settings.desk_login_rate_per_minute, settings.desk_login_burst),
        # Test sends of the next edition, per desk user (whatever their address).
        "desk_test_send": Rule(
            settings.desk_test_send_rate_per_minute, settings.desk_test_send_burst
        ),
    }


class RateLimiter:
    def __init__(self, redis_url: str, rules: dict[str, Rule]) -> None:
        self.rules = rules
        self._redis = aioredis.Redis.from_url(
            redis_url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),  # one try: a retry would double the wait
        )
        self._bucket = self._redis.register_script(BUCKET_SCRIPT)
        self._resting_until = 0.0

    async def wait(self, route: str, client: str) -> float:
        """0 when ``client`` may go ahead on ``route``, else the seconds until it may."""
        rule = self.rules[route]
        if rule.per_minute <= 0 or time.monotonic() < self._resting_until:
            return 0.0
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS * 2):
                allowed, wait = await self._bucket(
                    keys=[f"{KEY_PREFIX}{route}:{client}"],
                    args=[rule.per_minute / 60, rule.burst],
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self._resting_until = time.monotonic() + REST_SECONDS
            log.warning(
                "rate limit of %s not checked, the request goes through: Redis: %r; "
                "not trying again for %s s", route, exc, REST_SECONDS,
            )  # fmt: skip
            return 0.0
        return 0.0 if allowed else float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


def retry_after(wait: float) -> str:
    """Retry-After in whole seconds (RFC 9110 §10.2.3), never 0 for a refusal."""
    return str(max(1, math.ceil(wait)))


def client_key(request: Request) -> str:
    """The client's address: the socket's peer, or what a trusted proxy said it was
    (web/app.py installs uvicorn's ProxyHeadersMiddleware for BUDKAVLE_TRUSTED_PROXIES).
    An IPv6 client is its /64: one host commonly holds all of one (RFC 6177)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


async def check(request: Request, route: str) -> float:
    """Seconds the client must wait before ``route`` takes its request; 0: go ahead."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return await limiter.wait(route, client_key(request))


class RateLimited(Exception):
    """Raised by a dependency; web/errors.py answers 429 in the API's JSON shape."""

    def __init__(self, route: str, rule: Rule, wait: float) -> None:
        super().__init__(route)
        self.rule = rule
        self.wait = wait


def limited(route: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency that refuses a client over ``route``'s limit."""

    async def dependency(request: Request) -> None:
        wait = await check(request, route)
        if wait:
            limiter: RateLimiter = request.app.state.rate_limiter
            raise RateLimited(route, limiter.rules[route], wait)

    return dependency
