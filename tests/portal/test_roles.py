"""What each role may do in the officine and team pages."""

import pytest
from django.urls import reverse

from officines.models import Officine

pytestmark = pytest.mark.django_db


def officine_payload(**overrides) -> dict:
    data = {
        "finess": "760021832",
        "raison_sociale": "PHARMACIE NORMANDE",
        "city": "Rouen",
        "environment": "production",
        "delegation_mode": "editeur",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_writers_create_officines(tenant_a, client_for, role):
    client = client_for(getattr(tenant_a, role))
    response = client.post(reverse("officines:create"), officine_payload())
    assert response.status_code == 302
    officine = Officine.objects.get(finess="760021832")
    assert officine.editor == tenant_a.editor
    assert officine.department == "76"


def test_viewer_and_pharmacist_cannot_create(tenant_a, client_for):
    for user in (tenant_a.viewer, tenant_a.pharmacist):
        response = client_for(user).post(reverse("officines:create"), officine_payload())
        assert response.status_code == 403
    assert not Officine.objects.filter(finess="760021832").exists()


def test_viewer_reads_but_cannot_edit(tenant_a, client_for):
    client = client_for(tenant_a.viewer)
    assert client.get(reverse("officines:detail", args=[tenant_a.officine.pk])).status_code == 200
    response = client.post(
        reverse("officines:update", args=[tenant_a.officine.pk]), officine_payload()
    )
    assert response.status_code == 403


def test_form_error_names_the_field_and_saves_nothing(tenant_a, client_for):
    client = client_for(tenant_a.operator)
    response = client.post(reverse("officines:create"), officine_payload(finess="760021833"))
    assert response.status_code == 200
    assert response.context["form"].errors["finess"]
    assert "Luhn" in response.content.decode()
    assert not Officine.objects.filter(raison_sociale="PHARMACIE NORMANDE").exists()


def test_duplicate_finess_in_form_is_a_field_error(tenant_a, client_for):
    client = client_for(tenant_a.operator)
    response = client.post(
        reverse("officines:create"), officine_payload(finess=tenant_a.officine.finess)
    )
    assert response.status_code == 200
    assert response.context["form"].errors


def test_only_admins_manage_the_team(tenant_a, client_for):
    assert client_for(tenant_a.admin).get(reverse("team")).status_code == 200
    for user in (tenant_a.operator, tenant_a.viewer, tenant_a.pharmacist):
        assert client_for(user).get(reverse("team")).status_code == 403


def test_pharmacist_sees_only_their_officine(tenant_a, client_for):
    client = client_for(tenant_a.pharmacist)
    response = client.get(reverse("officines:list"))
    assert list(response.context["object_list"]) == [tenant_a.pharmacist_officine]
    assert client.get(reverse("officines:detail", args=[tenant_a.officine.pk])).status_code == 404
    other = reverse("officines:detail", args=[tenant_a.pharmacist_officine.pk])
    assert client.get(other).status_code == 200


def test_admin_changes_a_role_and_it_is_audited(tenant_a, client_for):
    from portal.models import AuditEvent, Membership

    membership = Membership.objects.get(user=tenant_a.viewer)
    client_for(tenant_a.admin).post(
        reverse("membership_role", args=[membership.pk]), {"role": "operator"}
    )
    membership.refresh_from_db()
    assert membership.role == "operator"
    event = AuditEvent.objects.get(action="membership.role")
    assert event.details == {"from": "viewer", "to": "operator"}
    assert event.actor == tenant_a.admin
