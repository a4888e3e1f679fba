"""Helpers of the web UI tests: bulk officines and certificates, CSV files."""

from __future__ import annotations

import pytest

from tests.helpers.certificates import days


@pytest.fixture
def psc_certificate(tenant_a, make_certificate):
    """A real ORG AUTH_CLI certificate covering Pro Santé Connect for tenant A's officine."""
    return make_certificate(tenant_a.officine, services=("PSC",), not_after=days(400))
