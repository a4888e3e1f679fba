"""Reliability tests: real worker processes, a real Redis broker, a real PostgreSQL server.

Separate processes must see the rows a test commits, so most of these tests need
PostgreSQL (`transaction=True`) and skip on SQLite, saying why. They use Redis db 7
(RELIABILITY_REDIS_URL) and, for the lost-message campaign test, db 9
(CAMPAIGN_RELIABILITY_REDIS_URL), flushed before and after, so other suites are not disturbed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/7")
CAMPAIGN_REDIS_URL = os.environ.get("CAMPAIGN_RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/9")
CELERY = str(Path(sys.executable).with_name("celery"))
# Low in the worker subprocesses only: a task whose worker was SIGKILLed is delivered
# again after this many seconds (production keeps the default, an hour).
VISIBILITY_TIMEOUT = 3

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL=postgres://...): worker processes must see the "
    "rows the test commits",
)


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


LOCK = "portal-tests:reliability-lock"


def _empty(client) -> None:
    """Delete every key of the db but the lock (queues, unacked sets, results)."""
    for key in client.scan_iter(count=1000):
        if key != LOCK.encode():
            client.delete(key)


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
        _empty(client)
    finally:
        client.close()


@contextlib.contextmanager
def _redis_turn(url: str) -> Iterator[str]:
    """The Redis db at `url`, emptied before and after; the test is skipped when Redis is
    unreachable.

    Two test runs on one machine (say two developers' suites) would steal each other's
    tasks and empty each other's queue: a lock in the db makes them take turns.
    """
    redis = pytest.importorskip("redis")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {url}: {exc}")
    lock = client.lock(LOCK, timeout=600, blocking_timeout=300)
    if not lock.acquire():
        pytest.skip(f"another test run kept {url} busy for 5 minutes")
    try:
        _empty(client)
        yield url
        _empty(client)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):  # expired: someone else's now
            lock.release()
        client.close()


@pytest.fixture
def redis_db7() -> Iterator[str]:
    """Redis db 7 for this test alone (see `_redis_turn`)."""
    with _redis_turn(REDIS_URL) as url:
        yield url


@pytest.fixture
def redis_db9() -> Iterator[str]:
    """Redis db 9 for this test alone: the lost-message campaign test, which empties the
    broker mid-test, so it never waits for (or disturbs) the db 7 tests."""
    with _redis_turn(CAMPAIGN_REDIS_URL) as url:
        yield url


def point_celery_to(url: str, *, eager: bool) -> None:
    """Make this process publish to `url` for real (the pattern of tests/portal/test_outbox)."""
    from portal.celery import app

    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    app._pool = None  # forget cached connections so the next publish uses the new URL
    app.amqp._producer_pool = None


@pytest.fixture
def celery_on_redis(redis_db7) -> str:
    """This process publishes to Redis db 7 (not eager) for the test; tests/conftest.py's
    `_isolated_celery` restores the app and the outbox backoff afterwards."""
    point_celery_to(redis_db7, eager=False)
    return redis_db7


@pytest.fixture
def celery_on_redis9(redis_db9) -> str:
    """As `celery_on_redis`, on db 9; workers get it with `worker_factory(CELERY_BROKER_URL=...)`."""
    point_celery_to(redis_db9, eager=False)
    return redis_db9


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


@pytest.fixture
def worker_factory(tmp_path) -> Iterator[Callable[..., Worker]]:
    """`worker_factory(**env)`: a Worker on the test database and Redis db 7 (unless `env`
    says CELERY_BROKER_URL=...); stopped at the end."""
    made: list[Worker] = []

    def make(**extra: str) -> Worker:
        worker = Worker(tmp_path, child_env(**extra))
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()


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
