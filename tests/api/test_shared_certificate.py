"""One officine's certificate held by two editors (change of LGO), through the API.

The second editor's import used to be refused as "already registered", telling it that
another tenant holds the certificate (issue 12, finding 8).
"""

from __future__ import annotations

import pytest

from certificates.demo_pki import to_pem_bundle
from certificates.models import Certificate
from tests.factories import OfficineFactory
from tests.helpers.api import IMPORT, bearer, issue_certificate

pytestmark = pytest.mark.django_db


def test_each_editor_imports_and_sees_only_its_own_row(
    tenant_a, tenant_b, keys_a, keys_b, pki, shared_key, trust_anchors
):
    shared_b = OfficineFactory(editor=tenant_b.editor, finess=tenant_a.officine.finess)
    cert = issue_certificate(pki, tenant_a.officine, shared_key)
    pem = to_pem_bundle(cert)
    first = bearer(keys_a.write).post(IMPORT, pem, content_type="application/x-pem-file")
    assert first.status_code == 201, first.content
    second = bearer(keys_b.write).post(IMPORT, pem, content_type="application/x-pem-file")
    assert second.status_code == 201, second.content
    body = second.content.decode()
    assert tenant_a.editor.name not in body and "already" not in body
    row_a = Certificate.objects.get(editor=tenant_a.editor)
    row_b = Certificate.objects.get(editor=tenant_b.editor)
    assert row_a.fingerprint_sha256 == row_b.fingerprint_sha256
    assert row_b.officine == shared_b
    listed_b = bearer(keys_b.read).get("/api/v1/certificates/").json()["results"]
    assert [r["id"] for r in listed_b] == [row_b.pk]
    assert bearer(keys_b.read).get(f"/api/v1/certificates/{row_a.pk}/").status_code == 404
    again = bearer(keys_b.write).post(IMPORT, pem, content_type="application/x-pem-file")
    assert again.status_code == 200 and again.json()["duplicates"] == 1
