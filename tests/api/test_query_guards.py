"""Query guards of the endpoints issue #8 times (bench/api.py): the filtered certificate list,
a certificate, and an officine by FINESS run the same number of queries with 5 rows as
with 50, and the list never reads the PEM columns (TOASTed, ~6 kB a row at national scale).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from certificates.models import Certificate, Installation
from officines.identifiers import generate_finess
from officines.models import Officine
from tests.helpers.api import bearer

pytestmark = pytest.mark.django_db

FILTERED = {"page_size": 100, "status": "valid", "profile": "ORG_AUTH_CLI", "service": "PSC"}
# key look-up + one page (certificates joined with their officine's FINESS)
LIST_BUDGET = 2
# key look-up + certificate (with officine and request) + its installations
DETAIL_BUDGET = 3
# key look-up + officine joined with its stored coverage + its administrators (habilitations)
FINESS_BUDGET = 3


def _certificates(make_certificate, officines: list[Officine], **kwargs) -> None:
    """Really issued certificates, saved one by one (signals included), one per officine."""
    for officine in officines:
        make_certificate(officine, **kwargs)


def _officines(editor, count: int, start: int) -> list[Officine]:
    return Officine.objects.bulk_create(
        Officine(
            editor=editor,
            finess=generate_finess("13", 7000 + start + n),
            raison_sociale=f"PHARMACIE {start + n}",
            department="13",
        )
        for n in range(count)
    )


def _count(client, path: str, params: dict | None = None) -> tuple[int, list[str], object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params or {})
    assert response.status_code == 200, response.content
    return len(captured), [q["sql"] for q in captured.captured_queries], response


def test_filtered_certificate_list_queries_do_not_grow(
    tenant_a, keys_a, make_certificate, django_assert_max_num_queries
):
    make_certificate(tenant_a.officine, services=("PSC",))
    client = bearer(keys_a.read)
    client.get("/api/v1/ping/")  # last_used_at written once, outside the measure
    _certificates(make_certificate, _officines(tenant_a.editor, 4, 0), services=("PSC",))
    at_5, sqls, response = _count(client, "/api/v1/certificates/", FILTERED)
    assert len(response.json()["results"]) == 5
    _certificates(make_certificate, _officines(tenant_a.editor, 45, 100), services=("PSC",))
    with django_assert_max_num_queries(LIST_BUDGET):
        at_50, sqls, response = _count(client, "/api/v1/certificates/", FILTERED)
    results = response.json()["results"]
    assert len(results) == 50 and at_50 == at_5
    assert {row["status"] for row in results} == {"valid"}
    assert all(row["finess"] for row in results)
    page = sqls[-1]
    assert '"certificates_certificate"."pem"' not in page
    assert '"certificates_certificate"."chain_pem"' not in page
    assert '"officines_officine"."raison_sociale"' not in page


def test_certificate_detail_queries_do_not_grow_with_installations(
    tenant_a, keys_a, make_certificate, django_assert_max_num_queries
):
    certificate = make_certificate(tenant_a.officine)
    client = bearer(keys_a.read)
    client.get("/api/v1/ping/")
    path = f"/api/v1/certificates/{certificate.pk}/"

    def install(start: int, count: int) -> None:
        Installation.objects.bulk_create(
            Installation(
                certificate=certificate,
                host=f"poste-{start + n}",
                installed_at=certificate.not_before,
            )
            for n in range(count)
        )

    install(0, 5)
    at_5, sqls, response = _count(client, path)
    assert len(response.json()["installations"]) == 5
    install(5, 45)
    with django_assert_max_num_queries(DETAIL_BUDGET):
        at_50, sqls, response = _count(client, path)
    assert len(response.json()["installations"]) == 50 and at_50 == at_5
    assert response.json()["subject_dn"] == certificate.subject_dn
    assert not any('"certificates_certificate"."pem"' in sql for sql in sqls)


def test_officine_by_finess_queries_do_not_grow_with_certificates(
    tenant_a, keys_a, make_certificate, django_assert_max_num_queries
):
    officine = tenant_a.officine
    make_certificate(officine, services=("PSC",))
    client = bearer(keys_a.read)
    client.get("/api/v1/ping/")
    path = f"/api/v1/officines/{officine.finess}/"
    _certificates(make_certificate, [officine] * 4)
    at_5, _sqls, response = _count(client, path)
    assert response.json()["finess"] == officine.finess
    _certificates(make_certificate, [officine] * 45)
    assert Certificate.objects.filter(officine=officine).count() == 50
    with django_assert_max_num_queries(FINESS_BUDGET):
        at_50, _sqls, response = _count(client, path)
    assert at_50 == at_5
    assert set(response.json()["coverage"]) == {"DMP", "INSI", "PSC", "MSSANTE"}
