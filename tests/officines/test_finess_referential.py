"""The FINESS referential seen from the officines: creation rules (form, CSV import, API), the
comparison after each refresh (« à vérifier (FINESS) »), the list filter, dashboard and page."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from finess.models import Refresh
from finess.samples import Site, csv_bytes, json_bytes
from finess.services import referential_import
from officines import identifiers
from officines.csv_import.plan import officines_import_plan
from officines.finess_check import finess_differences
from officines.models import Officine, OfficineFinessCheck, OfficineImport
from tests.factories import OfficineFactory
from tests.helpers.api import bearer, make_keys
from tests.helpers.tenants import logged_in

pytestmark = pytest.mark.django_db

PLACE = identifiers.generate_finess("69", 7001)  # a pharmacie d'officine
CLOSED = identifiers.generate_finess("69", 7002)  # closed in FINESS
HOSPITAL = identifiers.generate_finess("69", 7003)  # another category
JURIDIQUE = identifiers.generate_finess("69", 7100)  # the legal entity of PLACE and SECOND
SECOND = identifiers.generate_finess("69", 7004)
ABSENT = identifiers.generate_finess("69", 7999)


def referential_sites() -> list[Site]:
    return [
        Site(
            PLACE,
            JURIDIQUE,
            "PHARMACIE DE LA PLACE",
            number="3",
            street="BELLECOUR",
            postal_code="69002",
        ),
        Site(
            SECOND,
            JURIDIQUE,
            "PHARMACIE DES TERREAUX",
            number="8",
            street_type="PL",
            street="DES TERREAUX",
        ),
        Site(
            CLOSED,
            identifiers.generate_finess("69", 7101),
            "PHARMACIE FERMEE",
            is_open=False,
            closed_on=date(2026, 1, 31),
        ),
        Site(
            HOSPITAL, identifiers.generate_finess("69", 7102), "CENTRE HOSPITALIER", category="355"
        ),
    ]


@pytest.fixture
def referential(tmp_path):
    path = tmp_path / "complet-finess-structures-20260309.json"
    path.write_bytes(json_bytes(referential_sites()))
    refresh = referential_import(source=str(path))
    assert refresh.status == "done", refresh.message
    return refresh


# --------------------------------------------------------------------------- comparison


def test_refresh_compares_every_editors_officines(tenant_a, tenant_b, tmp_path):
    editor = tenant_a.editor
    ok = OfficineFactory(
        editor=editor,
        finess=PLACE,
        raison_sociale="Pharmacie de la Place",
        address="3 rue Bellecour",
    )
    renamed = OfficineFactory(
        editor=editor,
        finess=SECOND,
        raison_sociale="PHARMACIE DU VIEUX LYON",
        address="8 place des Terreaux",
        postal_code="69003",
    )
    closed = OfficineFactory(
        editor=editor, finess=CLOSED, raison_sociale="PHARMACIE FERMEE", address=""
    )
    other = OfficineFactory(
        editor=tenant_b.editor,
        finess=PLACE,
        raison_sociale="PHARMACIE DE LA PLACE",
        address="12 quai Saint-Antoine",
    )
    path = tmp_path / "complet.json"
    path.write_bytes(json_bytes(referential_sites()))
    refresh = referential_import(source=str(path))

    checks = {c.officine_id: c for c in OfficineFinessCheck.objects.all()}
    assert ok.pk not in checks
    assert checks[renamed.pk].status == "changed"
    assert checks[renamed.pk].differences == [
        {
            "field": "raison_sociale",
            "officine": "PHARMACIE DU VIEUX LYON",
            "referential": "PHARMACIE DES TERREAUX",
        }
    ]
    assert checks[closed.pk].status == "closed"
    assert checks[other.pk].differences[0]["field"] == "address"
    # The factories' officines (tenant fixtures) are absent from FINESS.
    assert checks[tenant_a.officine.pk].status == "missing"
    refresh.refresh_from_db()
    assert refresh.compared_at is not None and refresh.to_verify == len(checks)
    assert checks[closed.pk].data_date == date(2026, 3, 9)

    # Each editor sees only its own differences (the selector other apps hook into).
    assert set(finess_differences([renamed.pk, other.pk], user=tenant_a.admin)) == {renamed.pk}

    # The officine corrected: its row goes at once.
    renamed.raison_sociale = "Pharmacie des Terreaux"
    response = _client(tenant_a).post(
        reverse("officines:update", args=[renamed.pk]), _form_data(renamed)
    )
    assert response.status_code == 302
    assert not OfficineFinessCheck.objects.filter(officine=renamed).exists()


def test_no_referential_no_check(tenant_a):
    from officines.finess_check import finess_compare_all

    assert finess_compare_all() == 0
    assert not OfficineFinessCheck.objects.exists()


def test_comparison_queries_stay_flat(tenant_a, referential, django_assert_max_num_queries):
    from officines.finess_check import finess_compare_editor

    for n in range(60):
        OfficineFactory(editor=tenant_a.editor, finess=identifiers.generate_finess("69", 8000 + n))
    with django_assert_max_num_queries(8):  # officines, établissements, checks, writes
        finess_compare_editor(editor_id=tenant_a.editor.pk)


# --------------------------------------------------------------------------- pages


def _client(tenant):

    return logged_in(tenant.admin)


def _form_data(officine: Officine | None = None, **values) -> dict:
    data = {
        "finess": "",
        "finess_juridique": "",
        "raison_sociale": "",
        "address": "",
        "postal_code": "",
        "city": "",
        "department": "",
        "environment": "production",
        "delegation_mode": "editeur",
        "technical_administrator": "",
        "notification_email": "officine@example.fr",
        "cc_email": "",
    }
    if officine is not None:
        data.update({k: getattr(officine, k) or "" for k in data if k != "technical_administrator"})
    data.update(values)
    return data


def test_list_filter_dashboard_and_officine_page(tenant_a, referential):
    renamed = OfficineFactory(
        editor=tenant_a.editor, finess=SECOND, raison_sociale="PHARMACIE DU VIEUX LYON"
    )
    from officines.finess_check import finess_compare_all

    finess_compare_all()
    client = _client(tenant_a)
    listed = client.get(reverse("officines:list"), {"finess_check": "any"}).content.decode()
    assert "PHARMACIE DU VIEUX LYON" in listed and "À vérifier (FINESS)" in listed
    assert "raison sociale dans FINESS : « PHARMACIE DES TERREAUX »" in listed
    changed_only = client.get(
        reverse("officines:list"), {"finess_check": "changed"}
    ).content.decode()
    assert "PHARMACIE DU VIEUX LYON" in changed_only
    assert tenant_a.officine.raison_sociale not in changed_only  # missing, not changed

    dashboard = client.get(reverse("dashboard")).content.decode()
    assert "À vérifier (FINESS)" in dashboard and "?finess_check=any" in dashboard

    page = client.get(reverse("officines:detail", args=[renamed.pk])).content.decode()
    assert "Référentiel FINESS" in page and "Extraction du 09/03/2026" in page
    assert "PHARMACIE DES TERREAUX" in page and "diffère" in page


# --------------------------------------------------------------------------- creation rules


def test_form_fills_from_a_pharmacie_d_officine(tenant_a, referential):
    client = _client(tenant_a)
    looked_up = client.post(
        reverse("officines:create"), _form_data(finess=PLACE, finess_lookup="1")
    )
    assert looked_up.status_code == 200
    assert 'value="PHARMACIE DE LA PLACE"' in looked_up.content.decode()
    response = client.post(reverse("officines:create"), _form_data(finess=PLACE, city="Lyon 2e"))
    assert response.status_code == 302, response.content.decode()[:2000]
    officine = Officine.objects.get(editor=tenant_a.editor, finess=PLACE)
    assert officine.raison_sociale == "PHARMACIE DE LA PLACE"
    assert (officine.address, officine.postal_code, officine.department) == (
        "3 R BELLECOUR",
        "69002",
        "69",
    )
    assert officine.finess_juridique == JURIDIQUE
    assert officine.city == "Lyon 2e"  # typed: kept, the difference is shown
    follow = client.get(officine.get_absolute_url()).content.decode()
    assert "diffère du référentiel FINESS" in follow


def test_form_refuses_a_juridique_and_lists_its_sites(tenant_a, referential):
    response = _client(tenant_a).post(
        reverse("officines:create"), _form_data(finess=JURIDIQUE, raison_sociale="X")
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "FINESS juridique" in text and PLACE in text and SECOND in text
    assert not Officine.objects.filter(finess=JURIDIQUE).exists()


@pytest.mark.parametrize("number", [ABSENT, CLOSED, HOSPITAL])
def test_form_warning_must_be_confirmed(tenant_a, referential, number):
    client = _client(tenant_a)
    data = _form_data(finess=number, raison_sociale="PHARMACIE NOUVELLE")
    first = client.post(reverse("officines:create"), data)
    assert first.status_code == 200, first
    assert 'id="id_confirm_finess_error"' in first.content.decode()
    assert not Officine.objects.filter(finess=number).exists()
    second = client.post(reverse("officines:create"), {**data, "confirm_finess": "on"})
    assert second.status_code == 302
    assert Officine.objects.filter(finess=number, editor=tenant_a.editor).exists()


def test_without_referential_the_form_is_as_before(tenant_a):
    response = _client(tenant_a).post(
        reverse("officines:create"), _form_data(finess=ABSENT, raison_sociale="PHARMACIE X")
    )
    assert response.status_code == 302


def test_api_creation_rules(tenant_a, referential):
    client = bearer(make_keys(tenant_a).write)
    url = reverse("api:officine-list")
    post = lambda body: client.post(url, json.dumps(body), content_type="application/json")  # noqa: E731
    refused = post({"finess": JURIDIQUE, "raison_sociale": "X"})
    assert refused.status_code == 400 and PLACE in refused.content.decode()
    warned = post({"finess": ABSENT, "raison_sociale": "PHARMACIE NOUVELLE"})
    assert warned.status_code == 400 and "confirm_finess" in warned.content.decode()
    assert (
        post(
            {"finess": ABSENT, "raison_sociale": "PHARMACIE NOUVELLE", "confirm_finess": True}
        ).status_code
        == 201
    )
    created = post({"finess": PLACE})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (
        body["raison_sociale"] == "PHARMACIE DE LA PLACE" and body["finess_juridique"] == JURIDIQUE
    )
    assert "confirm_finess" not in body


def test_csv_import_rules(tenant_a, referential):
    header = "FINESS géographique;Raison sociale;Ville;E-mail de notification"
    lines = [
        header,
        f"{PLACE};;;a@example.fr",
        f"{JURIDIQUE};PHARMACIE JURIDIQUE;Lyon;b@example.fr",
        f"{ABSENT};PHARMACIE NOUVELLE;Lyon;c@example.fr",
    ]
    plan = officines_import_plan(editor_id=tenant_a.editor.pk, text="\n".join(lines))
    rows = {row.finess: row for row in plan.rows}
    assert (
        rows[PLACE].action == "create"
        and rows[PLACE].officine.raison_sociale == "PHARMACIE DE LA PLACE"
    )
    assert rows[JURIDIQUE].action == "error" and PLACE in rows[JURIDIQUE].errors[0].message
    assert rows[ABSENT].warnings and plan.finess_warnings == 1

    client = _client(tenant_a)
    upload = SimpleUploadedFile(
        "officines.csv",
        "\n".join([header, *lines[1:2], lines[3]]).encode(),
        content_type="text/csv",
    )
    client.post(reverse("officines:import"), {"file": upload})
    officine_import = OfficineImport.objects.latest("created_at")
    page = client.get(officine_import.get_absolute_url()).content.decode()
    assert "ne confirme pas" in page and ABSENT in page
    confirm_url = reverse("officines:import_confirm", args=[officine_import.pk])
    client.post(confirm_url, {})
    assert not Officine.objects.filter(finess=ABSENT).exists()  # not confirmed: nothing imported
    client.post(confirm_url, {"confirm_finess": "on"})
    assert set(
        Officine.objects.filter(finess__in=[PLACE, ABSENT]).values_list("finess", flat=True)
    ) == {PLACE, ABSENT}


def test_refresh_row_is_queryable_for_operations(referential):
    from finess.selectors import last_successful_refresh

    assert last_successful_refresh() == Refresh.objects.get(pk=referential.pk)


def test_csv_extract_demo_layout_roundtrip(tmp_path):
    """The historical layout feeds the same referential (used by seed_demo)."""
    path = tmp_path / "etalab.csv"
    path.write_bytes(csv_bytes(referential_sites(), extracted=date(2026, 5, 12)))
    assert referential_import(source=str(path)).loaded == 3  # the closed one is not listed


def test_demo_extract_flags_one_closed_and_one_renamed(settings, tmp_path):
    from officines.demo import seed_officines
    from officines.finess_demo import seed_finess
    from tests.factories import EditorFactory

    settings.FINESS_DROP_DIR = tmp_path
    officines = seed_officines(EditorFactory())
    refresh = seed_finess(officines)
    assert refresh.status == "done" and refresh.to_verify == 2
    statuses = dict(OfficineFinessCheck.objects.values_list("officine_id", "status"))
    assert statuses == {officines[7].pk: "closed", officines[3].pk: "changed"}
