"""Fixtures: two tenants (A and B) with every role, so tests can cross the boundary."""

import os

# Celery prefers the CELERY_BROKER_URL environment variable to its configuration. Django has
# read it into settings already; dropping it lets tests point the app at another broker (a dead
# port, their own Redis db) while worker subprocesses still get theirs explicitly.
os.environ.pop("CELERY_BROKER_URL", None)


import pytest
from django.core.cache import cache

from tests.helpers.certificates import certificate_row
from tests.helpers.tenants import Tenant, logged_in, make_tenant

# Fixtures shared beyond one directory, and the coverage-drift guard of every database test.
pytest_plugins = ["pytester", "tests.helpers.browser", "tests.helpers.coverage_guard"]

_PRISTINE_CELERY: tuple | None = None  # broker and eager flag as the settings made them


def _reset_celery(app, state: tuple) -> None:
    app.conf.broker_url, app.conf.task_always_eager = state
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def _isolated_celery():
    """Tests that repoint Celery (dead broker, their own Redis db) cannot leak into the next:
    every test starts from the configured broker and eager flag, whatever ran before (a
    module- or session-scoped fixture, or a test that bypassed this one)."""
    global _PRISTINE_CELERY
    from portal import outbox
    from portal.celery import app

    if _PRISTINE_CELERY is None:
        _PRISTINE_CELERY = (app.conf.broker_url, app.conf.task_always_eager)
    app.set_current()
    # Always from fresh pools too: an earlier test that closed its producer pool (to stop
    # reusing a connection to its own Redis db) leaves "Acquire on closed pool" behind.
    _reset_celery(app, _PRISTINE_CELERY)
    outbox._broker_down_until = 0.0
    yield
    outbox._broker_down_until = 0.0
    app.set_current()  # a test creating another Celery app must not capture shared tasks
    if (app.conf.broker_url, app.conf.task_always_eager) != _PRISTINE_CELERY:
        _reset_celery(app, _PRISTINE_CELERY)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def tenant_a(db) -> Tenant:
    return make_tenant("EditeurA")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return make_tenant("EditeurB")


@pytest.fixture
def client_for():
    return logged_in


# --- Certificates: one IGC Santé-shaped PKI per test session, real keys and certificates.


@pytest.fixture(scope="session")
def pki():
    from certificates.demo_pki import DemoPKI

    return DemoPKI.create()


@pytest.fixture(scope="session")
def shared_key():
    """One RSA key reused by certificates whose key does not matter (saves generation time)."""
    from certificates import x509

    return x509.generate_private_key()


@pytest.fixture
def trust_anchors(pki, tmp_path, settings):
    """TRUST_ANCHORS_DIR filled with the demo production and TEST CA certificates."""
    directory = tmp_path / "trust-anchors"
    directory.mkdir()
    pki.write_trust_anchors(directory)
    settings.TRUST_ANCHORS_DIR = directory
    return directory


@pytest.fixture
def make_certificate(pki, shared_key):
    """Create a Certificate row from a really issued certificate (no import service involved)."""
    return lambda officine, **kwargs: certificate_row(pki, shared_key, officine, **kwargs)
