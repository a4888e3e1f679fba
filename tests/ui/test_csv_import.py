"""CSV import of officines: preview with per-row errors, all-or-nothing, encodings, worker path."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from officines import identifiers, tasks
from officines.csv_import.plan import officines_import_plan
from officines.csv_import.reading import CsvFileError, decode_csv, detect_delimiter
from officines.csv_import.stored import SYNC_MAX_ROWS
from officines.csv_import.write import ImportRefused, officines_import_rows
from officines.models import ImportStatus, Officine, OfficineImport
from portal.models import AuditEvent, OutboxMessage
from tests.factories import TechnicalAdministratorFactory
from tests.helpers.certificates import bulk_officines

pytestmark = pytest.mark.django_db

HEADER = [
    "FINESS géographique",
    "FINESS juridique",
    "Raison sociale",
    "Adresse",
    "Code postal",
    "Ville",
    "E-mail de notification",
    "E-mail en copie",
    "Mode de délégation",
    "Carte de l'administrateur technique",
]
# Valid FINESS numbers (Luhn key checked by officines.identifiers).
GOOD = ["760021832", "130000011", "690001029", "330000019"]


def csv_file(rows, *, sep=";", encoding="utf-8", bom=False, header=HEADER, name="officines.csv"):
    text = "\r\n".join(sep.join(row) for row in [header, *rows]) + "\r\n"
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    return SimpleUploadedFile(name, data, content_type="text/csv")


def row(finess, name, *, card="", city="Rouen", email="officine@example.fr", mode="editeur"):
    return [finess, "", name, "1 rue Jeanne d'Arc", "76000", city, email, "", mode, card]


def upload(client, file, **extra):
    return client.post(reverse("officines:import"), {"file": file, **extra})


def latest_import() -> OfficineImport:
    return OfficineImport.objects.latest("id")


def confirm(client, officine_import, **data):
    return client.post(
        reverse("officines:import_confirm", args=[officine_import.pk]), data, follow=True
    )


@pytest.fixture
def operator(tenant_a, client_for):
    return client_for(tenant_a.operator)


def test_upload_page_renders_for_writers_only(tenant_a, client_for):
    for role in ("admin", "operator"):
        response = client_for(getattr(tenant_a, role)).get(reverse("officines:import"))
        assert response.status_code == 200
        assert 'type="file"' in response.content.decode()
    assert client_for(tenant_a.viewer).get(reverse("officines:import")).status_code == 403
    assert client_for(tenant_a.pharmacist).get(reverse("officines:import")).status_code == 403
    template = client_for(tenant_a.viewer).get(reverse("officines:import_template"))
    body = b"".join(template.streaming_content).decode()
    assert body.startswith("\ufeffFINESS géographique;")


def test_bad_rows_are_listed_and_nothing_is_imported(tenant_a, operator):
    before = Officine.objects.count()
    rows = [
        row(GOOD[0], "PHARMACIE NORMANDE", card=tenant_a.administrator.card_number),
        row("760021833", "PHARMACIE A LA MAUVAISE CLE"),  # wrong Luhn key (line 3)
        row(GOOD[1], ""),  # no raison sociale (line 4)
        row(GOOD[2], "PHARMACIE SANS ADMIN CONNU", card="8999999999"),  # unknown card (line 5)
    ]
    response = upload(operator, csv_file(rows))
    officine_import = latest_import()
    assert response.status_code == 302 and response.url == officine_import.get_absolute_url()
    assert officine_import.status == ImportStatus.VALIDATED
    assert officine_import.invalid_rows == 3
    errors = {(e["row"], e["field"]) for e in officine_import.errors}
    assert errors == {(3, "finess"), (4, "raison_sociale"), (5, "administrator_card")}

    page = operator.get(officine_import.get_absolute_url())
    body = page.content.decode()
    assert "Luhn" in body or "clé" in body
    assert "8999999999" in body
    assert 'name="valid_only"' in body
    assert [r["action"] for r in page.context["preview_rows"]] == [
        "create",
        "error",
        "error",
        "error",
    ]

    refused = confirm(operator, officine_import)
    assert refused.status_code == 200
    assert Officine.objects.count() == before
    officine_import.refresh_from_db()
    assert officine_import.status == ImportStatus.VALIDATED


def test_corrected_file_imports_every_row(tenant_a, operator):
    rows = [
        row(GOOD[0], "PHARMACIE NORMANDE", card=tenant_a.administrator.card_number),
        row(GOOD[1], "PHARMACIE DU VIEUX PORT", city="Marseille"),
        row(GOOD[2], "PHARMACIE DE LA PART-DIEU", city="Lyon", mode="pharmacien"),
    ]
    upload(operator, csv_file(rows))
    officine_import = latest_import()
    assert officine_import.invalid_rows == 0 and officine_import.to_create == 3
    response = confirm(operator, officine_import)
    assert response.status_code == 200
    officine_import.refresh_from_db()
    assert officine_import.status == ImportStatus.DONE
    assert officine_import.created_count == 3
    normande = Officine.objects.get(editor=tenant_a.editor, finess=GOOD[0])
    assert normande.technical_administrator == tenant_a.administrator
    assert normande.department == "76"
    assert (
        Officine.objects.get(editor=tenant_a.editor, finess=GOOD[2]).delegation_mode == "pharmacien"
    )
    event = AuditEvent.objects.get(action="officine.import")
    assert event.details["created"] == 3 and event.editor_id == tenant_a.editor.pk


def test_valid_rows_only_when_asked_explicitly(tenant_a, operator):
    rows = [
        row(GOOD[0], "PHARMACIE NORMANDE"),
        row("760021833", "MAUVAISE CLE"),
        row(GOOD[1], "PHARMACIE OK"),
    ]
    upload(operator, csv_file(rows))
    officine_import = latest_import()
    confirm(operator, officine_import, valid_only="on")
    officine_import.refresh_from_db()
    assert officine_import.status == ImportStatus.DONE
    assert officine_import.mode == "valid_only"
    assert set(
        Officine.objects.filter(editor=tenant_a.editor, finess__in=GOOD).values_list(
            "finess", flat=True
        )
    ) == {
        GOOD[0],
        GOOD[1],
    }


def test_existing_finess_is_updated_and_said_so(tenant_a, operator):
    existing = tenant_a.officine
    rows = [
        row(
            existing.finess, "NOUVELLE RAISON SOCIALE", email=""
        ),  # empty e-mail keeps the current one
        row(
            tenant_a.pharmacist_officine.finess,
            tenant_a.pharmacist_officine.raison_sociale,
            city=tenant_a.pharmacist_officine.city,
            email=tenant_a.pharmacist_officine.notification_email,
            mode="pharmacien",
        ),
        row(GOOD[0], "PHARMACIE NORMANDE"),
    ]
    # The unchanged officine's other columns must match exactly to be "unchanged".
    rows[1][3] = tenant_a.pharmacist_officine.address
    rows[1][4] = tenant_a.pharmacist_officine.postal_code
    upload(operator, csv_file(rows))
    officine_import = latest_import()
    page = operator.get(officine_import.get_absolute_url())
    assert [r["action"] for r in page.context["preview_rows"]] == ["update", "unchanged", "create"]
    assert "update" in page.content.decode() or "mettre à jour" in page.content.decode()
    confirm(operator, officine_import)
    existing.refresh_from_db()
    assert existing.raison_sociale == "NOUVELLE RAISON SOCIALE"
    assert existing.notification_email  # kept
    assert existing.technical_administrator == tenant_a.administrator  # empty card column keeps it
    officine_import.refresh_from_db()
    assert (officine_import.created_count, officine_import.updated_count) == (1, 1)


def test_windows_1252_file_with_accents_and_comma_separator(tenant_a, operator):
    rows = [row(GOOD[0], "PHARMACIE DE L'ÉGLISE SAINT-ÉTIENNE", city="Évreux")]
    upload(operator, csv_file(rows, sep=",", encoding="cp1252"))
    confirm(operator, latest_import())
    officine = Officine.objects.get(editor=tenant_a.editor, finess=GOOD[0])
    assert officine.raison_sociale == "PHARMACIE DE L'ÉGLISE SAINT-ÉTIENNE"
    assert officine.city == "Évreux"


def test_utf8_with_bom_and_semicolons(tenant_a, operator):
    upload(operator, csv_file([row(GOOD[0], "PHARMACIE DU CŒUR")], bom=True))
    officine_import = latest_import()
    assert officine_import.invalid_rows == 0
    confirm(operator, officine_import)
    assert (
        Officine.objects.get(editor=tenant_a.editor, finess=GOOD[0]).raison_sociale
        == "PHARMACIE DU CŒUR"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a;b;c\n1;2;3\n", ";"),
        ("a,b,c\n1,2,3\n", ","),
        ("FINESS;Raison sociale, SA\n", ";"),
    ],
)
def test_separator_detection(text, expected):
    assert detect_delimiter(text) == expected


def test_decoding_rules():
    assert decode_csv("é".encode()) == "é"
    assert decode_csv(b"\xef\xbb\xbf\xc3\xa9") == "é"
    assert decode_csv("é€".encode("cp1252")) == "é€"
    with pytest.raises(CsvFileError):
        decode_csv(b"\xff\xfeF\x00")  # UTF-16
    with pytest.raises(CsvFileError):
        decode_csv(b"\x81\x8d")  # undefined in cp1252 and not UTF-8


def test_duplicate_finess_in_the_file_is_an_error(tenant_a, operator):
    upload(operator, csv_file([row(GOOD[0], "A"), row(GOOD[0], "B")]))
    (error,) = latest_import().errors
    assert error["row"] == 3 and error["field"] == "finess"


def test_missing_column_is_reported_at_upload_and_nothing_is_stored(tenant_a, operator):
    response = upload(operator, csv_file([["760021832", "Rouen"]], header=["FINESS", "Ville"]))
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not OfficineImport.objects.exists()


def test_twenty_megabyte_upload_is_refused_and_nothing_changes(tenant_a, operator):
    big = SimpleUploadedFile("huge.csv", b"x" * (20 * 1024 * 1024), content_type="text/csv")
    response = upload(operator, big)
    assert response.status_code == 413
    assert not OfficineImport.objects.exists()


def test_file_over_the_limit_is_a_form_error(tenant_a, operator, settings):
    settings.MAX_UPLOAD_SIZE = 1000
    data = csv_file([row(GOOD[0], "P" * 60)] * 20)
    assert data.size > 1000
    response = upload(operator, data)
    assert response.status_code == 200
    assert "too large" in str(
        response.context["form"].errors["file"]
    ).lower() or "volumineux" in str(response.context["form"].errors["file"])
    assert not OfficineImport.objects.exists()


def test_large_file_runs_in_the_worker_with_progress(tenant_a, operator, client_for):
    count = SYNC_MAX_ROWS + 100
    bulk = [
        row(identifiers.generate_finess("44", 1000 + i), f"PHARMACIE {i}") for i in range(count)
    ]
    upload(operator, csv_file(bulk))
    officine_import = latest_import()
    assert officine_import.status == ImportStatus.VALIDATING
    message = OutboxMessage.objects.get(task="officines.tasks.officine_import_validate")
    assert message.kwargs == {"import_id": officine_import.pk}

    page = operator.get(officine_import.get_absolute_url())
    assert 'hx-trigger="every 1s"' in page.content.decode()
    progress = operator.get(
        reverse("officines:import_progress", args=[officine_import.pk]), HTTP_HX_REQUEST="true"
    )
    assert progress.status_code == 200 and "<progress" in progress.content.decode()

    tasks.officine_import_validate(officine_import.pk)  # what the worker runs
    officine_import.refresh_from_db()
    assert officine_import.status == ImportStatus.VALIDATED
    assert (officine_import.processed, officine_import.to_create) == (count, count)
    done = operator.get(
        reverse("officines:import_progress", args=[officine_import.pk]), HTTP_HX_REQUEST="true"
    )
    assert done["HX-Refresh"] == "true"

    confirm(operator, officine_import)
    officine_import.refresh_from_db()
    assert officine_import.status == ImportStatus.IMPORTING
    assert OutboxMessage.objects.filter(task="officines.tasks.officine_import_apply").exists()
    tasks.officine_import_apply(officine_import.pk)
    tasks.officine_import_apply(officine_import.pk)  # a second delivery does nothing
    officine_import.refresh_from_db()
    assert officine_import.status == ImportStatus.DONE
    assert Officine.objects.filter(editor=tenant_a.editor, department="44").count() == count
    assert AuditEvent.objects.filter(action="officine.import").count() == 1


def test_service_refuses_a_file_with_errors_and_writes_nothing(tenant_a):
    text = "FINESS;Raison sociale\n760021832;OK\n760021833;CLE FAUSSE\n"
    with pytest.raises(ImportRefused):
        officines_import_rows(editor_id=tenant_a.editor.pk, text=text)
    assert not Officine.objects.filter(finess="760021832").exists()
    result = officines_import_rows(editor_id=tenant_a.editor.pk, text=text, mode="valid_only")
    assert (result.created, result.skipped) == (1, 1)


def test_update_path_keeps_query_count_flat(tenant_a, django_assert_max_num_queries):
    """Loading existing FINESS and card numbers is one query each, whatever the row count."""
    existing = bulk_officines(tenant_a.editor, 300)
    TechnicalAdministratorFactory(editor=tenant_a.editor, card_number="8123456789")
    lines = ["FINESS;Raison sociale;Carte"] + [
        f"{o.finess};NOUVEAU NOM {o.pk};8123456789" for o in existing
    ]
    with django_assert_max_num_queries(2):
        plan = officines_import_plan(editor_id=tenant_a.editor.pk, text="\n".join(lines))
    assert plan.to_update == 300 and plan.invalid_rows == 0


def test_imports_are_isolated_between_tenants(tenant_a, tenant_b, operator, client_for):
    upload(operator, csv_file([row(GOOD[0], "A")]))
    officine_import = latest_import()
    other = client_for(tenant_b.admin)
    assert other.get(officine_import.get_absolute_url()).status_code == 404
    assert (
        other.post(reverse("officines:import_confirm", args=[officine_import.pk])).status_code
        == 404
    )
    # Tenant A's card numbers are unknown to tenant B.
    other_upload = upload(
        other, csv_file([row(GOOD[0], "B", card=tenant_a.administrator.card_number)])
    )
    assert other_upload.status_code == 302
    assert latest_import().errors[0]["field"] == "administrator_card"
