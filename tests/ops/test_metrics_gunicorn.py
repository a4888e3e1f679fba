"""Under gunicorn with several workers, /metrics adds up every worker's request counters
(gunicorn.conf.py gives them one PROMETHEUS_MULTIPROC_DIR): whichever worker answers the
scrape, the count is every request served."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench import common

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOKEN = "gunicorn-metrics-token-0123456789"


def login_responses(client: common.HttpClient) -> float:
    status, _ms, body = client.request(
        "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, body[:200]
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "portal_http_responses_total" and sample.labels == {
                "route": "account_login",
                "status": "2xx",
            }:
                return sample.value
    return 0.0


def test_scrapes_sum_every_worker(monkeypatch, tmp_path):
    if not common.server_shareable():
        pytest.skip("needs a database a gunicorn process can open (PostgreSQL)")
    monkeypatch.setenv("DATABASE_URL", common.database_url())
    env = {"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    with common.Gunicorn(workers=2, static=True, env=env) as server:
        requests = 24

        def one_login_page(_) -> int:
            client = common.HttpClient("127.0.0.1", server.port)
            try:
                return client.get("/accounts/login/")[0]
            finally:
                client.close()

        # Concurrent connections: while one sync worker is busy the other accepts, so both
        # answer some (one after the other, a single worker may take them all).
        with ThreadPoolExecutor(max_workers=6) as pool:
            assert set(pool.map(one_login_page, range(requests))) == {200}
        seen = set()
        for _ in range(6):
            client = common.HttpClient("127.0.0.1", server.port)
            seen.add(login_responses(client))
            client.close()
        assert seen == {float(requests)}, seen
        assert len(list((tmp_path / "prometheus").glob("counter_*.db"))) == 2
