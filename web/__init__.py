"""FastAPI: the admin API, feed serving, pages, health and metrics."""
