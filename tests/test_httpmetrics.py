"""The lock-free HTTP metrics: each thread tallies alone, a scrape adds them up exactly."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from web.httpmetrics import BUCKETS, HttpMetrics


def scrape(metrics: HttpMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as Prometheus would read it, from the text exposition."""
    registry = CollectorRegistry()
    registry.register(metrics)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


FEEDS = (("area", "feeds"), ("method", "GET"), ("status", "304"))


def test_threads_tally_apart_and_a_scrape_adds_them_up() -> None:
    metrics = HttpMetrics()
    start = threading.Barrier(5)

    def serve() -> None:
        start.wait()
        for n in range(5000):
            metrics.observe("feeds", "GET", 304, 0.0004)
            metrics.observe("api", "POST", 201, 0.03)
            if n % 1000 == 0:  # a new series now and then, while scrapes copy the dicts
                metrics.observe(f"area{n}", "GET", 200, 0.001)

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for thread in threads:
        thread.start()
    start.wait()
    seen = [0.0]
    while any(thread.is_alive() for thread in threads):  # scrapes while they count
        seen.append(scrape(metrics).get(("budkavle_http_requests_total", FEEDS), 0.0))
    for thread in threads:
        thread.join()

    samples = scrape(metrics)
    assert seen == sorted(seen), "a counter went back"
    api = (("area", "api"), ("method", "POST"), ("status", "201"))
    assert samples["budkavle_http_requests_total", FEEDS] == 20000
    assert samples["budkavle_http_requests_total", api] == 20000
    assert samples["budkavle_http_request_seconds_count", (("area", "api"),)] == 20000
    assert abs(samples["budkavle_http_request_seconds_sum", (("area", "api"),)] - 600) < 1e-6


def test_buckets_count_up_to_and_including_their_bound() -> None:
    metrics = HttpMetrics()
    for seconds in (0.0005, 0.001, 0.0011, 0.05, 3.0):
        metrics.observe("pages", "GET", 200, seconds)
    samples = scrape(metrics)

    def bucket(le: str) -> float:
        return samples["budkavle_http_request_seconds_bucket", (("area", "pages"), ("le", le))]

    assert bucket("0.001") == 2  # "le": 0.001 itself is in
    assert bucket("0.0025") == 3
    assert bucket("0.05") == 4
    assert bucket(str(BUCKETS[-1])) == 4
    count = samples["budkavle_http_request_seconds_count", (("area", "pages"),)]
    assert bucket("+Inf") == count == 5


def test_declared_series_show_at_zero_before_any_request() -> None:
    metrics = HttpMetrics()
    metrics.declare("feeds", ("GET", "HEAD"), (200, 304))
    samples = scrape(metrics)
    assert samples["budkavle_http_requests_total", FEEDS] == 0
    assert samples["budkavle_http_request_seconds_count", (("area", "feeds"),)] == 0
    metrics.observe("feeds", "GET", 304, 0.0001)
    assert scrape(metrics)["budkavle_http_requests_total", FEEDS] == 1
