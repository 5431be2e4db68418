"""The web application: admin API, feeds, pages, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from config import Settings, logs, settings_or_exit
from feeds.store import CHANGES_CHANNEL
from web import (
    articles,
    assets,
    bouncehooks,
    desk,
    docs,
    embed,
    errors,
    files,
    health,
    newsletter,
    pages,
    partners,
    subscribe,
    subscribers,
    topics,
    websub,
)
from web.feedcache import ChangeListener
from web.feeds import make_loader, serve_feed
from web.front import Front
from web.middleware import BodyLimit, Metrics
from web.ratelimit import RateLimiter, rules
from web.security import SecurityHeaders

LISTENER_START_SECONDS = 5.0


def create_app(settings: Settings | None = None) -> Front:
    """What uvicorn runs (``uvicorn web.app:create_app --factory``); ``.app`` is FastAPI."""
    settings = settings or settings_or_exit()  # one line, not a traceback, if one is bad
    logs.configure(settings.log_level, settings.log_format)
    cache = make_loader(settings)
    limiter = RateLimiter(settings.redis_client_url, rules(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        listener = ChangeListener(
            cache, settings.redis_client_url, CHANGES_CHANNEL, settings.redis_timeout_seconds
        )
        listener.start()
        # Serve once changes are followed: a cache filled before would be emptied under the
        # first requests. Redis down: serve anyway (from the database) after a moment.
        await asyncio.to_thread(listener.following.wait, LISTENER_START_SECONDS)
        try:
            yield
        finally:
            listener.stop()
            await limiter.close()

    app = FastAPI(
        title=f"{settings.site_name} API",
        summary="Publish once; feeds, digests and partners follow.",
        version="1",
        lifespan=lifespan,
        # web/docs.py serves /docs from the app's own files (no CDN); ReDoc is not served.
        docs_url=None,
        redoc_url=None,
    )
    app.state.feed_cache = cache
    app.state.rate_limiter = limiter
    errors.install(app)
    app.include_router(articles.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.include_router(topics.router)
    app.include_router(assets.router)
    app.include_router(subscribe.router)
    app.include_router(embed.router)
    app.include_router(files.router)
    app.include_router(docs.router)
    app.include_router(newsletter.router)
    app.include_router(websub.router)
    app.include_router(partners.admin)
    app.include_router(partners.pull)
    app.include_router(subscribers.admin)
    app.include_router(bouncehooks.router)
    desk.install(app)
    app.add_route("/feeds/{path:path}", serve_feed, methods=["GET", "HEAD"])
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(Metrics)
    # Outside BodyLimit and Metrics: their own answers (413) get the headers too.
    app.add_middleware(SecurityHeaders, settings=settings)
    if settings.proxy_networks:
        # The client is who the trusted proxies say it was (the rightmost untrusted address
        # in X-Forwarded-For); without them, the socket's peer, whatever a header claims.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_networks)
    health.register_collector()
    # Feed cache hits are answered in front of all of the above (web/front.py); the
    # ChangeListener empties this one cache for both ways in.
    return Front(app, cache)
