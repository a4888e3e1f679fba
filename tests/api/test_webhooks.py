"""Webhook endpoints over the API: secret shown once, changes audited, delivery log."""

from __future__ import annotations

import pytest

from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.webhooks.secrets import webhook_secret
from portal.models import AuditEvent
from tests.helpers.api import bearer, problem
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db

HOOKS = "/api/v1/webhooks/"


def create(client, **overrides):
    payload = {"url": "https://lgo.example/hooks", "events": ["certificate.expiring"], **overrides}
    return client.post(HOOKS, payload, content_type="application/json")


def test_create_shows_the_secret_once(tenant_a, keys_a):
    client = bearer(keys_a.write)
    response = create(client, description="Production")
    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == webhook_secret(endpoint) and body["secret"].startswith("whsec_")
    assert "secret" not in client.get(f"{HOOKS}{endpoint.pk}/").json()
    assert body["secret"] not in client.get(HOOKS).content.decode()
    event = AuditEvent.objects.get(action="webhook.create")
    assert event.actor_label.startswith("API key")
    assert body["secret"] not in str(event.details)


def test_create_refusals(tenant_a, keys_a):
    client = bearer(keys_a.write)
    assert (
        "url"
        in problem(create(client, url="http://lgo.example/h"), 400, "validation-error")["errors"]
    )
    assert (
        "url"
        in problem(create(client, url="https://10.0.0.1/h"), 400, "validation-error")["errors"]
    )
    assert "events" in problem(create(client, events=[]), 400, "validation-error")["errors"]
    problem(create(bearer(keys_a.read)), 403, "permission-denied")
    problem(create(bearer(keys_a.officine)), 403, "permission-denied")
    assert not WebhookEndpoint.objects.exists()


def test_update_disable_regenerate_delete(tenant_a, keys_a):
    client = bearer(keys_a.write)
    pk = create(client).json()["id"]
    url = f"{HOOKS}{pk}/"
    changed = client.patch(
        url,
        {"events": ["certificate.issued", "certificate.revoked"], "is_active": False},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["certificate.issued", "certificate.revoked"]
    assert changed.json()["is_active"] is False
    old = webhook_secret(WebhookEndpoint.objects.get())
    new = client.post(f"{url}secret/").json()["secret"]
    assert new != old and webhook_secret(WebhookEndpoint.objects.get()) == new
    assert client.delete(url).status_code == 204
    assert not WebhookEndpoint.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "webhook.update",
        "webhook.disable",
        "webhook.secret_regenerate",
        "webhook.delete",
    } <= actions


def test_delivery_log_newest_first(tenant_a, keys_a, make_certificate):
    client = bearer(keys_a.write)
    endpoint = WebhookEndpoint.objects.create(
        editor=tenant_a.editor,
        url="https://lgo.example/h",
        events=["certificate.issued"],
    )
    certificate = make_certificate(tenant_a.officine)
    for n in range(3):
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event="certificate.issued",
            certificate=certificate,
            idempotency_key=f"k{n}",
            payload={"n": n},
            status="succeeded",
            status_code=200,
            attempts=1,
        )
    body = client.get(f"{HOOKS}{endpoint.pk}/deliveries/", {"page_size": 2}).json()
    assert [d["payload"]["n"] for d in body["results"]] == [2, 1]
    rest = client.get(body["next"]).json()
    assert [d["payload"]["n"] for d in rest["results"]] == [0]
    assert bearer(keys_a.officine).get(f"{HOOKS}{endpoint.pk}/deliveries/").status_code == 404


def test_webhooks_follow_the_pages_rule(tenant_a, keys_a):
    """Admin-only like the pages (issue 12, items 4 and 10): operators cannot create, rotate
    or disable; viewers and read-only keys cannot read URLs nor delivery payloads."""
    endpoint = WebhookEndpoint.objects.create(
        editor=tenant_a.editor, url="https://lgo.example/h", events=["certificate.issued"]
    )
    url = f"/api/v1/webhooks/{endpoint.pk}/"
    operator = logged_in(tenant_a.operator)
    created = operator.post(
        "/api/v1/webhooks/",
        {"url": "https://lgo.example/other", "events": ["certificate.issued"]},
        content_type="application/json",
    )
    assert created.status_code == 403
    assert operator.post(f"{url}secret/").status_code == 403
    disabled = operator.patch(url, {"is_active": False}, content_type="application/json")
    assert disabled.status_code == 403
    assert operator.delete(url).status_code == 403
    for client in (operator, logged_in(tenant_a.viewer), bearer(keys_a.read)):
        for path in ("/api/v1/webhooks/", url, f"{url}deliveries/"):
            response = client.get(path)
            assert response.status_code == 403, path
            assert "lgo.example" not in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.is_active and WebhookEndpoint.objects.count() == 1
    assert logged_in(tenant_a.admin).get(url).status_code == 200
