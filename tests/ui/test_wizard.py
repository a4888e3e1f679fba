"""The certificate request wizard: officine search, service, naming rules checked live,
key mode and CSR, e-mails, review, then the request page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from certificates import x509
from certificates.models import CertificateRequest, RequestStatus
from officines.validators import INSI_MESSAGES
from tests.factories import OfficineFactory
from tests.ui.certificate_support import htmx
from tests.ui.html_checker import assert_valid_html

pytestmark = pytest.mark.django_db

URL = "certificates:request_create"


def step(client, step_name: str, data: dict, *, action: str = "next", **extra):
    return client.post(reverse(URL), {"step": step_name, "action": action, **data}, **extra)


def details(officine, **overrides) -> dict:
    values = {
        "officine": officine.pk,
        "service": "INSI",
        "common_name": "INSI-AUTO",
        "key_mode": "server",
        "requester_email": "admin-tech@lgo.example",
        "contact_email": "",
    }
    values.update(overrides)
    return values


def csr_for(officine, common_name: str = "LGO", finess: str | None = None) -> bytes:
    subject = x509.build_subject(
        department=officine.department_label,
        raison_sociale=officine.raison_sociale,
        finess=finess or officine.finess,
        common_name=common_name,
    )
    return x509.build_csr(private_key=x509.generate_private_key(), subject=subject)


def test_each_step_renders_valid_html_and_carries_the_previous_ones(tenant_a, client_for):
    officine = tenant_a.officine
    officine.cc_email = "associe@pharmacie.example"
    officine.save()
    client = client_for(tenant_a.operator)
    start = client.get(reverse(URL))
    assert start.status_code == 200
    assert_valid_html(start)
    assert officine.finess in start.content.decode()

    service = step(client, "officine", {"officine": officine.pk})
    assert service.status_code == 200 and service.context["step"] == "service"
    assert_valid_html(service)
    body = service.content.decode()
    assert f'name="officine" value="{officine.pk}"' in body
    assert "ORG SIGN + ORG AUTH_CLI" in body  # the DMP pair is proposed

    detail = step(client, "service", {"officine": officine.pk, "service": "INSI"})
    assert detail.context["step"] == "details"
    assert_valid_html(detail)
    form = detail.context["form"]
    # E-mails prefilled from the technical administrator and the officine's CC.
    assert form["requester_email"].value() == tenant_a.administrator.email
    assert form["contact_email"].value() == "associe@pharmacie.example"
    body = detail.content.decode()
    assert 'hx-get="/certificates/requests/new/check-cn/"' in body
    assert 'list="insi-names"' in body and "INSI-MANU" in body

    review = step(client, "details", details(officine))
    assert review.context["step"] == "review"
    assert_valid_html(review)
    assert "INSI-AUTO" in review.content.decode()

    back = step(client, "review", details(officine), action="back")
    assert back.context["step"] == "details"
    assert back.context["form"]["common_name"].value() == "INSI-AUTO"


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("insi-auto", "insi_case"),
        ("INSI AUTO", "insi_space"),
        (" INSI-AUTO", "insi_space"),
        ("INSI", "insi_unknown"),
    ],
)
def test_live_cn_check_explains_the_insi_rule(tenant_a, client_for, typed, code):
    client = client_for(tenant_a.operator)
    response = client.get(
        reverse("certificates:wizard_check_cn"),
        {"officine": tenant_a.officine.pk, "service": "INSI", "common_name": typed},
        **htmx(),
    )
    assert response.status_code == 200
    assert response.context["messages_list"] == [str(INSI_MESSAGES[code])]
    assert b"errorlist" in response.content and b"<html" not in response.content


def test_live_cn_check_accepts_good_names(tenant_a, client_for):
    client = client_for(tenant_a.operator)
    url = reverse("certificates:wizard_check_cn")
    for service, name in (("INSI", "INSI-AUTO"), ("INSI", "INSI-MANU"), ("PSC", "Proxy PSC Lyon")):
        response = client.get(
            url, {"officine": tenant_a.officine.pk, "service": service, "common_name": name}
        )
        assert response.context["messages_list"] == [] and response.context["checked"]
        assert b'class="ok"' in response.content
    too_long = client.get(
        url, {"officine": tenant_a.officine.pk, "service": "PSC", "common_name": "é" * 40}
    )
    assert too_long.context["messages_list"]
    # Another tenant's officine is not checked (nothing leaks, nothing judged).
    foreign = OfficineFactory()
    response = client.get(url, {"officine": foreign.pk, "service": "INSI", "common_name": "x"})
    assert response.status_code == 200 and response.context["checked"] is False


def test_insi_wizard_refuses_a_bad_cn_then_creates_the_request(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    officine = tenant_a.officine
    client = client_for(tenant_a.operator)
    refused = step(client, "details", details(officine, common_name="insi-auto"))
    assert refused.status_code == 400 and refused.context["step"] == "details"
    assert refused.context["form"].errors["common_name"] == [str(INSI_MESSAGES["insi_case"])]
    assert_valid_html(refused)
    assert str(INSI_MESSAGES["insi_case"]) in refused.content.decode().replace("&#x27;", "'")

    step(client, "details", details(officine))
    with django_capture_on_commit_callbacks(execute=True):
        created = step(client, "review", details(officine), action="create")
    request = CertificateRequest.objects.get()
    assert created.status_code == 302 and created["Location"] == request.get_absolute_url()
    assert request.common_name == "INSI-AUTO" and request.services == ["INSI"]
    assert request.profile == "ORG_AUTH_CLI" and request.requester_email == "admin-tech@lgo.example"
    assert request.status == RequestStatus.CSR_READY  # key generated by the (eager) task
    assert request.created_by == tenant_a.operator


def test_htmx_steps_return_the_wizard_fragment_and_redirect_client_side(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    client = client_for(tenant_a.operator)
    fragment = step(client, "officine", {"officine": tenant_a.officine.pk}, **htmx())
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="wizard"') and "<html" not in body
    with django_capture_on_commit_callbacks(execute=True):
        created = step(client, "review", details(tenant_a.officine), action="create", **htmx())
    assert created.status_code == 200
    assert created["HX-Redirect"] == CertificateRequest.objects.get().get_absolute_url()


def test_officine_search_fragment(tenant_a, tenant_b, client_for):
    lyon = OfficineFactory(editor=tenant_a.editor, raison_sociale="PHARMACIE DES TERREAUX")
    client = client_for(tenant_a.operator)
    url = reverse("certificates:wizard_officines")
    by_name = client.get(url, {"q": "terreaux"}, **htmx())
    assert [o.pk for o in by_name.context["results"]] == [lyon.pk]
    assert_valid_html(by_name)
    by_finess = client.get(url, {"q": lyon.finess[:7]})
    assert lyon in by_finess.context["results"]
    foreign = client.get(url, {"q": tenant_b.officine.finess})
    assert foreign.context["results"] == []
    # Without JavaScript, the search button (or Enter in the search box) does the same.
    no_js = step(client, "officine", {"q": "terreaux"}, action="next")
    assert no_js.context["step"] == "officine" and list(no_js.context["results"]) == [lyon]
    missing = step(client, "officine", {})
    assert missing.status_code == 400 and missing.context["form"].errors["officine"]


def test_dmp_creates_the_two_certificates_it_needs(
    tenant_a, client_for, django_capture_on_commit_callbacks
):
    client = client_for(tenant_a.admin)
    with django_capture_on_commit_callbacks(execute=True):
        created = step(
            client,
            "review",
            details(tenant_a.officine, service="DMP", common_name="DMP Officine"),
            action="create",
        )
    assert created.status_code == 302
    assert f"officine={tenant_a.officine.pk}" in created["Location"]
    profiles = sorted(CertificateRequest.objects.values_list("profile", flat=True))
    assert profiles == ["ORG_AUTH_CLI", "ORG_SIGN"]


def test_csr_mode_with_an_uploaded_csr(tenant_a, client_for, django_capture_on_commit_callbacks):
    officine = tenant_a.officine
    client = client_for(tenant_a.operator)
    values = details(officine, service="PSC", common_name="LGO", key_mode="csr")
    wrong = step(
        client,
        "details",
        {**values, "csr": SimpleUploadedFile("x.csr", csr_for(officine, finess="760021832"))},
    )
    assert wrong.status_code == 400 and wrong.context["form"].errors["csr"]
    good_csr = csr_for(officine)
    review = step(client, "details", {**values, "csr": SimpleUploadedFile("lgo.csr", good_csr)})
    assert review.context["step"] == "review" and review.context["has_csr"]
    carried = review.context["form"]["csr_pem"].value()
    assert "BEGIN CERTIFICATE REQUEST" in carried
    with django_capture_on_commit_callbacks(execute=True):
        step(client, "review", {**values, "csr_pem": carried}, action="create")
    request = CertificateRequest.objects.get()
    assert request.status == RequestStatus.CSR_READY and request.encrypted_private_key is None
    # A CSR-mode request without CSR waits for its upload on the request page.
    with django_capture_on_commit_callbacks(execute=True):
        step(client, "review", {**values, "common_name": "LGO 2"}, action="create")
    assert CertificateRequest.objects.get(common_name="LGO 2").status == RequestStatus.AWAITING_CSR


def test_service_error_at_creation_sends_back_to_the_right_step(tenant_a, client_for):
    """DMP needs two keys: one CSR cannot serve both (the service says so at creation)."""
    officine = tenant_a.officine
    client = client_for(tenant_a.operator)
    values = details(
        officine,
        service="DMP",
        common_name="DMP",
        key_mode="csr",
        csr_pem=csr_for(officine, common_name="DMP").decode(),
    )
    response = step(client, "review", values, action="create")
    assert response.status_code == 400 and response.context["step"] == "details"
    assert response.context["form"].errors["csr"]
    assert not CertificateRequest.objects.exists()


def test_who_may_use_the_wizard(tenant_a, tenant_b, client_for, django_capture_on_commit_callbacks):
    assert client_for(tenant_a.viewer).get(reverse(URL)).status_code == 403
    # A pharmacist in "pharmacien" mode orders for their own officine only.
    pharmacist = client_for(tenant_a.pharmacist)
    start = pharmacist.get(reverse(URL))
    assert [o.pk for o in start.context["results"]] == [tenant_a.pharmacist_officine.pk]
    foreign = step(pharmacist, "review", details(tenant_a.officine), action="create")
    assert foreign.status_code == 400 and foreign.context["form"].errors["officine"]
    with django_capture_on_commit_callbacks(execute=True):
        ok = step(pharmacist, "review", details(tenant_a.pharmacist_officine), action="create")
    assert ok.status_code == 302
    assert CertificateRequest.objects.get().officine == tenant_a.pharmacist_officine
    # In "editeur" mode the pharmacist reads only.
    tenant_a.pharmacist_officine.delegation_mode = "editeur"
    tenant_a.pharmacist_officine.save()
    assert pharmacist.get(reverse(URL)).status_code == 403
    refused = step(pharmacist, "review", details(tenant_a.pharmacist_officine), action="create")
    assert refused.status_code == 403
    assert client_for(tenant_a.viewer).post(reverse(URL), {"step": "officine"}).status_code == 403
    # An operator of B cannot name A's officine.
    other = step(client_for(tenant_b.operator), "officine", {"officine": tenant_a.officine.pk})
    assert other.status_code == 400
    assert CertificateRequest.objects.count() == 1


def test_preselected_officine_starts_at_the_service_step(tenant_a, client_for):
    client = client_for(tenant_a.operator)
    response = client.get(reverse(URL), {"officine": tenant_a.officine.pk})
    assert response.context["step"] == "service"
    ignored = client.get(reverse(URL), {"officine": 999999})
    assert ignored.context["step"] == "officine"


def test_new_request_button_only_for_those_who_may_order(tenant_a, client_for):
    from tests.factories import PharmacistAccessFactory

    url = reverse("certificates:request_list")
    assert client_for(tenant_a.pharmacist).get(url).context["can_create"]  # mode pharmacien
    editeur_mode = PharmacistAccessFactory(officine=tenant_a.officine).user  # mode éditeur
    assert not client_for(editeur_mode).get(url).context["can_create"]
    assert client_for(editeur_mode).get(reverse(URL)).status_code == 403
