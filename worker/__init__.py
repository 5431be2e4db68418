"""Celery app and thin tasks: `celery -A worker worker`, `celery -A worker beat`."""

from worker.app import app

__all__ = ["app"]
