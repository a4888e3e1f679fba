"""The coverage-drift guard: after every database test, stored coverage equals the certificates.

A pytest plugin (registered by tests/conftest.py). A code path that writes certificates
without `coverage_refresh` fails the test that exercises it, whatever way the test reaches
the database: the `django_db` marker (with or without `transaction=True`) or one of the
fixtures below. A test that truly cannot be checked says why with
`@pytest.mark.no_coverage_guard(reason="...")`.
"""

from __future__ import annotations

import pytest

# The pytest-django fixtures that give a test the database (live_server: a transactional one).
DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "live_server",
    }
)


def uses_database(request: pytest.FixtureRequest) -> bool:
    """Whether this test reaches the database, by marker or by fixture."""
    if request.node.get_closest_marker("django_db") is not None:
        return True
    return not DATABASE_FIXTURES.isdisjoint(request.fixturenames)


def exemption(request: pytest.FixtureRequest) -> str | None:
    """The stated reason a test is not checked, if it is marked `no_coverage_guard`."""
    marker = request.node.get_closest_marker("no_coverage_guard")
    if marker is None:
        return None
    reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
    if not str(reason).strip():
        pytest.fail("@pytest.mark.no_coverage_guard needs reason=... saying why", pytrace=False)
    return str(reason)


def assert_coverage_true() -> None:
    """Fail, naming the officines, when stored coverage differs from the certificates."""
    # Imported when called: this plugin is loaded before Django is set up.
    from certificates.coverage import coverage_drift

    drift = coverage_drift()
    assert not drift, f"stored coverage differs from the certificates of officines {drift}"


def _checkable() -> bool:
    """False when the test left its connection unable to query (a broken transaction that
    only the rollback clears, a connection it closed inside the test transaction)."""
    from django.db import connection

    if connection.in_atomic_block:  # the test's transaction (pytest-django's TestCase mode)
        if connection.connection is None or connection.needs_rollback:
            return False
        return connection.is_usable()
    if connection.connection is not None and not connection.is_usable():
        connection.close()  # transactional tests: a fresh connection sees the committed rows
    return True


@pytest.fixture(autouse=True)
def _coverage_stays_true(request: pytest.FixtureRequest):
    """After every database test, the stored officine coverage must equal what the
    certificates say (see the module docstring)."""
    if not uses_database(request) or exemption(request) is not None:
        yield
        return
    # Set up after the database helper, so this check runs before its rollback or flush.
    request.getfixturevalue("_django_db_helper")
    yield
    if _checkable():
        assert_coverage_true()
