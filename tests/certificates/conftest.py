"""Fixtures shared by the certificate tests."""

import pytest

from portal.celery import app as celery_app


@pytest.fixture
def fast_keys(settings):
    """Real EC P-256 keys: instant, so crash/resume tests can make many."""
    settings.CERTIFICATE_KEY_ALGORITHM = "EC"


@pytest.fixture
def eager(monkeypatch):
    """Run Celery tasks in-process: `.delay` executes the real task body."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
