"""Every list endpoint runs a bounded number of queries, whatever the page size."""

from __future__ import annotations

import pytest
from django.test import Client

from certificates.coverage import coverage_refresh
from certificates.models import Certificate, CertificateRequest, RenewalCampaign
from notifications.models import WebhookEndpoint
from officines.identifiers import generate_finess
from officines.models import Officine
from tests.helpers.api import bearer
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db

ROWS = 110
# key look-up, page, + per endpoint: officines' coverage and their administrators with
# habilitations (1 each); nothing per row.
BUDGET = 5


@pytest.fixture
def many_rows(tenant_a, make_certificate):
    template = make_certificate(tenant_a.officine)
    officines = Officine.objects.bulk_create(
        Officine(
            editor=tenant_a.editor,
            finess=generate_finess("13", 5000 + n),
            raison_sociale=f"PHARMACIE {n}",
            department="13",
        )
        for n in range(ROWS)
    )
    fields = {
        f.attname: getattr(template, f.attname)
        for f in Certificate._meta.concrete_fields
        if f.attname not in ("id", "officine_id", "fingerprint_sha256")
    }
    Certificate.objects.bulk_create(
        Certificate(**{**fields, "officine_id": o.pk, "fingerprint_sha256": f"{n:064x}"})
        for n, o in enumerate(officines)
    )
    coverage_refresh(o.pk for o in officines)
    CertificateRequest.objects.bulk_create(
        CertificateRequest(
            editor=tenant_a.editor,
            officine=o,
            profile="ORG_AUTH_CLI",
            services=["PSC"],
            common_name="LGO",
            key_mode="server",
            requester_email="a@b.fr",
        )
        for o in officines
    )
    WebhookEndpoint.objects.bulk_create(
        WebhookEndpoint(
            editor=tenant_a.editor,
            url=f"https://lgo.example/{n}",
            events=["certificate.issued"],
        )
        for n in range(ROWS)
    )
    RenewalCampaign.objects.bulk_create(
        RenewalCampaign(editor=tenant_a.editor, name=f"c{n}", requester_email="a@b.fr")
        for n in range(ROWS)
    )


LISTS = [
    "/api/v1/officines/",
    "/api/v1/certificates/",
    "/api/v1/certificate-requests/",
    "/api/v1/campaigns/",
    "/api/v1/webhooks/",
]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("page_size", [5, 100])
def test_list_queries_do_not_grow_with_the_page(
    tenant_a, keys_a, many_rows, django_assert_max_num_queries, url, page_size
):
    # Webhooks are admin-only (portal.permissions.EDITOR_RULES): keys need `write` to read them.
    client: Client = bearer(keys_a.write if "webhooks" in url else keys_a.read)
    client.get("/api/v1/ping/")  # last_used_at written once, outside the measure
    with django_assert_max_num_queries(BUDGET):
        response = client.get(url, {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("url", LISTS)
def test_session_list_queries_are_bounded_too(
    tenant_a, many_rows, django_assert_max_num_queries, url
):
    client = logged_in(tenant_a.admin if "webhooks" in url else tenant_a.viewer)
    # session, user, membership scope (+2), MFA check, page, coverage
    with django_assert_max_num_queries(BUDGET + 4):
        response = client.get(url, {"page_size": 100})
    assert len(response.json()["results"]) == 100
