"""Officine page: the pharmacists' accesses, their RPPS set or cleared by editor staff."""

from __future__ import annotations

import pytest
from django.urls import reverse

from officines.identifiers import luhn_check_digit
from officines.models import PharmacistAccess
from portal.models import AuditEvent
from tests.ui.html_checker import assert_valid_html

pytestmark = pytest.mark.django_db

RPPS = "1000000001" + luhn_check_digit("1000000001")
WRONG_KEY = RPPS[:-1] + str((int(RPPS[-1]) + 1) % 10)


def access_of(tenant) -> PharmacistAccess:
    return PharmacistAccess.objects.get(user=tenant.pharmacist, officine=tenant.pharmacist_officine)


def test_staff_see_the_accesses_writers_edit_them(tenant_a, client_for):
    access = access_of(tenant_a)
    page_url = tenant_a.pharmacist_officine.get_absolute_url()
    for user, editable in ((tenant_a.admin, True), (tenant_a.operator, True)):
        page = client_for(user).get(page_url)
        body = page.content.decode()
        assert tenant_a.pharmacist.email in body
        assert (reverse("officines:access_rpps", args=[access.pk]) in body) is editable
        assert_valid_html(page)
    viewer_page = client_for(tenant_a.viewer).get(page_url).content.decode()
    assert tenant_a.pharmacist.email in viewer_page
    assert reverse("officines:access_remove", args=[access.pk]) not in viewer_page
    # The pharmacist does not get the list of the officine's pharmacists.
    mine = client_for(tenant_a.pharmacist).get(page_url).content.decode()
    assert 'id="pharmacist-accesses"' not in mine


def test_rpps_is_validated_set_cleared_and_audited(tenant_a, client_for):
    access = access_of(tenant_a)
    client = client_for(tenant_a.operator)
    url = reverse("officines:access_rpps", args=[access.pk])
    for bad in (WRONG_KEY, "1234", "1000000001a"):
        response = client.post(url, {"rpps": bad}, follow=True)
        assert response.status_code == 200
        assert "RPPS" in response.content.decode()
        access.refresh_from_db()
        assert access.rpps == ""
    response = client.post(url, {"rpps": f" {RPPS[:5]} {RPPS[5:]} "})
    assert response.status_code == 302
    access.refresh_from_db()
    assert access.rpps == RPPS
    event = AuditEvent.objects.get(action="pharmacist_access.rpps_set")
    assert event.details["after"] == RPPS and event.actor == tenant_a.operator
    client.post(url, {"rpps": ""})
    access.refresh_from_db()
    assert access.rpps == ""


def test_an_rpps_names_one_pharmacist(tenant_a, client_for):
    from tests.factories import PharmacistAccessFactory, UserFactory

    other = PharmacistAccessFactory(
        user=UserFactory(), officine=tenant_a.pharmacist_officine, rpps=RPPS
    )
    access = access_of(tenant_a)
    client = client_for(tenant_a.admin)
    client.post(reverse("officines:access_rpps", args=[access.pk]), {"rpps": RPPS})
    access.refresh_from_db()
    assert access.rpps == "" and other.rpps == RPPS


def test_viewers_and_pharmacists_cannot_change_and_foreign_accesses_are_404(
    tenant_a, tenant_b, client_for
):
    access = access_of(tenant_a)
    url = reverse("officines:access_rpps", args=[access.pk])
    remove = reverse("officines:access_remove", args=[access.pk])
    for user in (tenant_a.viewer, tenant_a.pharmacist):
        assert client_for(user).post(url, {"rpps": RPPS}).status_code == 403
        assert client_for(user).post(remove).status_code == 403
    for user in (tenant_b.admin, tenant_b.operator):
        assert client_for(user).post(url, {"rpps": RPPS}).status_code == 404
        assert client_for(user).post(remove).status_code == 404
    access.refresh_from_db()
    assert access.rpps == ""


def test_remove_an_access(tenant_a, client_for):
    access = access_of(tenant_a)
    officine = tenant_a.pharmacist_officine
    client = client_for(tenant_a.admin)
    response = client.post(reverse("officines:access_remove", args=[access.pk]))
    assert response.status_code == 302
    assert not PharmacistAccess.objects.filter(pk=access.pk).exists()
    assert AuditEvent.objects.filter(action="pharmacist_access.removed").exists()
    # No officine left: they are no longer a pharmacist of the portal at all.
    assert client_for(tenant_a.pharmacist).get(officine.get_absolute_url()).status_code in (
        403,
        404,
    )
