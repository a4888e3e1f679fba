"""403/404/500 pages: French by default, in the portal's layout; the API keeps problem JSON."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from portal.api.problems import handler500

pytestmark = pytest.mark.django_db


def test_404_page_is_french_with_the_menu(tenant_a, client_for):
    response = client_for(tenant_a.operator).get("/nulle-part/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "Page introuvable" in body and '<html lang="fr">' in body
    assert reverse("dashboard") in body  # the navigation of the layout
    assert "favicon.svg" in body


def test_403_page_is_french_with_the_layout(tenant_a, client_for):
    response = client_for(tenant_a.pharmacist).get(reverse("dashboard"))
    body = response.content.decode()
    assert response.status_code == 403
    assert "Accès refusé" in body and reverse("certificates:my_officines") in body


def test_500_page_renders_without_a_request_context():
    response = handler500(RequestFactory().get("/officines/"))
    body = response.content.decode()
    assert response.status_code == 500
    assert "Erreur du serveur" in body and 'class="topbar"' in body


def test_api_errors_stay_problem_json(tenant_a, client_for):
    response = client_for(tenant_a.operator).get("/api/v1/nulle-part/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    problem = handler500(RequestFactory().get("/api/v1/officines/"))
    assert problem["Content-Type"].startswith("application/problem+json")


def test_english_browser_gets_english_error_pages(client):
    response = client.get("/nowhere/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.status_code == 404 and "Page not found" in response.content.decode()
