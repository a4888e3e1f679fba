"""Mode de délégation and administrator agree (ANS guide): « éditeur » ⇒ CPA of the editor,
« pharmacien » ⇒ CPS of the pharmacien titulaire or adjoint; refused in form, API and CSV."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from officines.csv_import.plan import officines_import_plan
from officines.models import Officine
from portal.models import AuditEvent
from tests.factories import TechnicalAdministratorFactory
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _french():
    with translation.override("fr"):
        yield


def test_api_refuses_a_mismatch_and_audits_a_mode_change(tenant_a):
    client = logged_in(tenant_a.operator)
    url = f"/api/v1/officines/{tenant_a.officine.finess}/"  # its administrator holds a CPA
    response = client.patch(url, {"delegation_mode": "pharmacien"}, "application/json")
    assert response.status_code == 400, response.content
    assert "carte CPS" in response.content.decode()
    assert Officine.objects.get(pk=tenant_a.officine.pk).delegation_mode == "editeur"
    cps = TechnicalAdministratorFactory(editor=tenant_a.editor, card_type="CPS")
    response = client.patch(
        url,
        {"delegation_mode": "pharmacien", "technical_administrator": cps.pk},
        "application/json",
    )
    assert response.status_code == 200, response.content
    change = AuditEvent.objects.get(action="officine.delegation_mode")
    assert change.details == {"from": "editeur", "to": "pharmacien"}


def test_form_refuses_a_mismatch(tenant_a):
    cps = TechnicalAdministratorFactory(editor=tenant_a.editor, card_type="CPS")
    officine = tenant_a.officine
    response = logged_in(tenant_a.operator).post(
        reverse("officines:update", args=[officine.pk]),
        {
            "finess": officine.finess,
            "raison_sociale": officine.raison_sociale,
            "postal_code": officine.postal_code,
            "city": officine.city,
            "department": officine.department,
            "environment": "production",
            "delegation_mode": "editeur",
            "technical_administrator": cps.pk,
            "notification_email": officine.notification_email,
        },
    )
    assert response.status_code == 200
    assert "carte CPA" in response.content.decode()
    officine.refresh_from_db()
    assert officine.technical_administrator_id == tenant_a.administrator.pk


def test_csv_import_refuses_a_mismatch(tenant_a):
    card = tenant_a.administrator.card_number  # a CPA
    text = (
        "FINESS;Raison sociale;Mode de délégation;Carte de l'administrateur\n"
        f"760021832;PHARMACIE NORMANDE;pharmacien;{card}\n"
    )
    plan = officines_import_plan(editor_id=tenant_a.editor.pk, text=text)
    messages = " ".join(str(e.message) for e in plan.errors)
    assert "carte CPS" in messages, messages


def test_changing_the_mode_in_the_page_asks_for_confirmation(tenant_a):
    cps = TechnicalAdministratorFactory(editor=tenant_a.editor, card_type="CPS")
    officine = tenant_a.officine
    data = {
        "finess": officine.finess,
        "raison_sociale": officine.raison_sociale,
        "postal_code": officine.postal_code,
        "city": officine.city,
        "department": officine.department,
        "environment": "production",
        "delegation_mode": "pharmacien",
        "technical_administrator": cps.pk,
        "notification_email": officine.notification_email,
    }
    client = logged_in(tenant_a.admin)
    url = reverse("officines:update", args=[officine.pk])
    page = client.post(url, data)
    assert page.status_code == 200
    body = page.content.decode()
    assert "sans délégation à son éditeur" in body and 'name="confirm_mode"' in body
    assert Officine.objects.get(pk=officine.pk).delegation_mode == "editeur"
    assert client.post(url, {**data, "confirm_mode": "1"}).status_code == 302
    assert Officine.objects.get(pk=officine.pk).delegation_mode == "pharmacien"
    assert AuditEvent.objects.filter(action="officine.delegation_mode").count() == 1


def test_kind_of_administrator_agrees_with_the_card(tenant_a):
    from django.core.exceptions import ValidationError

    from officines.models import TechnicalAdministrator

    cps = TechnicalAdministratorFactory(editor=tenant_a.editor, card_type="CPS")
    assert cps.kind == "titulaire" and tenant_a.administrator.kind == "editor"  # deduced
    wrong = TechnicalAdministrator(
        editor=tenant_a.editor,
        full_name="Mme Adjointe",
        email="adjointe@pharmacie.fr",
        kind="adjoint",
        card_type="CPA",
        card_number="8000099999",
    )
    with pytest.raises(ValidationError) as info:
        wrong.full_clean()
    assert "carte CPS" in " ".join(info.value.message_dict["kind"])
    wrong.card_type = "CPS"
    wrong.full_clean()
