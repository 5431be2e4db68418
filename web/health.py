"""Health for load balancers and orchestrators, and metrics for Prometheus."""

from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from web import readiness
from web.metrics import StateCollector

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "A check failed; the body names it and why."}}
)
def readyz(response: Response) -> dict[str, str]:
    """Safe to send traffic here, and the work behind it is moving: see web/readiness.py."""
    checks = readiness.run()
    ready = all(value == "ok" for value in checks.values())
    response.status_code = 200 if ready else 503
    return {"status": "ok" if ready else "unavailable", **checks}


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


_collector = StateCollector()


def register_collector() -> None:
    with suppress(ValueError):  # already registered by an earlier app in this process
        REGISTRY.register(_collector)
