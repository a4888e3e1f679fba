"""Fixtures for renewal alerts: a fixed "today", certificates at N days from it, eager Celery."""

from __future__ import annotations

import pytest

from tests.helpers.notifications import expiring_in


@pytest.fixture
def cert_in(make_certificate, tenant_a):
    """`cert_in(days, officine=..., **fields)`: a real certificate expiring `days` after TODAY."""

    def make(days: int, officine=None, hour: int = 12, **fields):
        return make_certificate(
            officine or tenant_a.officine, not_after=expiring_in(days, hour=hour), **fields
        )

    return make


@pytest.fixture
def celery_eager():
    """Run tasks in-process (what the outbox publishes after commit runs at once)."""
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture
def local_webhooks(settings):
    settings.WEBHOOK_ALLOW_HTTP_LOCALHOST = True
    settings.WEBHOOK_TIMEOUT = 3
    return settings
