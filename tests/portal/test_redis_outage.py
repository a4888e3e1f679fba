"""Redis down while it is both the broker and the cache (the compose layout): no 500.

Logins (password, then TOTP) and API calls read rate-limit counters from the cache; with
Redis unreachable they used to raise. The cache built from CACHE_URL now counts in process
memory meanwhile, says so once in the log, and limits still apply (a local limit).
"""

from __future__ import annotations

import logging

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from portal.api.keys import api_key_create
from portal.management.commands.demo_totp import current_code
from portal.settings import cache_config
from tests.factories import PASSWORD, TOTP_SECRET, MembershipFactory, UserFactory
from tests.helpers.workers import point_celery_to

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1"  # nothing listens on port 1: refused at once


@pytest.fixture
def redis_down(settings):
    """CACHE_URL and CELERY_BROKER_URL on the same unreachable Redis, as docker-compose has it."""
    settings.CACHES = {"default": cache_config(f"{DEAD_REDIS}/1")}
    point_celery_to(f"{DEAD_REDIS}/0", eager=False)
    yield
    cache.clear()


def test_compose_cache_url_builds_the_resilient_backend():
    assert cache_config("redis://redis:6379/1")["BACKEND"] == (
        "portal.resilient_cache.ResilientRedisCache"
    )
    assert cache_config("locmemcache://")["BACKEND"].endswith("LocMemCache")


def test_login_with_totp_and_api_keep_working(tenant_a, redis_down, caplog):
    user = MembershipFactory(
        editor=tenant_a.editor, role="operator", user=UserFactory(email="op@x.fr", totp=True)
    ).user
    client = Client()
    with caplog.at_level(logging.WARNING, logger="portal.resilient_cache"):
        response = client.post(
            reverse("account_login"), {"login": user.email, "password": PASSWORD}
        )
        assert response.status_code == 302, response.content[:500]
        assert response.url == reverse("mfa_authenticate")
        response = client.post(reverse("mfa_authenticate"), {"code": current_code(TOTP_SECRET)})
        assert response.status_code == 302
        assert client.get(reverse("officines:list")).status_code == 200
        raw = api_key_create(editor=tenant_a.editor, name="lgo", scopes=["read"], actor=None)[1]
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert api.get("/api/v1/ping/").status_code == 200
        assert api.get("/api/v1/officines/").status_code == 200
        assert client.get("/api/v1/officines/").status_code == 200  # session user's throttle
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per request


def test_limits_still_apply_per_process_while_redis_is_down(tenant_a, redis_down, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/minute", "api_session": "3/minute"},
    }
    from rest_framework.settings import api_settings

    api_settings.reload()
    raw = api_key_create(editor=tenant_a.editor, name="lgo", scopes=["read"], actor=None)[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    codes = [api.get("/api/v1/ping/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
