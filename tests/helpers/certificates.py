"""Certificate rows from really issued certificates, and officines and certificates in bulk."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.utils import timezone

from certificates.coverage import coverage_refresh
from certificates.models import Certificate
from officines import identifiers
from officines.models import Officine


def certificate_row(
    pki,
    key,
    officine,
    *,
    profile="ORG_AUTH_CLI",
    common_name="LGO",
    services=("PSC",),
    not_before=None,
    not_after=None,
    crl_url=None,
    ocsp_url=None,
    **fields,
):
    from datetime import timedelta

    from django.utils import timezone

    from certificates import x509
    from certificates.demo_pki import add_months
    from certificates.models import Certificate

    not_after = not_after or timezone.now() + timedelta(days=700)
    not_before = not_before or not_after - timedelta(days=3 * 365)
    environment = "test" if officine.environment == "test" else "production"
    # `not_after` is when the certificate ends for the portal (`usable_until`): an ORG SIGN is
    # issued like the real ones, its key usable until then and its notAfter a month later.
    key_usage_end = fields.pop("key_usage_end", None)
    if profile == "ORG_SIGN" and key_usage_end is None:
        key_usage_end, not_after = not_after, add_months(not_after, 1)
    _, cert = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label or "Rhône (69)",
        common_name=common_name,
        profile=x509.Profile(profile),
        environment=environment,
        not_before=not_before,
        not_after=not_after,
        key=key,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
        key_usage_end=key_usage_end,
    )
    info = x509.describe_certificate(cert)
    chain = pki.chain_for(environment)
    return Certificate.objects.create(
        editor_id=officine.editor_id,
        officine=officine,
        profile=profile,
        common_name=common_name,
        services=list(services),
        serial=info.serial,
        subject_dn=info.subject,
        issuer_dn=info.issuer,
        not_before=info.not_before,
        not_after=info.not_after,
        usable_until=info.usable_until,
        fingerprint_sha256=info.fingerprint_sha256,
        public_key_sha256=info.public_key_sha256,
        environment=environment,
        chain_status=f"trusted_{environment}",
        pem=info.pem,
        chain_pem="".join(x509.certificate_to_pem(c) for c in chain),
        **fields,
    )


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
