"""Officine and technical administrator pages: roles, filters, coverage, export, administrator change."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import CertificateRequest, Installation
from officines.administrator_changes import administrator_change_process
from officines.models import AdministratorChange, Officine
from portal.models import AuditEvent
from tests.factories import OfficineFactory, TechnicalAdministratorFactory
from tests.helpers.certificates import bulk_officines, clone_certificates

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:]), delimiter=";"))


# --------------------------------------------------------------------------- list


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_list_renders_for_members_with_coverage_columns(
    tenant_a, client_for, role, psc_certificate
):
    response = client_for(getattr(tenant_a, role)).get(reverse("officines:list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert tenant_a.officine.finess in body
    assert tenant_a.pharmacist_officine.finess in body
    assert "Pro Santé Connect" in body
    rows = {o.pk: o for o in response.context["object_list"]}
    cells = {c["service"]: c["state"] for c in rows[tenant_a.officine.pk].coverage_cells}
    assert cells == {"DMP": "missing", "INSI": "missing", "PSC": "covered", "MSSANTE": "missing"}
    writer = role in ("admin", "operator")
    assert ('name="officine"' in body) is writer
    assert (reverse("officines:import") in body) is writer
    assert reverse("officines:export") in body


def test_pharmacist_sees_only_their_officines_without_bulk_actions(tenant_a, client_for):
    response = client_for(tenant_a.pharmacist).get(reverse("officines:list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert tenant_a.pharmacist_officine.finess in body
    assert tenant_a.officine.finess not in body
    assert 'name="officine"' not in body
    assert reverse("officines:export") not in body


def test_search_and_filters(tenant_a, client_for, psc_certificate):
    other = OfficineFactory(
        editor=tenant_a.editor,
        raison_sociale="PHARMACIE DES DOCKS",
        city="Marseille",
        department="13",
        finess="130000011",
    )
    client = client_for(tenant_a.viewer)

    def found(**query) -> set[int]:
        response = client.get(reverse("officines:list"), query)
        assert response.status_code == 200
        return {o.pk for o in response.context["object_list"]}

    assert found(q=other.finess) == {other.pk}
    assert found(q="docks") == {other.pk}
    assert found(q="marseille") == {other.pk}
    assert found(department="13") == {other.pk}
    assert found(delegation_mode="pharmacien") == {tenant_a.pharmacist_officine.pk}
    assert found(technical_administrator=tenant_a.administrator.pk) == {tenant_a.officine.pk}
    assert found(coverage_service="PSC", coverage_state="covered") == {tenant_a.officine.pk}
    assert found(coverage_service="PSC", coverage_state="missing") == {
        other.pk,
        tenant_a.pharmacist_officine.pk,
    }
    # A state without a service: in that state for at least one service.
    assert found(coverage_state="covered") == {tenant_a.officine.pk}
    assert tenant_a.officine.pk in found(coverage_state="missing")


def test_sorting_is_stable_and_reversible(tenant_a, client_for):
    bulk_officines(tenant_a.editor, 5)
    client = client_for(tenant_a.viewer)
    ascending = [
        o.finess
        for o in client.get(reverse("officines:list"), {"o": "finess"}).context["object_list"]
    ]
    descending = [
        o.finess
        for o in client.get(reverse("officines:list"), {"o": "-finess"}).context["object_list"]
    ]
    assert ascending == sorted(ascending)
    assert descending == sorted(ascending, reverse=True)


def test_pagination_and_query_count_do_not_grow_with_officines(
    tenant_a, client_for, django_assert_max_num_queries, psc_certificate
):
    client = client_for(tenant_a.viewer)
    small = bulk_officines(tenant_a.editor, 8, start=10_000)
    clone_certificates(psc_certificate, small)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("officines:list"))
    assert len(response.context["object_list"]) == 10
    many = bulk_officines(tenant_a.editor, 190, start=20_000)
    clone_certificates(psc_certificate, many)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("officines:list"), {"page": 2, "o": "city"})
    assert response.status_code == 200
    assert response.context["paginator"].count == 200
    assert len(response.context["object_list"]) == 50
    with django_assert_max_num_queries(9):
        client.get(
            reverse("officines:list"), {"coverage_service": "PSC", "coverage_state": "covered"}
        )


# --------------------------------------------------------------------------- detail


def test_detail_shows_coverage_timelines_requests_and_installations(
    tenant_a, client_for, psc_certificate
):
    CertificateRequest.objects.create(
        editor=tenant_a.editor,
        officine=tenant_a.officine,
        profile="ORG_SIGN",
        services=["DMP"],
        common_name="DMP-SIGNATURE",
        requester_email="pki@lgo.example",
        status="csr_ready",
    )
    CertificateRequest.objects.create(
        editor=tenant_a.editor,
        officine=tenant_a.officine,
        profile="ORG_SIGN",
        services=["DMP"],
        common_name="OLD-CANCELLED",
        requester_email="pki@lgo.example",
        status="cancelled",
    )
    Installation.objects.create(
        certificate=psc_certificate,
        host="poste-comptoir-1.pharmacie.local",
        installed_at=timezone.now(),
        reported_by="LGO 4.2",
    )
    for role in ("admin", "viewer", "pharmacist"):
        officine = tenant_a.pharmacist_officine if role == "pharmacist" else tenant_a.officine
        response = client_for(getattr(tenant_a, role)).get(
            reverse("officines:detail", args=[officine.pk])
        )
        assert response.status_code == 200, role
    response = client_for(tenant_a.viewer).get(
        reverse("officines:detail", args=[tenant_a.officine.pk])
    )
    body = response.content.decode()
    assert {c["service"]: c["state"] for c in response.context["coverage"]}["PSC"] == "covered"
    assert '<svg class="timeline"' in body
    assert 'class="today"' in body
    (line,) = response.context["timelines"]
    assert 0 <= float(line.x) < float(line.today) < float(line.x) + float(line.width) <= 100.01
    assert "," not in line.x + line.width + line.today  # SVG numbers, never a French decimal comma
    assert "DMP-SIGNATURE" in body
    assert "OLD-CANCELLED" not in body
    assert "poste-comptoir-1.pharmacie.local" in body


def test_detail_links_to_its_certificates(tenant_a, client_for, psc_certificate):
    response = client_for(tenant_a.viewer).get(
        reverse("officines:detail", args=[tenant_a.officine.pk])
    )
    url = reverse("certificates:detail", args=[psc_certificate.pk])
    assert url in response.content.decode()


def test_detail_of_another_tenant_is_404(tenant_a, tenant_b, client_for):
    response = client_for(tenant_b.admin).get(
        reverse("officines:detail", args=[tenant_a.officine.pk])
    )
    assert response.status_code == 404


# --------------------------------------------------------------------------- viewer cannot write


def test_viewer_cannot_post_anything(tenant_a, client_for):
    client = client_for(tenant_a.viewer)
    officine = tenant_a.officine
    assert client.post(reverse("officines:deactivate", args=[officine.pk])).status_code == 403
    assert client.post(reverse("officines:create"), {"finess": "760021832"}).status_code == 403
    other = TechnicalAdministratorFactory(editor=tenant_a.editor)
    response = client.post(
        reverse("officines:reassign"),
        {"officine": [officine.pk], "administrator": other.pk, "confirm": "1"},
    )
    assert response.status_code == 403
    assert client.post(reverse("officines:import")).status_code == 403
    officine.refresh_from_db()
    assert officine.is_active and officine.technical_administrator_id == tenant_a.administrator.pk


# --------------------------------------------------------------------------- administrator change


def test_change_administrator_of_checked_officines_in_two_steps(tenant_a, tenant_b, client_for):
    new = TechnicalAdministratorFactory(editor=tenant_a.editor, full_name="Nadia Nouvelle")
    client = client_for(tenant_a.operator)
    picked = [tenant_a.officine.pk, tenant_a.pharmacist_officine.pk, tenant_b.officine.pk]
    page = client.get(reverse("officines:reassign"), {"officine": picked})
    assert page.status_code == 200
    assert page.context["count"] == 2  # the other tenant's id is simply not found
    data = {"officine": picked, "administrator": new.pk}
    confirm = client.post(reverse("officines:reassign"), data)
    assert confirm.status_code == 200 and confirm.context["confirming"]
    assert "503" in confirm.content.decode()
    assert not Officine.objects.filter(technical_administrator=new).exists()

    done = client.post(reverse("officines:reassign"), {**data, "confirm": "1"}, follow=True)
    assert done.status_code == 200
    # Form 503: pending until ANS processes it, the officines keep their administrator.
    assert not Officine.objects.filter(technical_administrator=new).exists()
    change = AdministratorChange.objects.get()
    assert change.status == "pending" and change.new_administrator == new
    assert set(change.items.values_list("officine_id", flat=True)) == {
        tenant_a.officine.pk,
        tenant_a.pharmacist_officine.pk,
    }
    assert done.redirect_chain[-1][0] == change.get_absolute_url()
    assert any("503" in str(m) for m in done.context["messages"])
    event = AuditEvent.objects.get(action="administrator_change.request")
    assert event.details["form"] == "503" and event.editor_id == tenant_a.editor.pk

    processed = client.post(
        reverse("officines:change_process", args=[change.pk]), {"processed_on": "2026-01-10"}
    )
    assert processed.status_code == 302
    assert set(
        Officine.objects.filter(technical_administrator=new).values_list("pk", flat=True)
    ) == {tenant_a.officine.pk, tenant_a.pharmacist_officine.pk}
    tenant_b.officine.refresh_from_db()
    assert tenant_b.officine.technical_administrator_id == tenant_b.administrator.pk


def test_change_administrator_of_every_filtered_officine(tenant_a, client_for):
    new = TechnicalAdministratorFactory(editor=tenant_a.editor)
    paris = bulk_officines(tenant_a.editor, 3)
    client = client_for(tenant_a.admin)
    query = {"all": "1", "department": "75", "administrator": new.pk, "confirm": "1"}
    assert client.post(reverse("officines:reassign"), query).status_code == 302
    change = AdministratorChange.objects.get()
    assert change.items.count() == 3
    administrator_change_process(change=change, actor=tenant_a.admin)
    assert set(
        Officine.objects.filter(technical_administrator=new).values_list("pk", flat=True)
    ) == {o.pk for o in paris}


def test_administrator_of_another_tenant_cannot_be_chosen(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.admin)
    data = {
        "officine": [tenant_a.officine.pk],
        "administrator": tenant_b.administrator.pk,
        "confirm": "1",
    }
    response = client.post(reverse("officines:reassign"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["administrator"]
    tenant_a.officine.refresh_from_db()
    assert tenant_a.officine.technical_administrator_id == tenant_a.administrator.pk


# --------------------------------------------------------------------------- administrators


def test_administrator_list_counts_active_officines(
    tenant_a, client_for, django_assert_max_num_queries
):
    bulk_officines(tenant_a.editor, 4, technical_administrator=tenant_a.administrator)
    bulk_officines(
        tenant_a.editor,
        2,
        start=60_000,
        technical_administrator=tenant_a.administrator,
        is_active=False,
    )
    client = client_for(tenant_a.viewer)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("officines:administrator_list"))
    assert response.status_code == 200
    counts = {a.pk: a.officine_count for a in response.context["object_list"]}
    assert counts[tenant_a.administrator.pk] == 5  # fixture officine + 4 active
    detail = client.get(reverse("officines:administrator_detail", args=[tenant_a.administrator.pk]))
    assert detail.status_code == 200
    assert detail.context["object"].officine_count == 5
    assert (
        "Habilitation" in detail.content.decode()
        or "habilitation" in detail.content.decode().lower()
    )
    searched = client.get(
        reverse("officines:administrator_list"), {"q": tenant_a.administrator.card_number}
    )
    assert [a.pk for a in searched.context["object_list"]] == [tenant_a.administrator.pk]


# --------------------------------------------------------------------------- export


def test_export_streams_the_filtered_list_as_excel_csv(
    tenant_a, tenant_b, client_for, psc_certificate
):
    client = client_for(tenant_a.viewer)
    response = client.get(reverse("officines:export"), {"delegation_mode": "editeur"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    header, *data = rows
    assert header[0] == "FINESS géographique"
    assert [r[0] for r in data] == [tenant_a.officine.finess]
    assert data[0][9] == tenant_a.administrator.card_number
    assert "Couvert" in data[0] or "Covered" in data[0]
    assert AuditEvent.objects.filter(action="officine.export", editor=tenant_a.editor).exists()
    everything = read_csv(client_for(tenant_b.admin).get(reverse("officines:export")))
    finesses = {r[0] for r in everything[1:]}
    assert finesses == {tenant_b.officine.finess, tenant_b.pharmacist_officine.finess}


def test_export_neutralises_spreadsheet_formulas(tenant_a, client_for):
    OfficineFactory(
        editor=tenant_a.editor,
        raison_sociale='=HYPERLINK("http://x")',
        finess="130000011",
        department="13",
    )
    rows = read_csv(
        client_for(tenant_a.viewer).get(reverse("officines:export"), {"department": "13"})
    )
    assert rows[1][2].startswith("'=")


def test_pages_are_accessible_and_csp_clean(tenant_a, client_for, psc_certificate):
    """Labels tied to fields, CSRF on POST forms, no inline script/style, balanced tags."""
    from officines.models import OfficineImport
    from tests.ui.html_checker import assert_valid_html

    officine_import = OfficineImport.objects.create(
        editor=tenant_a.editor,
        content="FINESS;Raison sociale\n760021833;X\n",
        status="validated",
        total=1,
        invalid_rows=1,
        errors=[{"row": 2, "field": "finess", "message": "Luhn"}],
        preview={
            "rows": [
                {
                    "row": 2,
                    "finess": "760021833",
                    "raison_sociale": "X",
                    "city": "",
                    "action": "error",
                    "errors": [],
                }
            ]
        },
    )
    admin = client_for(tenant_a.admin)
    pages = [
        reverse("dashboard"),
        reverse("officines:list"),
        reverse("officines:list") + "?coverage_state=zzz",  # invalid filter: errors shown
        reverse("officines:detail", args=[tenant_a.officine.pk]),
        reverse("officines:administrator_list"),
        reverse("officines:administrator_detail", args=[tenant_a.administrator.pk]),
        reverse("officines:reassign") + f"?officine={tenant_a.officine.pk}",
        reverse("officines:import"),
        reverse("officines:import_detail", args=[officine_import.pk]),
        reverse("settings"),
        reverse("audit_log"),
    ]
    for url in pages:
        response = admin.get(url)
        assert response.status_code == 200, url
        assert_valid_html(response)
    for url in (
        reverse("officines:list"),
        reverse("officines:detail", args=[tenant_a.pharmacist_officine.pk]),
    ):
        assert_valid_html(client_for(tenant_a.pharmacist).get(url))


def test_editor_staff_can_request_a_certificate_from_the_officine_page(tenant_a, client_for):
    url = reverse("officines:detail", args=[tenant_a.officine.pk])
    link = f"{reverse('certificates:request_create')}?officine={tenant_a.officine.pk}"
    for user in (tenant_a.admin, tenant_a.operator):
        body = client_for(user).get(url).content.decode()
        assert link in body and "Demander un certificat" in body
    assert link not in client_for(tenant_a.viewer).get(url).content.decode()
