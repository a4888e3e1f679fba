"""Outages of the services the portal depends on: the broker (Redis) and the database.

* Redis down (broker and cache on the same Redis, as in docker-compose): logins, pages and
  API calls still succeed (rate limits count per process); the work waits in the PostgreSQL outbox,
  the user sees it queued, and `outbox.drain()` hands it to a real worker once Redis is back.
* PostgreSQL unreachable or restarted: a clean 503 (HTML page, or problem JSON under /api/),
  never a 500 nor a traceback; the running server recovers by itself afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client

from bench.common import free_port
from certificates.models import CertificateRequest, RequestStatus
from portal import outbox
from portal.api.keys import api_key_create
from portal.models import OutboxMessage
from tests.factories import OfficineFactory
from tests.helpers.tenants import logged_in
from tests.helpers.tools import requires_postgres
from tests.helpers.workers import ROOT, child_env, point_celery_to, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), requires_postgres]

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once
REQUESTS = "/api/v1/certificate-requests/"
TRACEBACK_MARKERS = ("Traceback", 'File "', "OperationalError", "psycopg", "django.db")


def api_key(tenant, scopes=("read", "write")) -> str:
    return api_key_create(
        editor=tenant.editor, name="fiabilite", scopes=list(scopes), actor=tenant.admin
    )[1]


# --------------------------------------------------------------------------- Redis down


def test_redis_down_pages_and_api_answer_then_the_outbox_catches_up(
    tenant_a, celery_on_redis, worker_factory, settings
):
    import redis
    from django.core.cache import cache

    from portal.settings import cache_config
    from tests.factories import PASSWORD

    wizard_officine = tenant_a.officine
    api_officine = OfficineFactory(
        editor=tenant_a.editor, technical_administrator=tenant_a.administrator
    )
    web = logged_in(tenant_a.operator)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key(tenant_a)}")

    point_celery_to(DEAD_BROKER, eager=False)
    settings.CACHES = {"default": cache_config(DEAD_BROKER.replace("/0", "/1"))}
    outbox._broker_down_until = 0.0
    started = time.monotonic()
    # A password login reads the login rate limits from the (dead) cache.
    login = Client().post(
        "/accounts/login/", {"login": tenant_a.viewer.email, "password": PASSWORD}
    )
    assert login.status_code == 302, login.content[:2000]
    # The web wizard, last step: a server-mode request (the key is made by a worker).
    created = web.post(
        "/certificates/requests/new/",
        {
            "step": "review",
            "action": "create",
            "officine": wizard_officine.pk,
            "service": "INSI",
            "common_name": "INSI-AUTO",
            "key_mode": "server",
            "requester_email": "admin-tech@lgo.example",
            "contact_email": "",
        },
    )
    assert created.status_code == 302, created.content[:2000]
    by_web = CertificateRequest.objects.get(officine=wizard_officine)
    assert created["Location"] == by_web.get_absolute_url()
    # The API: 202 Accepted, to be polled.
    response = api.post(
        REQUESTS,
        {
            "finess": api_officine.finess,
            "profile": "ORG_AUTH_CLI",
            "services": ["PSC"],
            "common_name": "LGO",
            "key_mode": "server",
            "requester_email": "admin-tech@lgo.example",
        },
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    by_api = CertificateRequest.objects.get(officine=api_officine)
    assert time.monotonic() - started < 10  # a dead broker fails fast, it does not hang

    # Nothing lost: both generations wait in the outbox (PostgreSQL), not in Redis.
    pending = OutboxMessage.objects.filter(sent_at__isnull=True).order_by("id")
    assert [(m.task, m.kwargs) for m in pending] == [
        ("certificates.tasks.generate_csr", {"request_id": by_web.pk}),
        ("certificates.tasks.generate_csr", {"request_id": by_api.pk}),
    ]
    assert pending[0].attempts == 1 and pending[0].last_error
    # What the user sees: still pending, and said to be queued.
    page = web.get(by_web.get_absolute_url())
    assert page.status_code == 200
    body = page.content.decode()
    assert 'class="badge pending"' in body and 'id="request-queued"' in body
    polled = api.get(response["Location"]).json()
    assert (polled["status"], polled["progress"], polled["csr_pem"]) == ("pending", 0, "")
    assert web.get("/certificates/requests/").status_code == 200
    assert api.get(REQUESTS).status_code == 200

    # Redis is back: the beat's drain publishes both, a real worker generates the keys.
    point_celery_to(celery_on_redis, eager=False)
    assert outbox.drain() == 2
    assert outbox.pending_count() == 0
    assert redis.Redis.from_url(celery_on_redis).llen("celery") == 2
    worker = worker_factory()
    worker.start()
    wait_for(
        lambda: CertificateRequest.objects.filter(status=RequestStatus.CSR_READY).count() == 2,
        timeout=45,
        what="the worker to generate both keys",
        diagnostics=worker.tail,
    )
    page = web.get(by_web.get_absolute_url()).content.decode()
    assert 'id="request-queued"' not in page and "/csr/" in page
    assert (
        api.get(response["Location"])
        .json()["csr_pem"]
        .startswith("-----BEGIN CERTIFICATE REQUEST-----")
    )
    cache.clear()


# --------------------------------------------------------------------------- database down


@contextmanager
def database_unreachable():
    """This process's database connection pointed at a closed port, for real."""
    settings_dict = connection.settings_dict
    previous = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = "1"
    try:
        yield
    finally:
        connection.close()
        settings_dict["PORT"] = previous


def assert_clean_503(response, *, api: bool) -> str:
    assert response.status_code == 503, (response.status_code, response.content[:500])
    assert response["Retry-After"]
    body = response.content.decode()
    for marker in TRACEBACK_MARKERS:
        assert marker not in body
    if api:
        assert response["Content-Type"] == "application/problem+json"
        problem = json.loads(body)
        assert problem["status"] == 503 and problem["type"].endswith("/service-unavailable")
        assert problem["instance"].startswith("/api/")
    else:
        assert response["Content-Type"].startswith("text/html")
        assert 'role="alert"' in body and "<h1>" in body
        assert "Content-Security-Policy" in response.headers
    return body


def test_unreachable_database_gives_a_clean_503_then_recovers(tenant_a):
    web = logged_in(tenant_a.operator)
    web.raise_request_exception = False  # as a real server: a response, whatever happens
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key(tenant_a)}", raise_request_exception=False)
    api_officine = f"/api/v1/officines/{tenant_a.officine.finess}/"
    assert web.get("/certificates/").status_code == 200
    assert api.get(api_officine).status_code == 200

    with database_unreachable():
        # The session read (in a middleware), a view's queries, DRF's authentication.
        french = assert_clean_503(web.get("/certificates/"), api=False)
        assert '<html lang="fr">' in french and "Service temporairement indisponible" in french
        assert_clean_503(web.get("/officines/"), api=False)
        english = assert_clean_503(web.get("/certificates/", HTTP_ACCEPT_LANGUAGE="en"), api=False)
        assert "Service temporarily unavailable" in english
        problem = json.loads(assert_clean_503(api.get(api_officine), api=True))
        assert problem["title"] == "Service temporairement indisponible"
        assert_clean_503(api.get("/api/v1/certificates/"), api=True)
        assert_clean_503(api.post(REQUESTS, {}, content_type="application/json"), api=True)

    # The next request reconnects by itself.
    assert web.get("/certificates/").status_code == 200
    assert api.get(api_officine).status_code == 200


def test_a_bug_is_still_a_500_not_a_503(tenant_a, monkeypatch):
    """The middleware only answers for the database: other errors keep their 500."""
    from certificates.views import certificates as views

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(views.CertificateList, "get", broken)
    web = logged_in(tenant_a.operator)
    web.raise_request_exception = False
    response = web.get("/certificates/")
    assert response.status_code == 500
    assert "a bug, not an outage" not in response.content.decode()


# --------------------------------------------------------------------------- PostgreSQL restart


def _cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster serving the test database's port, if any."""
    if shutil.which("pg_lsclusters") is None:
        return None
    port = str(connection.settings_dict.get("PORT") or 5432)
    host = connection.settings_dict.get("HOST") or "localhost"
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        return None
    output = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    ).stdout
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == port and fields[3] == "online":
            return fields[0], fields[1]
    return None


def _pg_ready() -> bool:
    port = str(connection.settings_dict.get("PORT") or 5432)
    return (
        subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", port], check=False).returncode
        == 0
    )


@dataclass
class Hit:
    started: float
    kind: str
    status: int
    content_type: str
    body: str
    retry_after: str | None


def _get(url: str, headers: dict[str, str], kind: str) -> Hit:
    started = time.monotonic()
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback only)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            status, head, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, head, body = error.code, error.headers, error.read()
    except OSError as error:  # connection reset, timeout: the server itself failed
        return Hit(started, kind, 0, "", repr(error), None)
    return Hit(
        started,
        kind,
        status,
        head.get("Content-Type", ""),
        body.decode(errors="replace"),
        head.get("Retry-After"),
    )


requires_pg_restart = pytest.mark.skipif(
    connection.vendor != "postgresql"
    or os.geteuid() != 0
    or shutil.which("pg_ctlcluster") is None
    or shutil.which("pg_isready") is None,
    reason="restarts the PostgreSQL server: needs PostgreSQL, root and pg_ctlcluster",
)


@requires_pg_restart
def test_postgresql_restart_during_traffic(tenant_a, tmp_path):
    """gunicorn (2 workers) under a steady stream of page and API requests while PostgreSQL
    stops and starts again: every answer is a 200 or a clean 503, never a 500 nor a dropped
    connection, and the same gunicorn serves 200s again once PostgreSQL is back.

    The restart is `pg_ctlcluster stop` then `start`, with the server held down until both
    kinds of request have met the outage (at most 10 s), so the outage is always observed.
    It affects every client of this PostgreSQL server; the test waits for pg_isready.
    """
    cluster = _cluster()
    if cluster is None:
        pytest.skip("no local cluster (pg_lsclusters) serves the test database's port")
    version, name = cluster
    officine_url = f"/api/v1/officines/{tenant_a.officine.finess}/"
    session = logged_in(tenant_a.operator).cookies[settings.SESSION_COOKIE_NAME].value
    key = api_key(tenant_a, scopes=("read",))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    env = child_env(
        CONN_MAX_AGE="60", API_RATE_PER_KEY="100000/minute", API_RATE_PER_SESSION="100000/minute"
    )
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                GUNICORN,
                "portal.wsgi:application",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    page_headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"}
    api_headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    hits: list[Hit] = []
    stop = threading.Event()

    def traffic(path: str, headers: dict[str, str], kind: str) -> None:
        for _ in range(3000):  # bounded, and stopped by the test well before that
            if stop.is_set():
                return
            hits.append(_get(base + path, headers, kind))
            time.sleep(0.01)

    threads = [
        threading.Thread(target=traffic, args=("/certificates/", page_headers, "page")),
        threading.Thread(target=traffic, args=(officine_url, api_headers, "api")),
    ]
    ready_at = None
    try:
        wait_for(
            lambda: _get(base + "/certificates/", page_headers, "page").status == 200,
            timeout=30,
            interval=0.2,
            what="gunicorn to serve the portal",
            diagnostics=lambda: log_path.read_text()[-3000:],
        )
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # some normal traffic first
        stopped_at = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", "--mode=fast", version, name, "stop"],
            check=True,
            capture_output=True,
            timeout=60,
        )

        def outage_seen() -> bool:
            recent = [h for h in hits if h.started > stopped_at and h.status == 503]
            return {h.kind for h in recent} == {"page", "api"}

        deadline = time.monotonic() + 10
        while not outage_seen() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        for _ in range(300):
            if _pg_ready():
                break
            time.sleep(0.1)
        ready_at = time.monotonic()
        connections.close_all()  # this process's connection died with the server
    try:
        time.sleep(2)  # traffic after the restart, on the same gunicorn
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    log = log_path.read_text()
    assert _pg_ready()
    statuses = {(h.kind, h.status) for h in hits}
    assert all(h.status in (200, 503) for h in hits), (statuses, log[-3000:])
    outage = [h for h in hits if h.status == 503]
    assert {h.kind for h in outage} == {"page", "api"}, statuses
    for hit in outage:
        for marker in TRACEBACK_MARKERS:
            assert marker not in hit.body, hit.body[:1000]
        assert hit.retry_after
        if hit.kind == "api":
            assert hit.content_type == "application/problem+json"
            assert json.loads(hit.body)["type"].endswith("/service-unavailable")
        else:
            assert hit.content_type.startswith("text/html") and 'role="alert"' in hit.body
    after = [h for h in hits if h.started > ready_at]
    assert {h.kind for h in after} == {"page", "api"}
    assert all(h.status == 200 for h in after), [(h.kind, h.status) for h in after]
    # Recovered without restarting anything: the same gunicorn workers served it all.
    assert log.count("Booting worker") == 2, log[-3000:]
