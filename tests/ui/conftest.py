"""Helpers of the web UI tests: bulk officines and certificates, CSV files."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from certificates.coverage import coverage_refresh
from certificates.models import Certificate
from officines import identifiers
from officines.models import Officine


def bulk_officines(editor, count: int, *, start: int = 50_000, department: str = "75", **fields):
    """`count` valid officines of `editor` in one query (FINESS with their Luhn key)."""
    officines = [
        Officine(
            editor=editor,
            finess=identifiers.generate_finess(department, start + i),
            raison_sociale=f"PHARMACIE EN MASSE {start + i}",
            city="Paris",
            postal_code="75011",
            department=department,
            **fields,
        )
        for i in range(count)
    ]
    return Officine.objects.bulk_create(officines)


def clone_certificates(model: Certificate, officines, *, not_after=None, **fields) -> list:
    """Copies of a really issued certificate row for many officines (query-count tests only:
    coverage and dashboards read dates, profiles and services, not the PEM)."""
    not_after = not_after or model.not_after
    copies = []
    for officine in officines:
        fingerprint = hashlib.sha256(
            f"{model.fingerprint_sha256}-{officine.pk}".encode()
        ).hexdigest()
        copy = Certificate(
            editor_id=officine.editor_id,
            officine=officine,
            profile=model.profile,
            common_name=model.common_name,
            services=list(model.services),
            serial=f"{model.serial}{officine.pk}",
            subject_dn=model.subject_dn,
            issuer_dn=model.issuer_dn,
            not_before=not_after - timedelta(days=3 * 365),
            not_after=not_after,
            usable_until=not_after,
            fingerprint_sha256=fingerprint,
            public_key_sha256=model.public_key_sha256,
            environment=model.environment,
            chain_status=model.chain_status,
            pem=model.pem,
        )
        for key, value in fields.items():
            setattr(copy, key, value)
        copies.append(copy)
    created = Certificate.objects.bulk_create(copies)
    coverage_refresh({c.officine_id for c in created})
    return created


def days(n: int):
    return timezone.now() + timedelta(days=n)


@pytest.fixture
def psc_certificate(tenant_a, make_certificate):
    """A real ORG AUTH_CLI certificate covering Pro Santé Connect for tenant A's officine."""
    return make_certificate(tenant_a.officine, services=("PSC",), not_after=days(400))
