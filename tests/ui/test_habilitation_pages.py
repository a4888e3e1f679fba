"""Pages: habilitations per officine (one by one, from a FINESS list), the dashboard count,
the « ne pas commander » warnings and the form 503 pages."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from certificates.models import CertificateRequest
from officines.models import AdministratorChange, OfficineHabilitation
from tests.factories import OfficineFactory, TechnicalAdministratorFactory
from tests.helpers.api import bearer, make_keys
from tests.helpers.certificates import bulk_officines
from tests.helpers.tenants import administrator_change_for

pytestmark = pytest.mark.django_db

NOT_HABILITATED = "Ne pas commander : administrateur non habilité"


def test_bulk_habilitation_from_a_pasted_and_an_uploaded_finess_list(tenant_a, client_for):
    admin = TechnicalAdministratorFactory(editor=tenant_a.editor, full_name="Marc Lot")
    officines = bulk_officines(tenant_a.editor, 4)
    client = client_for(tenant_a.operator)
    page = client.get(reverse("officines:habilitations"), {"administrator": admin.pk})
    assert page.status_code == 200 and "bon de commande" in page.content.decode()
    pasted = "\n".join(o.finess for o in officines[:2])
    response = client.post(
        reverse("officines:habilitations"),
        {
            "administrator": admin.pk,
            "state": "requested",
            "on": "2026-02-01",
            "finess_list": pasted,
        },
    )
    assert response.status_code == 302
    upload = SimpleUploadedFile(
        "finess.csv", ("finess;nom\n" + "\n".join(f"{o.finess};x" for o in officines[2:])).encode()
    )
    response = client.post(
        reverse("officines:habilitations"),
        {"administrator": admin.pk, "state": "habilitated", "file": upload},
    )
    assert response.status_code == 302
    states = dict(
        OfficineHabilitation.objects.filter(administrator=admin).values_list(
            "officine__finess", "state"
        )
    )
    assert states == {
        officines[0].finess: "requested",
        officines[1].finess: "requested",
        officines[2].finess: "habilitated",
        officines[3].finess: "habilitated",
    }


def test_bulk_habilitation_refuses_unknown_finess_and_changes_nothing(
    tenant_a, tenant_b, client_for
):
    admin = TechnicalAdministratorFactory(editor=tenant_a.editor)
    client = client_for(tenant_a.admin)
    response = client.post(
        reverse("officines:habilitations"),
        {
            "administrator": admin.pk,
            "state": "habilitated",
            "finess_list": f"{tenant_a.officine.finess}\n{tenant_b.officine.finess}\nABC",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert tenant_b.officine.finess in body and "a été enregistré" in body
    assert not OfficineHabilitation.objects.filter(administrator=admin).exists()
    # Another editor's administrator is not a choice.
    response = client.post(
        reverse("officines:habilitations"),
        {
            "administrator": tenant_b.administrator.pk,
            "state": "revoked",
            "finess_list": tenant_a.officine.finess,
        },
    )
    assert response.status_code == 200 and response.context["form"].errors["administrator"]


def test_viewer_cannot_record_habilitations(tenant_a, client_for):
    client = client_for(tenant_a.viewer)
    assert client.get(reverse("officines:habilitations")).status_code == 403
    response = client.post(
        reverse("officines:officine_habilitation", args=[tenant_a.officine.pk]),
        {"administrator": tenant_a.administrator.pk, "state": "revoked"},
    )
    assert response.status_code == 403
    assert OfficineHabilitation.objects.get(officine=tenant_a.officine).state == "habilitated"


def test_officine_page_shows_administrators_states_and_records_a_step(tenant_a, client_for):
    on_order = TechnicalAdministratorFactory(
        editor=tenant_a.editor, full_name="Lucas Commande", card_number=""
    )
    client = client_for(tenant_a.operator)
    url = reverse("officines:officine_habilitation", args=[tenant_a.officine.pk])
    client.post(url, {"administrator": on_order.pk, "state": "order_to_send"})
    refused = client.post(url, {"administrator": on_order.pk, "state": "habilitated"}, follow=True)
    assert "formulaire 301" in refused.content.decode()
    page = client.get(tenant_a.officine.get_absolute_url())
    body = page.content.decode()
    assert "Lucas Commande" in body and "carte en commande (formulaire 301)" in body
    assert "Bon de commande à envoyer" in body and "Habilitée" in body
    assert NOT_HABILITATED not in body
    # The pharmacist's officine has nobody habilitated.
    other = client.get(tenant_a.pharmacist_officine.get_absolute_url())
    assert NOT_HABILITATED in other.content.decode()


def test_dashboard_counts_officines_nobody_may_order_for(
    tenant_a, client_for, django_assert_max_num_queries
):
    bulk_officines(tenant_a.editor, 3)  # no administrator
    requested = OfficineFactory(
        editor=tenant_a.editor,
        technical_administrator=tenant_a.administrator,
        habilitation="requested",
    )
    client = client_for(tenant_a.viewer)
    response = client.get(reverse("dashboard"))
    # The pharmacist's officine, the 3 bare ones and the one still « demandée ».
    assert response.context["counts"]["not_habilitated"] == 5
    assert "habilitation=none" in response.content.decode()
    listed = client.get(reverse("officines:list"), {"habilitation": "none", "is_active": "yes"})
    pks = {o.pk for o in listed.context["object_list"]}
    assert requested.pk in pks and tenant_a.officine.pk not in pks and len(pks) == 5
    with django_assert_max_num_queries(14):
        page = client.get(reverse("officines:list"))
    assert "non habilité" in page.content.decode()


def test_request_page_and_api_say_do_not_order(tenant_a, client_for):

    keys_a = make_keys(tenant_a)
    request = CertificateRequest.objects.create(
        editor=tenant_a.editor,
        officine=tenant_a.pharmacist_officine,
        profile="ORG_AUTH_CLI",
        services=["PSC"],
        common_name="LGO",
        key_mode="csr",
        requester_email="a@b.fr",
    )
    page = client_for(tenant_a.operator).get(
        reverse("certificates:request_detail", args=[request.pk])
    )
    assert NOT_HABILITATED in page.content.decode()
    body = bearer(keys_a.read).get(f"/api/v1/certificate-requests/{request.pk}/").json()
    assert body["ordering_warning"] == NOT_HABILITATED
    listed = bearer(keys_a.read).get("/api/v1/certificate-requests/").json()["results"]
    assert [r["ordering_warning"] for r in listed] == [NOT_HABILITATED]


# --------------------------------------------------------------------------- form 503


def test_form_503_pages_from_request_to_processing(tenant_a, client_for):
    new = TechnicalAdministratorFactory(editor=tenant_a.editor, full_name="Nina Nouvelle")
    client = client_for(tenant_a.operator)
    response = client.post(
        reverse("officines:reassign"),
        {"officine": [tenant_a.officine.pk], "administrator": new.pk, "confirm": "1"},
    )
    change = AdministratorChange.objects.get()
    assert response.status_code == 302 and response.url == change.get_absolute_url()
    detail = client.get(change.get_absolute_url()).content.decode()
    assert "Nina Nouvelle" in detail and "formulaire 503" in detail.lower()
    officine_page = client.get(tenant_a.officine.get_absolute_url()).content.decode()
    assert "Nina Nouvelle" in officine_page and "En attente" in officine_page
    worksheet = client.get(reverse("officines:change_worksheet", args=[change.pk]))
    rows = list(
        csv.reader(
            io.StringIO(b"".join(worksheet.streaming_content).decode("utf-8-sig")), delimiter=";"
        )
    )
    assert rows[1][0] == tenant_a.officine.finess
    assert rows[1][3] == tenant_a.administrator.card_number and rows[1][5] == new.card_number
    listing = client.get(reverse("officines:change_list"), {"status": "pending"})
    assert [c.pk for c in listing.context["object_list"]] == [change.pk]
    client.post(
        reverse("officines:change_process", args=[change.pk]), {"processed_on": "2026-05-04"}
    )
    change.refresh_from_db()
    assert change.status == "processed"
    tenant_a.officine.refresh_from_db()
    assert tenant_a.officine.technical_administrator_id == new.pk


def test_viewer_can_read_but_not_process_or_cancel_a_503(tenant_a, client_for):

    change = administrator_change_for(tenant_a)
    client = client_for(tenant_a.viewer)
    assert client.get(change.get_absolute_url()).status_code == 200
    assert client.post(reverse("officines:change_cancel", args=[change.pk])).status_code == 403
    assert (
        client.post(
            reverse("officines:change_process", args=[change.pk]), {"processed_on": "2026-01-01"}
        ).status_code
        == 403
    )
    change.refresh_from_db()
    assert change.status == "pending"
    client_for(tenant_a.admin).post(reverse("officines:change_cancel", args=[change.pk]))
    change.refresh_from_db()
    assert change.status == "cancelled"
