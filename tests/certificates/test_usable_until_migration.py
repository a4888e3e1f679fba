"""The data migration fills `usable_until` of existing rows from their stored certificate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from certificates import x509 as igc
from certificates.demo_pki import add_months
from tests.factories import EditorFactory, OfficineFactory

BEFORE = [("certificates", "0011_certificate_ans_action")]


@pytest.mark.django_db(transaction=True)
def test_existing_certificates_get_usable_until_from_their_pem(pki):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Certificate = apps.get_model("certificates", "Certificate")
    # Only the certificates app went back: the other apps' tables are today's.
    editor = EditorFactory(name="Migration")
    officine = OfficineFactory(editor=editor, finess="690001003", raison_sociale="PHARMACIE")
    start = datetime(2025, 3, 1, 8, tzinfo=UTC)
    rows = {}
    for profile, cn in ((igc.Profile.ORG_SIGN, "SIGN"), (igc.Profile.ORG_AUTH_CLI, "AUTH")):
        _key, cert = pki.issue_for(
            finess=officine.finess,
            raison_sociale=officine.raison_sociale,
            department="Rhône (69)",
            common_name=cn,
            profile=profile,
            not_before=start,
        )
        info = igc.describe_certificate(cert)
        rows[cn] = Certificate.objects.create(
            editor_id=editor.pk,
            officine_id=officine.pk,
            profile=str(profile),
            common_name=cn,
            serial=info.serial,
            subject_dn=info.subject,
            issuer_dn=info.issuer,
            not_before=info.not_before,
            not_after=info.not_after,
            fingerprint_sha256=info.fingerprint_sha256,
            public_key_sha256=info.public_key_sha256,
            chain_status="trusted_production",
            pem=info.pem,
        ).pk

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    from certificates.models import Certificate as Current

    sign = Current.objects.get(pk=rows["SIGN"])
    auth = Current.objects.get(pk=rows["AUTH"])
    assert sign.not_after == add_months(start, 37)
    assert sign.usable_until == add_months(start, 36)
    assert auth.usable_until == auth.not_after
