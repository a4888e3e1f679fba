"""Users holding several relations (staff of one editor, pharmacist of another's officine):
a permission is decided for the (user, object) pair, never with a role from another tenant.

The pentest's scenario (issue 12, item 1): pharmacist of an officine of editor A in mode
éditeur (read-only for them) and operator of editor B.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from officines.models import Officine, PharmacistAccess
from portal.models import AuditEvent
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def crosser(tenant_a, tenant_b):
    """B's operator, also pharmacist of A's officine (mode éditeur)."""
    PharmacistAccess.objects.create(user=tenant_b.operator, officine=tenant_a.officine)
    return tenant_b.operator


def test_patch_of_the_other_tenants_officine_is_refused(tenant_a, crosser):
    client = logged_in(crosser)
    url = f"/api/v1/officines/{tenant_a.officine.finess}/"
    assert client.get(url).status_code == 200  # visible: pharmacist of it
    response = client.patch(
        url,
        {"delegation_mode": "pharmacien", "notification_email": "pirate@example.fr"},
        content_type="application/json",
    )
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/problem+json"
    officine = Officine.objects.get(pk=tenant_a.officine.pk)
    assert officine.delegation_mode == "editeur"
    assert officine.notification_email != "pirate@example.fr"
    response = client.put(
        url,
        {"raison_sociale": "RENOMMEE", "postal_code": "69002", "city": "Lyon"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert Officine.objects.get(pk=tenant_a.officine.pk).raison_sociale != "RENOMMEE"


def test_pkcs12_of_the_other_tenants_certificate_is_refused(tenant_a, crosser, server_certificate):
    client = logged_in(crosser)
    response = client.post(
        f"/api/v1/certificates/{server_certificate.pk}/pkcs12/",
        {"passphrase": "correct horse battery", "profile": "modern"},
        content_type="application/json",
    )
    assert response.status_code == 403, response.status_code
    assert not AuditEvent.objects.filter(action="key.decrypt", outcome="success").exists()


def test_installation_and_revocation_of_the_other_tenants_certificate_are_refused(
    tenant_a, crosser, make_certificate
):
    certificate = make_certificate(tenant_a.officine)
    client = logged_in(crosser)
    response = client.post(
        f"/api/v1/certificates/{certificate.pk}/installations/",
        {"host": "poste-1.pharmacie.local"},
        content_type="application/json",
    )
    assert response.status_code == 403, response.content
    assert not certificate.installations.exists()
    response = client.post(
        f"/api/v1/certificates/{certificate.pk}/revocation/",
        {"reason": "key_compromise"},
        content_type="application/json",
    )
    assert response.status_code == 403, response.content
    certificate.refresh_from_db()
    assert certificate.revoked_at is None


def test_a_foreign_officine_stays_404(tenant_a, crosser):
    """Pharmacist of one of A's officines: A's others do not exist for them."""
    client = logged_in(crosser)
    other = tenant_a.pharmacist_officine
    assert client.get(f"/api/v1/officines/{other.finess}/").status_code == 404
    response = client.patch(
        f"/api/v1/officines/{other.finess}/",
        {"notification_email": "pirate@example.fr"},
        content_type="application/json",
    )
    assert response.status_code == 404


def test_own_tenant_still_works(tenant_b, crosser):
    client = logged_in(crosser)
    response = client.patch(
        f"/api/v1/officines/{tenant_b.officine.finess}/",
        {"notification_email": "nouvelle@example.fr"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content


def test_ui_rename_of_the_other_tenants_officine_is_refused(tenant_a, crosser):
    client = logged_in(crosser)
    officine = tenant_a.officine
    assert client.get(reverse("officines:detail", args=[officine.pk])).status_code == 200
    data = {
        "finess": officine.finess,
        "raison_sociale": "RENOMMEE",
        "postal_code": "69002",
        "city": "Lyon",
        "environment": "production",
        "delegation_mode": "pharmacien",
        "notification_email": "pirate@example.fr",
    }
    response = client.post(reverse("officines:update", args=[officine.pk]), data)
    assert response.status_code == 403
    assert client.get(reverse("officines:update", args=[officine.pk])).status_code == 403
    assert client.post(reverse("officines:deactivate", args=[officine.pk])).status_code == 403
    officine.refresh_from_db()
    assert (officine.raison_sociale, officine.delegation_mode, officine.is_active) != (
        "RENOMMEE",
        "pharmacien",
        False,
    )
    assert officine.is_active and officine.raison_sociale != "RENOMMEE"
    administrator = tenant_a.administrator
    url = reverse("officines:administrator_update", args=[administrator.pk])
    assert client.get(url).status_code == 403
