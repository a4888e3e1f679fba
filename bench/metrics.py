"""A Prometheus scrape of /metrics on the national data set: every business metric computed
from the database at scrape time.

Target (issue 20): under 200 ms for a scrape with 100,000 certificates. Timed: the whole
view (token check, the process's request metrics, the business collector's queries, the
text exposition) through Django's test client in this process, DEBUG off, after one
warm-up scrape (a long-running gunicorn worker has its connection and statements warm).
The reference is the business collector alone, so the exposition's share shows; the query
count of one scrape is reported (a test guards it). `/healthz/ready` (database, migrations,
broker, keys) is timed too: a probe must take a few milliseconds.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.metrics [--quick]

Data: `seed_scale` (bench/common.ensure_scale_data: 10 editors, 20,000 officines,
100,000 certificates; `--quick`: 1,600 certificates), seeded when absent.
"""

from __future__ import annotations

import argparse
import time

from bench import common

TARGET_MS = 200.0
REPEAT = {True: 5, False: 30}
TOKEN = "bench-metrics-token-0123456789"  # noqa: S105 (a throwaway bench setting)


def run(quick: bool) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from prometheus_client.parser import text_string_to_metric_families

    from ops.collectors import BusinessCollector

    data = common.ensure_scale_data(quick, log=lambda message: print(message, flush=True))
    common.analyze(
        vacuum=True
    )  # steady state: the visibility map lets index-only scans skip the heap
    client = Client(HTTP_HOST="localhost")
    rows: list[dict] = []
    with override_settings(METRICS_TOKEN=TOKEN, DEBUG=False, METRICS_ALLOWED_NETWORKS=[]):

        def scrape() -> bytes:
            response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
            if response.status_code != 200:
                raise RuntimeError(f"/metrics answered {response.status_code}")
            return response.content

        body = scrape()  # warm-up
        series = sum(len(f.samples) for f in text_string_to_metric_families(body.decode()))
        queries: list[str] = []  # not CaptureQueriesContext: request_started resets its log

        def count(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            scrape()
        scrape_ms = []
        for _ in range(REPEAT[quick]):
            started = time.perf_counter()
            scrape()
            scrape_ms.append((time.perf_counter() - started) * 1000)
        collector = BusinessCollector()
        collect_ms = []
        for _ in range(REPEAT[quick]):
            started = time.perf_counter()
            list(collector.collect())
            collect_ms.append((time.perf_counter() - started) * 1000)
    ready_ms = []
    for path in ("/healthz/ready", "/healthz/live") * (REPEAT[quick] + 1):
        started = time.perf_counter()
        status = client.get(path).status_code
        if path.endswith("ready"):
            ready_ms.append((time.perf_counter() - started) * 1000)
        if status not in (200, 503):
            raise RuntimeError(f"{path} answered {status}")
    ready_ms = ready_ms[1:]  # the first reads the migration graph (once per process)
    collect = common.median(collect_ms)
    rows += [
        common.row("metrics.scrape.median", common.median(scrape_ms), "ms", TARGET_MS, collect),
        common.row(
            "metrics.scrape.p95", common.percentile(scrape_ms, 0.95), "ms", TARGET_MS, collect
        ),
        common.row("metrics.business_collect.median", collect, "ms", TARGET_MS),
        common.row("metrics.scrape.queries", len(queries), "queries", 25),
        common.row("metrics.healthz_ready.median", common.median(ready_ms), "ms", 10),
        common.row("metrics.scrape.series", series, "series", None, f"{data.editors} editors"),
        common.row(
            "metrics.scrape.bytes", len(body), "bytes", None, f"{data.certificates} certificates"
        ),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    common.setup_django()
    common.check_migrated()
    for row in run(args.quick):
        print(row)


if __name__ == "__main__":
    main()
