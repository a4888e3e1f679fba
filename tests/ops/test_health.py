"""/healthz/live and /healthz/ready: each dependency taken away in turn, for real (a dead
port for the database and the broker, no key-encryption keys, an unmigrated database)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
django.setup()
from django.test import Client
for path in ("/healthz/live", "/healthz/ready"):
    r = Client(HTTP_HOST="10.244.0.17").get(path)
    print(json.dumps({"path": path, "status": r.status_code, "body": json.loads(r.content)}))
"""


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe_in_process(**environment: str) -> dict[str, dict]:
    """Both probes answered by another Django process started with `environment`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("CELERY_BROKER_URL", None)
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", **environment)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    answers = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {a["path"]: a for a in answers}


def ready(client: Client | None = None) -> tuple[int, dict]:
    response = (client or Client(HTTP_HOST="10.244.0.17")).get("/healthz/ready")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def test_everything_up_any_host():
    """A probe's Host is the pod address, not an allowed host: still answered."""
    live = Client(HTTP_HOST="10.244.0.17").get("/healthz/live")
    assert live.status_code == 200 and json.loads(live.content) == {"status": "ok"}
    status, body = ready()
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "broker", "keys"}
    assert all(check["ok"] for check in body["checks"].values())


def test_probes_are_not_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz/live").status_code == 200
    assert Client().get("/healthz/ready").status_code == 200
    assert Client().get("/dashboard/").status_code == 301  # the rest still is


def test_broker_down(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{dead_port()}/0"
    status, body = ready()
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["broker"] == {
        "ok": False,
        "error": "broker unreachable (ConnectionError)",
        "ms": body["checks"]["broker"]["ms"],
    }
    assert body["checks"]["database"]["ok"] and body["checks"]["keys"]["ok"]
    assert Client().get("/healthz/live").status_code == 200  # live has no dependency


def test_filesystem_broker_folder_missing(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    status, body = ready()
    assert status == 503 and not body["checks"]["broker"]["ok"]


@pytest.mark.parametrize(
    "keys", [[], ["not base64 at all!"], ["c2hvcnQ="]], ids=["none", "garbage", "short"]
)
def test_keys_missing_or_unusable(settings, keys):
    settings.KEY_ENCRYPTION_KEYS = keys
    status, body = ready()
    assert status == 503
    assert not body["checks"]["keys"]["ok"]
    assert body["checks"]["keys"]["error"].startswith("key-encryption keys not loaded")
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    # No key material in the answer.
    assert "c2hvcnQ" not in json.dumps(body)


def test_redis_broker_up_when_redis_runs(settings):
    redis_url = "redis://127.0.0.1:6379/0"
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.CELERY_BROKER_URL = redis_url
    status, body = ready()
    assert status == 200 and body["checks"]["broker"]["ok"], body
    from ops.collectors import queue_lengths

    assert set(queue_lengths()) == {"celery"}


@pytest.mark.slow
def test_database_down_in_another_process():
    answers = probe_in_process(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead_port()}/portal_gone"
    )
    assert answers["/healthz/live"]["status"] == 200
    ready_answer = answers["/healthz/ready"]
    assert ready_answer["status"] == 503
    checks = ready_answer["body"]["checks"]
    assert checks["database"]["ok"] is False
    assert checks["database"]["error"] == "database unreachable (OperationalError)"
    assert checks["migrations"] == {"ok": False, "error": "database unreachable"}
    assert checks["keys"]["ok"] and checks["broker"]["ok"]


@pytest.mark.slow
def test_migrations_not_applied_in_another_process(tmp_path):
    answers = probe_in_process(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    checks = answers["/healthz/ready"]["body"]["checks"]
    assert answers["/healthz/ready"]["status"] == 503
    assert checks["database"]["ok"] is True
    assert checks["migrations"]["ok"] is False
    assert "migration table unreadable" in checks["migrations"]["error"] or (
        "migrations not applied" in checks["migrations"]["error"]
    )
