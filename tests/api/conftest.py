"""API fixtures: real API keys for tenants A and B, and a client that sends them."""

from __future__ import annotations

import pytest

from certificates import keystore
from certificates import x509 as igc
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from tests.helpers.api import Keys, make_keys
from tests.helpers.certificates import certificate_row


@pytest.fixture
def keys_a(tenant_a) -> Keys:
    return make_keys(tenant_a)


@pytest.fixture
def keys_b(tenant_b) -> Keys:
    return make_keys(tenant_b)


@pytest.fixture
def server_certificate(tenant_a, pki, shared_key):
    """A certificate of tenant A's officine whose key the portal holds (PKCS#12 possible)."""
    officine = tenant_a.officine
    request = CertificateRequest.objects.create(
        editor_id=officine.editor_id,
        officine=officine,
        profile="ORG_AUTH_CLI",
        services=["INSI"],
        common_name="INSI-AUTO",
        key_mode=KeyMode.SERVER,
        requester_email="acteur@lgo.example",
        status=RequestStatus.ISSUED,
        public_key_sha256=igc.public_key_sha256(shared_key.public_key()),
    )
    keystore.encrypt_private_key(private_key=shared_key, request=request)
    request.save()
    return certificate_row(
        pki,
        shared_key,
        officine,
        common_name="INSI-AUTO",
        services=("INSI",),
        request=request,
    )
