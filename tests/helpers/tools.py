"""Skip conditions on the tools and services a test needs (openssl, PostgreSQL, ...)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

OPENSSL = "/usr/bin/openssl"
KEYTOOL = "/usr/bin/keytool"

requires_openssl = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="no /usr/bin/openssl")
requires_keytool = pytest.mark.skipif(not Path(KEYTOOL).exists(), reason="no /usr/bin/keytool")


def postgres_only(reason: str):
    """Skip unless the tests run on PostgreSQL, saying why this test needs it."""
    return pytest.mark.skipif(connection.vendor != "postgresql", reason=reason)


requires_postgres = postgres_only(
    "needs PostgreSQL (DATABASE_URL=postgres://...): worker processes must see the "
    "rows the test commits"
)
