"""API fixtures: real API keys for tenants A and B, and a client that sends them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from certificates import keystore
from certificates import x509 as igc
from certificates.models import CertificateRequest, KeyMode, RequestStatus
from portal.api.keys import api_key_create
from tests.conftest import certificate_row


@dataclass
class Keys:
    read: str
    write: str
    export: str
    officine: str  # write, limited to tenant.officine


def make_keys(tenant) -> Keys:
    def create(name, scopes, officine=None):
        return api_key_create(
            editor=tenant.editor, name=name, scopes=scopes, officine=officine, actor=tenant.admin
        )[1]

    return Keys(
        read=create("lecture", ["read"]),
        write=create("ecriture", ["read", "write"]),
        export=create("export", ["read", "write", "keys:export"]),
        officine=create("une officine", ["read", "write"], officine=tenant.officine),
    )


@pytest.fixture
def keys_a(tenant_a) -> Keys:
    return make_keys(tenant_a)


@pytest.fixture
def keys_b(tenant_b) -> Keys:
    return make_keys(tenant_b)


def bearer(raw_key: str) -> Client:
    """A client that authenticates every request with this API key."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


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
