"""Reliability test helpers: child processes and Celery workers, Redis, waiting for a state."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from django.db import connection

from certificates import keystore
from certificates import x509 as igc
from certificates.models import CertificateRequest, RenewalCampaign
from portal import sealing
from portal.models import AuditEvent
from tests.factories import OfficineFactory

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/7")
CAMPAIGN_REDIS_URL = os.environ.get("CAMPAIGN_RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/9")
CELERY = str(Path(sys.executable).with_name("celery"))

# Low in the worker subprocesses only: a task whose worker was SIGKILLed is delivered
# again after this many seconds (production keeps the default, an hour).
VISIBILITY_TIMEOUT = 3


def database_url(name: str | None = None) -> str:
    """The test database (or `name` on the same server) as a DATABASE_URL for subprocesses."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s["HOST"] or "127.0.0.1"
    port = s["PORT"] or 5432
    return f"postgres://{auth}@{host}:{port}/{name or s['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """Environment of a worker/server subprocess: the test database, not eager, fast keys."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "CERTIFICATE_KEY_ALGORITHM": "EC",
        "CONN_MAX_AGE": "0",
        "TESTING": "1",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    env.pop("DEBUG", None)
    return env


def redis_keys(url: str) -> list[bytes]:
    """The keys of the db at `url` but the lock: what the broker holds."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return [key for key in client.scan_iter(count=1000) if key != LOCK.encode()]
    finally:
        client.close()


def redis_lose_everything(url: str) -> None:
    """What a Redis restarted without persistence holds: nothing (the test's lock aside)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        redis_empty(client)
    finally:
        client.close()


def point_celery_to(url: str, *, eager: bool) -> None:
    """Make this process publish to `url` for real (the pattern of tests/portal/test_outbox)."""
    from portal.celery import app

    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    app._pool = None  # forget cached connections so the next publish uses the new URL
    app.amqp._producer_pool = None


class Worker:
    """`celery -A portal worker` in its own process group, so SIGKILL takes pool children too."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, concurrency: int = 1) -> subprocess.Popen:
        n = len(self.processes)
        log_path = self.log_dir / f"worker-{n}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [
                    CELERY,
                    "-A",
                    "portal",
                    "worker",
                    f"-c{concurrency}",
                    "--loglevel=INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    "celery",
                    f"--hostname=rel-{os.getpid()}-{n}@%h",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches the pool
            )
        self.processes.append(process)
        self.logs.append(log_path)
        return process

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no warm shutdown, no ack."""
        process = self.processes[-1]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-chars:]}" for p in self.logs)


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
    diagnostics: Callable[[], str] | None = None,
):
    """Poll `predicate` until truthy; fail with `what` (and the diagnostics) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = diagnostics() if diagnostics else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{extra}")
        time.sleep(interval)


OFFICINES = 200


def officines_with_certificates(tenant, make_certificate, count: int, **certificate_fields):
    officines = [
        OfficineFactory(editor=tenant.editor, technical_administrator=tenant.administrator)
        for _ in range(count)
    ]
    return [make_certificate(officine, **certificate_fields) for officine in officines]


def assert_one_renewal_each(campaign: RenewalCampaign, certificates: list) -> None:
    """Exactly one renewal request per certificate, each with its CSR and its own key, and
    one key generation each (even for the certificate in hand when the worker died)."""
    requests = list(CertificateRequest.objects.filter(renews__in=certificates))
    by_certificate: dict[int, list[CertificateRequest]] = {}
    for request in requests:
        by_certificate.setdefault(request.renews_id, []).append(request)
    assert sorted(by_certificate) == sorted(c.pk for c in certificates)
    assert all(len(found) == 1 for found in by_certificate.values())  # exactly one renewal
    wrapping = sealing.wrapping_keys()
    for request in requests:
        assert request.campaign_id == campaign.pk and request.status == "csr_ready"
        # One CSR and one encrypted key, and they belong together.
        der = sealing.unseal(
            bytes(request.encrypted_private_key),
            associated_data=keystore.associated_data_for(request.pk),
            keys=wrapping,
        )
        private_key = serialization.load_der_private_key(der, password=None)
        assert igc.public_key_sha256(private_key.public_key()) == request.public_key_sha256
        assert public_key_hash_of_csr(request.csr_pem) == request.public_key_sha256
    assert len({r.public_key_sha256 for r in requests}) == len(certificates)  # no key twice
    assert AuditEvent.objects.filter(action="key.generate").count() == len(certificates)


def public_key_hash_of_csr(csr_pem: str) -> str:
    return igc.public_key_sha256(cx509.load_pem_x509_csr(csr_pem.encode()).public_key())


LOCK = "portal-tests:reliability-lock"


def redis_empty(client) -> None:
    """Delete every key of the db but the lock (queues, unacked sets, results)."""
    for key in client.scan_iter(count=1000):
        if key != LOCK.encode():
            client.delete(key)
