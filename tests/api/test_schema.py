"""The OpenAPI document: valid without warnings, served, documented, and fuzzed by schemathesis.

The property-based run calls the WSGI application in-process with a bounded number of
examples per operation; it must find no 5xx and no response that breaks the schema.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.middleware import content_security_policy

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    # Raises (CommandError/SystemExit) on any warning or validation error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO()
    )
    text = out.read_text()
    assert "/api/v1/certificates/{id}/pkcs12/:" in text


def test_every_operation_is_described_with_errors_and_examples(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.")
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 20
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("description"), where
        errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
        assert "401" in errors and "403" in errors, where
        for code in errors:
            content = operation["responses"][code]["content"]
            assert list(content) == ["application/problem+json"], where
            assert content["application/problem+json"]["examples"], where
        if path not in ("/api/v1/",):
            has_example = any(
                "examples" in media or "example" in media
                for response in operation["responses"].values()
                for media in response.get("content", {}).values()
            ) or any(
                "examples" in media
                for media in operation.get("requestBody", {}).get("content", {}).values()
            )
            assert has_example, where


def test_swagger_ui_runs_under_the_csp_without_a_cdn(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert response["Content-Security-Policy"] == content_security_policy()
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    # No inline script, no inline style, nothing from another origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html
    assert "//" not in re.sub(r'(src|href)="/[^/"][^"]*"', "", html).replace("<!DOCTYPE", "")
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in s for s in scripts)
    assert scripts[-1].endswith("api/swagger-init.js")
    assert 'data-schema-url="/api/v1/schema/"' in html
    from django.contrib.staticfiles import finders

    for src in scripts:
        assert finders.find(src.removeprefix("/static/")), src


# --------------------------------------------------------------------------- schemathesis


# Loaded at import: the schema view needs no database (public, no authentication).
# Examples from the schema, then 25 generated valid requests per operation; the coverage
# phase (hundreds of boundary cases per operation) would take minutes.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/schema/",
    get_wsgi_application(),
    config=SchemathesisConfig.from_dict(
        {
            "seed": 20260101,
            "generation": {"mode": "positive", "max-examples": 25},
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        }
    ),
)


@pytest.fixture
def fuzz_data(tenant_a, server_certificate, make_certificate):
    """Rows for small generated ids to hit: officines, certificates (one with its key)."""
    make_certificate(tenant_a.officine, common_name="INSI-MANU", services=("INSI",))


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Like Django's test client: requests must not close the test's (transactional) connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_to_its_schema(case, keys_a, fuzz_data, wsgi_keeps_the_test_connection):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {keys_a.export}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
