"""Web pages of the 10,000-officine editor, served by gunicorn, timed from this process.

Targets (issue): dashboard median under 150 ms with at most 15 SQL queries whatever the
size; officine list (search + filters page 1, and page 200) median under 100 ms; a worker
under 300 MB RSS. Reference: `/healthz/auth`, the cheapest authenticated page of the same
server, measured in the same run (ratio = page median / reference median).

How: the seeded data set (bench.common.ensure_scale_data: seed_scale, seeded when absent),
`gunicorn portal.wsgi -w 2` with DEBUG off on the same database, one real login (password
then TOTP) of the big editor's viewer, then sequential GETs on one keep-alive connection
(loopback). SQL queries per page are counted in-process (test Client +
CaptureQueriesContext) on the same data. Peak RSS (VmHWM) of the gunicorn workers is read
from /proc before stopping them.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python -m bench.pages [--quick]

With an in-memory SQLite database (pytest without PostgreSQL) no server can share the data:
pages are then timed in-process through the WSGI handler, and the reference says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DASHBOARD_MS = 150
DASHBOARD_QUERIES = 15
LIST_MS = 100
RSS_MB = 300
SEARCH = "q=gare&department=69&delegation_mode=editeur&is_active=yes"
COVERAGE_FILTER = "coverage_service=DMP&coverage_state=expiring"


def pages(data: common.ScaleData) -> list[tuple[str, str, float | None, float | None]]:
    """(name, path, target ms, target queries); page 200 is the last page on small data."""
    last = max(1, min(200, -(-data.big_officines // 50)))
    return [
        ("healthz_auth", "/healthz/auth", None, None),
        ("dashboard", "/dashboard/", DASHBOARD_MS, DASHBOARD_QUERIES),
        ("officines_search", f"/officines/?{SEARCH}", LIST_MS, None),
        (f"officines_page{last}", f"/officines/?page={last}", LIST_MS, None),
        ("officines_coverage_filter", f"/officines/?{COVERAGE_FILTER}", LIST_MS, None),
    ]


def _warm_client(user: Any, path: str) -> Any:
    """An in-process test client logged in as `user` (MFA done), after one warm-up GET."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    session = client.session
    session["mfa_enrolled"] = True
    session.save()
    client.get(path)
    return client


def count_queries(user: Any, path: str) -> tuple[int, int]:
    """(SQL queries, status) of one GET in-process, after a warm-up GET of the same page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _warm_client(user, path)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    return len(captured), response.status_code


def _in_process_latencies(user: Any, path: str, count: int) -> list[float]:
    import time

    client = _warm_client(user, path)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
    return latencies


def measure(quick: bool) -> list[dict]:
    common.setup_django()
    from django.db import connection

    from portal.models import User

    data = common.ensure_scale_data(quick)
    # Other benchmarks churn 100,000 rows, and this server may run with autovacuum off.
    common.analyze(vacuum=True)
    user = User.objects.get(email=data.emails["viewer"])
    count = 8 if quick else 60
    targets = pages(data)
    latencies: dict[str, list[float]] = {}
    rss = None
    if common.server_shareable():
        where = f"gunicorn -w 2, {connection.vendor}"
        with common.Gunicorn(workers=2) as server:
            client = common.HttpClient("127.0.0.1", server.port)
            common.login(client, data.emails["viewer"], data.password, data.totp_secret)
            for name, path, _ms, _q in targets:
                latencies[name] = common.time_requests(
                    client, path, count, warmup=2 if quick else 5
                )
            client.close()
            rss = server.workers_peak_rss_mb()
    else:
        where = f"in-process WSGI, {connection.vendor} in memory"
        for name, path, _ms, _q in targets:
            latencies[name] = _in_process_latencies(user, path, count)
    reference_ms = common.median(latencies["healthz_auth"])
    reference_queries, _status = count_queries(user, "/healthz/auth")
    size = f"{data.big_officines} officines"
    rows = []
    for name, path, target_ms, target_queries in targets:
        values = latencies[name]
        queries, status = count_queries(user, path)
        if status != 200:
            raise RuntimeError(f"GET {path} in-process: HTTP {status}")
        if name == "healthz_auth":
            rows.append(common.row("pages.healthz_auth.median", reference_ms, "ms", None, where))
            continue
        rows.append(
            common.row(f"pages.{name}.median", common.median(values), "ms", target_ms, reference_ms)
        )
        rows.append(
            common.row(
                f"pages.{name}.p95", common.percentile(values, 0.95), "ms", None, reference_ms
            )
        )
        rows.append(
            common.row(
                f"pages.{name}.queries",
                queries,
                "queries",
                target_queries,
                reference_queries,
                digits=0,
            )
        )
    if rss is not None:
        rows.append(common.row("pages.worker_rss_peak", rss, "MB", RSS_MB, size, digits=1))
    return rows


def run(quick: bool) -> list[dict]:
    """Entry point for bench/run: the quick data set (400 officines) or the full one."""
    return measure(quick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data set")
    args = parser.parse_args()
    for r in run(args.quick):
        print(
            f"{r['name']:<40} {r['value']:>10} {r['unit']:<8} target {r['target']} "
            f"reference {r['reference']} ratio {r['ratio']}"
        )


if __name__ == "__main__":
    main()
