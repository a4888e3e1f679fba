"""certificates 0016 stores every officine's coverage again, from `usable_until`.

0012 gave existing certificates their `usable_until` without refreshing the stored coverage
that officines 0004 had filled from notAfter: an ORG SIGN covered DMP a month too long.
"""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps

from certificates.coverage import coverage_drift
from certificates.coverage_store import OfficineCoverage

migration = import_module("certificates.migrations.0016_coverage_from_usable_until")

pytestmark = pytest.mark.django_db


def test_stored_notafter_dates_become_usable_until(tenant_a, make_certificate):
    officine = tenant_a.officine
    sign = make_certificate(officine, profile="ORG_SIGN", services=("DMP",))
    make_certificate(officine, common_name="INSI-AUTO", services=("DMP", "INSI", "ROR"))
    assert sign.usable_until < sign.not_after
    # What a database upgraded through 0012 held: the notAfter officines 0004 stored.
    OfficineCoverage.objects.filter(officine=officine).update(dmp_sign_until=sign.not_after)
    assert coverage_drift() == [officine.pk]
    migration.refresh_coverage(apps, None)
    assert coverage_drift() == []
    assert OfficineCoverage.objects.get(officine=officine).dmp_sign_until == sign.usable_until


def test_rows_without_live_certificates_go(tenant_a, make_certificate):
    certificate = make_certificate(tenant_a.officine, services=("PSC",))
    OfficineCoverage.objects.create(
        officine=tenant_a.pharmacist_officine,
        editor_id=tenant_a.editor.pk,
        psc_until=certificate.not_after,
    )
    migration.refresh_coverage(apps, None)
    assert list(OfficineCoverage.objects.values_list("officine_id", flat=True)) == [
        tenant_a.officine.pk
    ]
