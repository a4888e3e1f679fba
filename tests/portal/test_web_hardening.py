"""Web hardening: security headers, login throttling, no open sign-up."""

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_security_headers_on_every_page(client):
    response = client.get(reverse("account_login"))
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    for name in ("account_login", "officines:list", "team"):
        body = client.get(reverse(name)).content.decode()
        for chunk in body.split("<script")[1:]:
            assert "src=" in chunk.split(">")[0], f"inline script on {name}"
        assert " onclick=" not in body and ' style="' not in body


def test_failed_logins_are_throttled_and_audited():
    user = MembershipFactory(role="viewer", user=UserFactory(email="cible@x.fr")).user
    client = Client()
    for _ in range(7):
        client.post(reverse("account_login"), {"login": user.email, "password": "wrong"})
    # After 5 failures on this account within 5 minutes, even the right password is refused.
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session
    failures = AuditEvent.objects.filter(action="login", outcome="failure")
    assert failures.count() >= 5
    assert failures.first().details["email"] == "cible@x.fr"


def test_successful_login_is_audited():
    user = MembershipFactory(role="viewer", user=UserFactory(email="ok@x.fr")).user
    Client().post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    event = AuditEvent.objects.get(action="login", outcome="success")
    assert event.actor == user
    assert event.editor_id == user.membership.editor_id


def test_oversized_upload_is_refused_before_reading(tenant_a, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(tenant_a.operator)

    def big():
        return SimpleUploadedFile("big.pem", b"A" * (20 * 1024 * 1024))

    response = client.post(reverse("officines:create"), {"file": big()})
    assert response.status_code == 413
    assert "5 MB" in response.content.decode() or "5 Mo" in response.content.decode()
    api = client.post("/api/v1/certificates/import", {"file": big()})
    assert api.status_code == 413
    assert api.headers["Content-Type"] == "application/problem+json"
