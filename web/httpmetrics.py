"""The HTTP metrics, budkavle_http_requests_total and budkavle_http_request_seconds,
counted without a lock per request.

prometheus_client's Counter and Histogram take a mutex on every change: three per request,
half of what web/front.py spends on a feed cache hit (bench/RESULTS.md, session 4). Here
each thread counts into tallies of its own, which no other thread writes: an event loop's
thread, usually, one per web process. A scrape reads copies of them all and adds them up;
CPython (with its GIL, as 3.11 has) copies a dict or list in one step, so a scrape never
sees half a change. Unlike prometheus_client's own, these series carry no ``_created``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class _Tally:
    """One thread's counts, only ever written by that thread."""

    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)  # area, method, status
    # Per area: how many took at most each bound of BUCKETS and above the last (not
    # cumulative), and the seconds they took in all.
    buckets: dict[str, list[int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class HttpMetrics(Collector):
    def __init__(self) -> None:
        self._local = threading.local()
        self._tallies: list[_Tally] = []
        self._lock = threading.Lock()  # taken once per thread, to add its tally

    def declare(self, area: str, methods: tuple[str, ...], statuses: tuple[int, ...]) -> None:
        """Show these series from the start, at zero: rate() then sees their first request."""
        tally = self._tally()
        for method in methods:
            for status in statuses:
                tally.requests.setdefault((area, method, status), 0)
        tally.buckets.setdefault(area, [0] * (len(BUCKETS) + 1))

    def observe(self, area: str, method: str, status: int, seconds: float) -> None:
        """One request answered: its area of the service, method, status and duration."""
        tally = self._tally()
        key = (area, method, status)
        tally.requests[key] = tally.requests.get(key, 0) + 1
        buckets = tally.buckets.get(area)
        if buckets is None:
            buckets = tally.buckets[area] = [0] * (len(BUCKETS) + 1)
        buckets[bisect_left(BUCKETS, seconds)] += 1  # le: the first bound >= seconds
        tally.seconds[area] = tally.seconds.get(area, 0.0) + seconds

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            tallies = list(self._tallies)
        requests: dict[tuple[str, str, int], int] = {}
        buckets: dict[str, list[int]] = {}
        seconds: dict[str, float] = {}
        for tally in tallies:
            for key, count in tally.requests.copy().items():
                requests[key] = requests.get(key, 0) + count
            for area, counts in tally.buckets.copy().items():
                total = buckets.setdefault(area, [0] * (len(BUCKETS) + 1))
                for i, count in enumerate(counts[:]):
                    total[i] += count
            for area, spent in tally.seconds.copy().items():
                seconds[area] = seconds.get(area, 0.0) + spent
        counter = CounterMetricFamily(
            "budkavle_http_requests", "HTTP requests served", labels=["area", "method", "status"]
        )
        for (area, method, status), count in sorted(requests.items()):
            counter.add_metric([area, method, str(status)], count)
        yield counter
        histogram = HistogramMetricFamily(
            "budkavle_http_request_seconds", "Time to answer an HTTP request", labels=["area"]
        )
        for area, counts in sorted(buckets.items()):
            cumulative, running = [], 0
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            histogram.add_metric([area], cumulative, sum_value=seconds.get(area, 0.0))
        yield histogram

    def _tally(self) -> _Tally:
        tally: _Tally | None = getattr(self._local, "tally", None)
        if tally is None:
            tally = self._local.tally = _Tally()
            with self._lock:
                self._tallies.append(tally)
        return tally


HTTP = HttpMetrics()
REGISTRY.register(HTTP)
