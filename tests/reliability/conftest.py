"""Reliability tests: real worker processes, a real Redis broker, a real PostgreSQL server.

Separate processes must see the rows a test commits, so most of these tests need
PostgreSQL (`transaction=True`) and skip on SQLite, saying why. They use Redis db 7
(RELIABILITY_REDIS_URL) and, for the lost-message campaign test, db 9
(CAMPAIGN_RELIABILITY_REDIS_URL), flushed before and after, so other suites are not disturbed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from tests.helpers.workers import (
    CAMPAIGN_REDIS_URL,
    LOCK,
    REDIS_URL,
    Worker,
    child_env,
    point_celery_to,
    redis_empty,
)


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
        redis_empty(client)
        yield url
        redis_empty(client)
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
