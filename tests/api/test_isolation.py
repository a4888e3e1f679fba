"""Tenant isolation on every API route, for every kind of caller.

Routes are discovered from the URL resolver: a new API route taking an id fails here until
it says which object of tenant A it addresses.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from certificates.models import CertificateRequest, RenewalCampaign
from notifications.models import WebhookEndpoint
from tests.helpers.api import api_routes, bearer
from tests.helpers.tenants import administrator_change_for, logged_in, multi_relation_users

pytestmark = pytest.mark.django_db

WEBHOOK_REFUSED = ("read key", "viewer session", "pharmacist session")
POST_ONLY = (
    "-pkcs12",
    "-installations",
    "-revocation",
    "-cancel",
    "-mark-submitted",
    "-secret",
    "-process",
)


def objects_of(tenant, certificate) -> dict[str, dict]:
    """Route name -> URL kwargs of tenant's object it addresses."""
    request = CertificateRequest.objects.create(
        editor=tenant.editor,
        officine=tenant.officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name="LGO",
        key_mode="csr",
        csr_pem="-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
        status="csr_ready",
        requester_email="a@b.fr",
    )
    campaign = RenewalCampaign.objects.create(
        editor=tenant.editor, name="c", requester_email="a@b.fr", status="done"
    )
    webhook = WebhookEndpoint.objects.create(
        editor=tenant.editor,
        url="https://lgo.example/h",
        events=["certificate.issued"],
    )
    change = administrator_change_for(tenant)
    officine = {"finess": tenant.officine.finess}
    cert = {"pk": certificate.pk}
    req = {"pk": request.pk}
    camp = {"pk": campaign.pk}
    hook = {"pk": webhook.pk}
    return {
        "api:officine-detail": officine,
        "api:certificate-detail": cert,
        "api:certificate-pem": cert,
        "api:certificate-der": cert,
        "api:certificate-chain": cert,
        "api:certificate-fullchain": cert,
        "api:certificate-pkcs12": cert,
        "api:certificate-installations": cert,
        "api:certificate-revocation": cert,
        "api:certificate-revocation-check": cert,
        "api:certificate-request-detail": req,
        "api:certificate-request-cancel": req,
        "api:certificate-request-mark-submitted": req,
        "api:certificate-request-csr": req,
        "api:campaign-detail": camp,
        "api:campaign-zip": camp,
        "api:webhook-detail": hook,
        "api:webhook-secret": hook,
        "api:webhook-deliveries": hook,
        "api:administrator-change-detail": {"pk": change.pk},
        "api:administrator-change-cancel": {"pk": change.pk},
        "api:administrator-change-process": {"pk": change.pk},
        "api:administrator-change-worksheet": {"pk": change.pk},
    }


def callers(tenant, keys) -> dict[str, Client]:
    return {
        "export key": bearer(keys.export),
        "read key": bearer(keys.read),
        "officine key": bearer(keys.officine),
        "admin session": logged_in(tenant.admin),
        "viewer session": logged_in(tenant.viewer),
        "pharmacist session": logged_in(tenant.pharmacist),
    }


def test_every_api_route_with_parameters_is_mapped(tenant_a, make_certificate):
    mapped = objects_of(tenant_a, make_certificate(tenant_a.officine))
    missing = [name for name, params in api_routes() if params and name not in mapped]
    assert missing == [], f"API routes without an isolation mapping: {missing}"


def test_other_editors_objects_are_404_on_every_route(tenant_a, tenant_b, keys_b, make_certificate):
    foreign = objects_of(tenant_a, make_certificate(tenant_a.officine))
    own = objects_of(tenant_b, make_certificate(tenant_b.officine))
    for who, client in callers(tenant_b, keys_b).items():
        not_found = 0
        for name, kwargs in foreign.items():
            url = reverse(name, kwargs=kwargs)
            for method in ("get", "post", "patch", "put", "delete"):
                response = getattr(client, method)(url, {}, content_type="application/json")
                status = response.status_code
                # Refused before any look-up (method or scope), never 2xx/3xx nor 400/409.
                assert status in (404, 403, 405), (who, name, method, status)
                assert response["Content-Type"] == "application/problem+json"
                not_found += status == 404
                if status in (403, 405):
                    own_url = reverse(name, kwargs=own[name])
                    if who == "officine key" or who == "pharmacist session":
                        continue  # B's "own" objects are outside these callers' officine too
                    own_status = getattr(client, method)(
                        own_url, {}, content_type="application/json"
                    ).status_code
                    assert own_status == status, (who, name, method, status, own_status)
        # Every caller reaches the look-up (404) at least on each route that answers GET.
        readable = [
            n
            for n in foreign
            if not n.endswith(POST_ONLY)
            # admin-only resource (portal.permissions.EDITOR_RULES): refused before look-up
            and not (n.startswith("api:webhook") and who in WEBHOOK_REFUSED)
        ]
        assert not_found >= len(readable), (who, not_found)


def test_lists_never_show_other_editors_rows(tenant_a, tenant_b, keys_b, make_certificate):
    certificate = make_certificate(tenant_a.officine)
    objects_of(tenant_a, certificate)
    secrets = [
        tenant_a.officine.finess,
        tenant_a.pharmacist_officine.finess,
        certificate.fingerprint_sha256,
        f'"id":{certificate.pk},',
    ]
    lists = [
        "/api/v1/officines/",
        "/api/v1/certificates/",
        "/api/v1/certificate-requests/",
        "/api/v1/campaigns/",
        "/api/v1/webhooks/",
        "/api/v1/habilitations/",
        "/api/v1/administrator-changes/",
    ]
    for who, client in callers(tenant_b, keys_b).items():
        for url in lists:
            for params in (
                {},
                {"finess": tenant_a.officine.finess},
                {"search": tenant_a.officine.finess},
            ):
                response = client.get(url, params)
                if url == "/api/v1/webhooks/" and who in WEBHOOK_REFUSED:
                    assert response.status_code == 403, (who, url)
                    continue
                assert response.status_code == 200, (who, url, response.content)
                body = response.content.decode()
                for secret in secrets:
                    assert secret not in body, (who, url, params, secret)


def test_multi_relation_users_never_act_across_tenants_on_any_api_route(
    tenant_a, tenant_b, make_certificate
):
    """Issue 12, item 1, on every API route and method: a role in one tenant plus a
    pharmacist access (mode éditeur) in another never changes the other's rows."""

    objects = {
        tenant_a.editor.pk: objects_of(tenant_a, make_certificate(tenant_a.officine)),
        tenant_b.editor.pk: objects_of(tenant_b, make_certificate(tenant_b.officine)),
    }
    reading_posts = ("api:certificate-revocation-check",)
    for shape, (user, other) in multi_relation_users(tenant_a, tenant_b).items():
        client = logged_in(user)
        for name, kwargs in objects[other.editor.pk].items():
            url = reverse(name, kwargs=kwargs)
            assert client.get(url).status_code < 500, (shape, name)
            for method in ("post", "patch", "put", "delete"):
                response = getattr(client, method)(url, {}, content_type="application/json")
                status = response.status_code
                if method == "post" and name in reading_posts and status < 300:
                    continue
                assert status in (403, 404, 405), (shape, name, method, status)
