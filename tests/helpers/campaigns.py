"""Renewal campaigns in tests: one created for a tenant, and the once-each renewal check."""

from __future__ import annotations

from collections import Counter

from certificates.campaigns import campaign_create
from certificates.models import (
    CertificateRequest,
    RequestStatus,
)
from portal.models import AuditEvent


def create(tenant, **kwargs):
    kwargs.setdefault("name", "Renouvellement T3")
    kwargs.setdefault("requester_email", "admin-tech@lgo.example")
    # These tests follow the portal's key generation (crash, resume, ZIP); the default
    # (each renewal keeps its key mode) is tested in tests/certificates/test_key_modes.py.
    kwargs.setdefault("key_mode", "server")
    return campaign_create(editor=tenant.editor, actor=tenant.operator, **kwargs)


def assert_each_certificate_renewed_once(campaign):
    """One open request per certificate, each with a CSR and a key of its own."""
    certificate_ids = set(campaign.certificates.values_list("pk", flat=True))
    per_certificate = Counter(
        CertificateRequest.objects.filter(renews_id__in=certificate_ids).values_list(
            "renews_id", flat=True
        )
    )
    assert set(per_certificate) == certificate_ids
    assert set(per_certificate.values()) == {1}
    rows = list(campaign_requests(campaign).values_list("csr_pem", "public_key_sha256", "status"))
    assert all(csr.startswith("-----BEGIN CERTIFICATE REQUEST-----") for csr, _, _ in rows)
    assert len({key for _, key, _ in rows}) == len(rows)  # a new key per certificate
    assert {status for _, _, status in rows} == {RequestStatus.CSR_READY}
    # Exactly one key generated per request: no duplicate keys after a resume.
    request_ids = [str(pk) for pk in campaign_requests(campaign).values_list("pk", flat=True)]
    generated = Counter(
        AuditEvent.objects.filter(
            action="key.generate", target_type="certificaterequest", target_id__in=request_ids
        ).values_list("target_id", flat=True)
    )
    assert generated == Counter(request_ids)


def campaign_requests(campaign):
    return CertificateRequest.objects.filter(campaign=campaign)
