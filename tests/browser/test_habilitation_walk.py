"""Habilitation per officine and form 503 in a real browser (JavaScript on).

An operator records a habilitation from a pasted FINESS list, sees the « ne pas commander »
count on the dashboard, then hands an officine over to another administrator: the form 503
is pending (the officine keeps its administrator) until marked « traité par l'ANS ».
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from officines.models import AdministratorChange, Officine, OfficineHabilitation
from tests.factories import TechnicalAdministratorFactory
from tests.helpers.browser import log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_habilitation_and_form_503_walk(page_for, screenshot, tenant_a):
    newcomer = TechnicalAdministratorFactory(
        editor=tenant_a.editor, full_name="Inès Nouvelle", card_number="8000111222"
    )
    page = page_for()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, tenant_a.operator.email, totp=True)

    # The dashboard counts the officine nobody may order for, and links to the list.
    page.goto(reverse("dashboard"))
    card = page.locator(".stat.not-habilitated")
    assert card.locator(".stat-value").inner_text().strip() == "1"
    card.locator("a").click()
    page.wait_for_url(re.compile(r"habilitation=none"))
    page.get_by_text(tenant_a.pharmacist_officine.raison_sociale).first.wait_for()
    assert "non habilité" in page.content()

    # Habilitations from a pasted FINESS list.
    page.goto(reverse("officines:habilitations"))
    page.select_option("select[name=administrator]", str(newcomer.pk))
    page.select_option("select[name=state]", "habilitated")
    page.fill("input[name=on]", "2026-03-02")
    page.fill("textarea[name=finess_list]", tenant_a.pharmacist_officine.finess)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(rf"/administrators/{newcomer.pk}/"))
    assert "Habilitée" in page.content()
    screenshot(page, "20-habilitations")
    row = OfficineHabilitation.objects.get(
        officine=tenant_a.pharmacist_officine, administrator=newcomer
    )
    assert row.state == "habilitated" and str(row.habilitated_on) == "2026-03-02"

    # Form 503 from the officine list's selection.
    page.goto(reverse("officines:list"))
    page.check(f"#select-{tenant_a.officine.pk}")
    page.locator("#selection-form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"administrator-change/"))
    page.select_option("select[name=administrator]", str(newcomer.pk))
    page.locator("main form button[type=submit]").first.click()
    page.get_by_text("formulaire 503").first.wait_for()
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/administrator-changes/\d+/"))
    assert "En attente du traitement par l" in page.content()
    screenshot(page, "21-form-503-pending")
    tenant_a.officine.refresh_from_db()
    assert tenant_a.officine.technical_administrator_id == tenant_a.administrator.pk

    page.fill("input[name=processed_on]", "2026-03-10")
    page.locator("form[action$='/process/'] button[type=submit]").click()
    page.get_by_text("Traité par l").first.wait_for()
    change = AdministratorChange.objects.get()
    assert change.status == "processed"
    assert Officine.objects.get(pk=tenant_a.officine.pk).technical_administrator_id == newcomer.pk
    page.goto(tenant_a.officine.get_absolute_url())
    assert "Inès Nouvelle" in page.content()
    screenshot(page, "22-officine-habilitations")
    assert page.js_errors == [], "\n".join(page.js_errors)
