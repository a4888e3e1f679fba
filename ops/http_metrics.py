"""Request latency and database metrics of the web process (prometheus-client).

Why our own middleware and not django-prometheus: the portal needs a handful of series
(latency per route, responses per status, queries and database time per request), while
django-prometheus swaps the database engine and cache backends for instrumented copies
and labels by view *and* method *and* more, multiplying series; prometheus-client is needed
anyway for the business collector. Routes are URL pattern names (bounded), never paths.

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (docs/OPERATIONS.md) so a
scrape adds up every worker's values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack

from django.db import connections
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram, disable_created_metrics

disable_created_metrics()  # no `_created` series: they double the output for no use here

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request, per route (URL pattern name) and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
RESPONSES = Counter(
    "portal_http_responses",
    "HTTP responses per route and status class (2xx, 3xx, 4xx, 5xx).",
    ["route", "status"],
)
DB_QUERIES = Counter(
    "portal_db_queries", "Database queries run while answering requests.", ["alias"]
)
DB_QUERY_SECONDS = Counter(
    "portal_db_query_seconds", "Time spent in database queries during requests.", ["alias"]
)
DB_ERRORS = Counter(
    "portal_db_query_errors", "Database queries that raised during requests.", ["alias"]
)
DB_QUERIES_PER_REQUEST = Histogram(
    "portal_db_queries_per_request",
    "Database queries per HTTP request.",
    buckets=(1, 2, 5, 10, 15, 25, 50, 100, 250),
)

# Not timed: the probes and the scrape itself would drown the real traffic.
UNTIMED_PREFIXES = ("/metrics", "/healthz/")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class _QueryMeter:
    """`connection.execute_wrapper` hook counting queries and their time for one alias."""

    def __init__(self, alias: str, tally: list[int]) -> None:
        self.alias = alias
        self.tally = tally

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        except Exception:
            DB_ERRORS.labels(self.alias).inc()
            raise
        finally:
            DB_QUERIES.labels(self.alias).inc()
            DB_QUERY_SECONDS.labels(self.alias).inc(time.perf_counter() - started)
            self.tally[0] += 1


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return match.view_name or match.route or "<unnamed>"


class RequestMetricsMiddleware:
    """Times every request and counts its queries (outermost, after the health shortcut)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(UNTIMED_PREFIXES):
            return self.get_response(request)
        started = time.perf_counter()
        tally = [0]
        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(_QueryMeter(alias, tally)))
            response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in _METHODS else "other"
        REQUEST_LATENCY.labels(route, method).observe(time.perf_counter() - started)
        RESPONSES.labels(route, f"{response.status_code // 100}xx").inc()
        DB_QUERIES_PER_REQUEST.observe(tally[0])
        return response
