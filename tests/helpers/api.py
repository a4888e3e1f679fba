"""API test helpers: real API keys, a bearer client, problem+json answers, the API routes."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from certificates import x509 as igc
from officines.identifiers import department_label
from portal.api.keys import api_key_create
from tests.helpers.tools import OPENSSL


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


def bearer(raw_key: str) -> Client:
    """A client that authenticates every request with this API key."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"/api/v1/problems/{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


IMPORT = "/api/v1/certificates/import/"


def issue_certificate(pki, officine, key, **kwargs):
    _, cert = pki.issue_for(
        finess=officine.finess,
        raison_sociale=officine.raison_sociale,
        department=officine.department_label,
        common_name=kwargs.pop("common_name", "LGO"),
        profile=igc.Profile(kwargs.pop("profile", "ORG_AUTH_CLI")),
        key=key,
        **kwargs,
    )
    return cert


def api_routes(resolver: URLResolver | None = None, namespace: str = "") -> list[tuple[str, list]]:
    resolver = resolver or get_resolver()
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found.extend(api_routes(entry, inner))
        elif isinstance(entry, URLPattern) and entry.name:
            name = namespace + entry.name
            if name.startswith("api:"):
                found.append((name, list(entry.pattern.converters)))
    return found


REQUESTS = "/api/v1/certificate-requests/"


def openssl_csr(tmp_path: Path, officine, common_name: str) -> tuple[str, Path]:
    """A CSR made by the real openssl, as an LGO does where the certificate will live."""
    key, csr = tmp_path / "lgo.key", tmp_path / "lgo.csr"
    subject = (
        f"/C=FR/ST={department_label(officine.department)}/O={officine.raison_sociale}"
        f"/OU=1{officine.finess}/CN={common_name}"
    )
    subprocess.run(
        [
            OPENSSL,
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            subject,
            "-utf8",
        ],
        check=True,
        capture_output=True,
    )
    return csr.read_text(), key
