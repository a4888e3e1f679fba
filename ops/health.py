"""Probes for orchestrators: /healthz/live (the process answers) and /healthz/ready (the
database answers, every migration is applied, the broker answers, the key-encryption keys
are loaded).

Answered by the outermost middleware, before host validation, HTTPS redirection, sessions
and authentication: a kubelet or docker probe sends the container's address as Host over
plain HTTP, and a probe must never need the things it checks. Each check is a cheap
round trip; failures name the check, never a secret.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest, HttpResponse

from portal import sealing

logger = logging.getLogger(__name__)

LIVE_PATH = "/healthz/live"
READY_PATH = "/healthz/ready"


class CheckFailed(Exception):
    """A readiness check failed; the message is safe to show (no secret, no URL)."""


def check_database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        raise CheckFailed(f"database unreachable ({type(exc).__name__})") from exc


@cache
def _leaf_migrations() -> frozenset[tuple[str, str]]:
    """The last migration of every app, from the code (read once per process)."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())


def check_migrations() -> None:
    try:
        applied = set(MigrationRecorder(connection).applied_migrations())
    except Exception as exc:
        raise CheckFailed(f"migration table unreadable ({type(exc).__name__})") from exc
    missing = sorted(f"{app}.{name}" for app, name in _leaf_migrations() - applied)
    if missing:
        raise CheckFailed(f"migrations not applied: {', '.join(missing[:5])}")


def check_broker() -> None:
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith(("redis://", "rediss://")):
            # Only this probe needs the metrics stack (collectors import every app's stats).
            from ops.collectors import redis_client

            redis_client(url).ping()
        elif url.startswith("filesystem://"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            if not (folder.is_dir() and os.access(folder, os.W_OK)):
                raise CheckFailed("broker folder missing or read-only")
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=1) as conn:
                conn.ensure_connection(max_retries=1)
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(f"broker unreachable ({type(exc).__name__})") from exc


def check_keys() -> None:
    """The wrapping keys parse and one seals and opens a probe (no key material shown)."""
    try:
        keys = sealing.wrapping_keys()
        probe = sealing.seal(b"ready", associated_data=b"healthz", key=keys[0])
        sealing.unseal(probe, associated_data=b"healthz", keys=keys)
    except Exception as exc:
        raise CheckFailed(f"key-encryption keys not loaded ({type(exc).__name__})") from exc


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "keys": check_keys,
}


def readiness() -> tuple[bool, dict[str, dict]]:
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        if name == "migrations" and not results["database"]["ok"]:
            results[name] = {"ok": False, "error": "database unreachable"}
            continue
        started = time.perf_counter()
        try:
            check()
            results[name] = {"ok": True}
        except CheckFailed as exc:
            results[name] = {"ok": False, "error": str(exc)}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return all(r["ok"] for r in results.values()), results


def _json(payload: dict, status: int) -> HttpResponse:
    response = HttpResponse(json.dumps(payload), content_type="application/json", status=status)
    response["Cache-Control"] = "no-store"
    return response


def live(request: HttpRequest | None = None) -> HttpResponse:
    return _json({"status": "ok"}, 200)


def ready(request: HttpRequest | None = None) -> HttpResponse:
    ok, checks = readiness()
    if not ok:
        failed = ", ".join(name for name, r in checks.items() if not r["ok"])
        logger.warning("Readiness check failed: %s", failed)
    return _json({"status": "ok" if ok else "fail", "checks": checks}, 200 if ok else 503)


class HealthCheckMiddleware:
    """First in MIDDLEWARE: probes are answered before anything they could trip on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/")
        if path == LIVE_PATH and request.method in ("GET", "HEAD"):
            return live(request)
        if path == READY_PATH and request.method in ("GET", "HEAD"):
            return ready(request)
        return self.get_response(request)
