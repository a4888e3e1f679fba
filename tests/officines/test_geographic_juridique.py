"""FINESS géographique vs FINESS juridique (ANS guide: order on the géographique)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from officines.csv_import.plan import officines_import_plan
from officines.identifiers import generate_finess
from officines.models import Officine
from officines.services import officine_save
from tests.factories import OfficineFactory
from tests.helpers.api import bearer, make_keys

pytestmark = pytest.mark.django_db


def test_geographique_cannot_equal_juridique(tenant_a):
    officine = Officine(
        editor=tenant_a.editor,
        finess=generate_finess("69", 7001),
        finess_juridique=generate_finess("69", 7001),
        raison_sociale="PHARMACIE MEME NUMERO",
    )
    with pytest.raises(ValidationError) as refused:
        officine_save(officine=officine, actor=tenant_a.operator)
    assert "géographique" in str(refused.value) and "juridique" in str(refused.value)
    assert not Officine.objects.filter(raison_sociale="PHARMACIE MEME NUMERO").exists()


def test_a_known_juridique_is_refused_as_geographique_with_the_difference_explained(tenant_a):
    legal = generate_finess("69", 7100)
    OfficineFactory(editor=tenant_a.editor, finess_juridique=legal, raison_sociale="SITE A")
    officine = Officine(editor=tenant_a.editor, finess=legal, raison_sociale="SITE B")
    with pytest.raises(ValidationError) as refused:
        officine_save(officine=officine, actor=tenant_a.operator)
    errors = refused.value.message_dict
    assert "SITE A" in errors["finess"][0] and "juridique" in errors["finess"][0]
    # And the other way round: another officine's géographique is no juridique.
    site = OfficineFactory(editor=tenant_a.editor)
    officine = Officine(
        editor=tenant_a.editor,
        finess=generate_finess("69", 7200),
        finess_juridique=site.finess,
        raison_sociale="SITE C",
    )
    with pytest.raises(ValidationError) as refused:
        officine_save(officine=officine, actor=tenant_a.operator)
    assert "finess_juridique" in refused.value.message_dict


def test_another_editors_numbers_are_not_consulted(tenant_a, tenant_b):
    legal = generate_finess("69", 7300)
    OfficineFactory(editor=tenant_b.editor, finess_juridique=legal)
    officine = Officine(editor=tenant_a.editor, finess=legal, raison_sociale="LIBRE")
    officine_save(officine=officine, actor=tenant_a.operator)  # no oracle on other tenants


def test_form_and_api_show_the_explanation(tenant_a, client_for):
    legal = generate_finess("69", 7400)
    OfficineFactory(editor=tenant_a.editor, finess_juridique=legal, raison_sociale="SITE JUR")
    response = client_for(tenant_a.operator).post(
        reverse("officines:create"),
        {
            "finess": legal,
            "raison_sociale": "NOUVELLE",
            "environment": "production",
            "delegation_mode": "editeur",
        },
    )
    assert response.status_code == 200
    assert "juridique" in " ".join(response.context["form"].errors["finess"])
    api = bearer(make_keys(tenant_a).write).post(
        "/api/v1/officines/",
        {"finess": legal, "raison_sociale": "NOUVELLE"},
        content_type="application/json",
    )
    assert api.status_code == 400
    assert "SITE JUR" in api.json()["errors"]["finess"][0]


def test_csv_import_refuses_a_juridique_as_geographique(tenant_a):
    legal = generate_finess("69", 7500)
    OfficineFactory(editor=tenant_a.editor, finess_juridique=legal, raison_sociale="SITE CSV")
    text = f"finess;raison_sociale\n{legal};NOUVELLE\n"
    plan = officines_import_plan(editor_id=tenant_a.editor.pk, text=text)
    [row] = plan.rows
    assert row.action == "error"
    assert "SITE CSV" in row.errors[0].message and "juridique" in row.errors[0].message
