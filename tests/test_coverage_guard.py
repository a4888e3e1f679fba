"""The coverage-drift guard sees a corrupted stored coverage, in every kind of database test."""

from __future__ import annotations

from pathlib import Path

import pytest

from certificates.coverage import coverage_drift, coverage_refresh
from certificates.coverage_store import OfficineCoverage
from tests.helpers.coverage_guard import assert_coverage_true

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_the_guard_names_an_officine_whose_stored_coverage_drifted(tenant_a, make_certificate):
    make_certificate(tenant_a.officine, services=("PSC",))
    assert_coverage_true()  # the post_save refresh kept it true
    OfficineCoverage.objects.filter(officine=tenant_a.officine).update(psc_until=None)
    with pytest.raises(AssertionError, match=rf"officines \[{tenant_a.officine.pk}\]"):
        assert_coverage_true()
    coverage_refresh([tenant_a.officine.pk])  # repaired, so this test's own guard passes
    assert coverage_drift() == []


INNER = """
import pytest
from django.utils import timezone

from certificates.coverage_store import OfficineCoverage
from tests.factories import OfficineFactory


def corrupt():
    officine = OfficineFactory()
    # A stored coverage row for an officine without any certificate: drift.
    OfficineCoverage.objects.create(
        officine=officine, editor_id=officine.editor_id, psc_until=timezone.now()
    )


@pytest.mark.django_db
def test_marker():
    corrupt()


@pytest.mark.django_db(transaction=True)
def test_marker_transactional():
    corrupt()


def test_transactional_db_fixture(transactional_db):
    corrupt()


def test_db_fixture(db):
    corrupt()


@pytest.mark.django_db
@pytest.mark.no_coverage_guard(reason="proves the exemption")
def test_exempt():
    corrupt()


@pytest.mark.django_db
def test_sound():
    OfficineFactory()
"""


@pytest.mark.slow
def test_the_guard_fails_every_kind_of_database_test_that_leaves_drift(pytester, monkeypatch):
    """In a pytest of its own, with only the guard plugin, on a SQLite test database of its
    own (never the outer run's database, which a second test run would recreate)."""
    pytester.makepyfile(test_inner=INNER)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = pytester.runpytest_subprocess(
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(pytester.path),
        "-p",
        "tests.helpers.coverage_guard",
        "-p",
        "no:randomly",
        "-rA",
    )
    result.assert_outcomes(passed=6, errors=4)  # a teardown error counts its test as passed too
    for name in ("marker", "marker_transactional", "transactional_db_fixture", "db_fixture"):
        result.stdout.fnmatch_lines([f"ERROR test_inner.py::test_{name} - AssertionError: stored*"])
    result.stdout.fnmatch_lines(["PASSED test_inner.py::test_exempt"], consecutive=False)
    errors = [line for line in result.stdout.lines if line.startswith("ERROR ")]
    assert not [line for line in errors if "test_exempt" in line or "test_sound" in line]
