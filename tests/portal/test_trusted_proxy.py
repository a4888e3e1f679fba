"""X-Forwarded-Proto and X-Forwarded-For count only when a configured proxy sends them.

Before, any client talking to gunicorn could claim HTTPS, or dodge the anonymous API rate
limit with a new X-Forwarded-For each time (issue 12, finding 12).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from portal.models import AuditEvent
from portal.proxy import TrustedProxies, TrustedProxyMiddleware
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
CLIENT = "198.51.100.20"
STRANGER = "203.0.113.9"


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = [PROXY, "192.0.2.0/28"]
    settings.SECURE_SSL_REDIRECT = True
    cache.clear()
    yield
    cache.clear()


def test_https_is_believed_from_the_proxy_only(behind_proxy):
    claimed = Client(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_PROTO="https")
    response = claimed.get(reverse("account_login"))
    assert response.status_code == 301 and response["Location"].startswith("https://")
    proxied = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    assert proxied.get(reverse("account_login")).status_code == 200
    chained = Client(REMOTE_ADDR="192.0.2.5", HTTP_X_FORWARDED_PROTO="https")
    assert chained.get(reverse("account_login")).status_code == 200


def test_the_client_address_is_the_one_the_proxy_saw(behind_proxy):
    user = UserFactory(email="lecteur@x.fr")
    # A spoofed left part is ignored: the proxy appended the address it saw.
    via_proxy = Client(
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}",
    )
    via_proxy.post(reverse("account_login"), {"login": user.email, "password": "wrong pass!"})
    # Straight to gunicorn, a forged header changes nothing.
    direct = Client(
        REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR=CLIENT, HTTP_X_FORWARDED_PROTO="https"
    )
    direct.post(
        reverse("account_login"), {"login": user.email, "password": "wrong pass!"}, secure=True
    )
    addresses = list(
        AuditEvent.objects.filter(action="login")
        .order_by("id")
        .values_list("ip_address", flat=True)
    )
    assert addresses == [CLIENT, STRANGER]


def test_forged_forwarded_for_does_not_dodge_the_lockout(behind_proxy):
    user = UserFactory(email="admin@x.fr")
    codes = []
    for n in range(6):
        client = Client(REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        response = client.post(
            reverse("account_login"), {"login": user.email, "password": "wrong pass!"}, secure=True
        )
        codes.append(response.status_code)
    assert codes[-2:] == [429, 429]
    owner = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLIENT, HTTP_X_FORWARDED_PROTO="https")
    login = owner.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert login.status_code == 302


def test_throttles_key_on_the_real_client(behind_proxy, rf):
    """DRF's get_ident (anonymous API rate) believed any X-Forwarded-For."""
    seen = []

    def view(request):
        seen.append(SimpleRateThrottle.get_ident(None, Request(request)))
        return HttpResponse()

    middleware = TrustedProxyMiddleware(view)
    middleware(rf.get("/", REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="198.51.100.1"))
    middleware(rf.get("/", REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_FOR="198.51.100.2"))
    middleware(rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {CLIENT}"))
    assert seen == [STRANGER, STRANGER, CLIENT]


def test_proxies_by_host_name_and_network():
    proxies = TrustedProxies(["localhost", "10.1.0.0/16", "", "::1"])
    assert "127.0.0.1" in proxies and "10.1.200.3" in proxies and "::1" in proxies
    assert "10.2.0.1" not in proxies and "not an address" not in proxies


def test_compose_publishes_the_proxy_not_gunicorn():
    import yaml
    from django.conf import settings

    compose = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "ports" not in services["web"]
    assert services["proxy"]["ports"] == ["8000:8000"]
    assert services["web"]["environment"]["TRUSTED_PROXIES"] == "proxy"
    caddyfile = (settings.BASE_DIR / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile
