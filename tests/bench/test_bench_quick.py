"""The benchmarks still run: every module of bench/ on small sizes, rows well formed.

No timing is asserted (design.md: speed lives in bench/, never in tests); a module that
breaks (an API it calls changed, a page now answers 500) fails here instead of rotting.
Runs each module in-process on the test database; modules that serve it through gunicorn
need a database another process can open (PostgreSQL in CI), else they are skipped.
"""

from __future__ import annotations

import math

import pytest

from bench import common

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KEYS = {"name", "value", "unit", "target", "reference", "ratio"}
# Modules that start their own server on the data they create.
NEEDS_SERVER = {"api"}


def _check_rows(module: str, rows: list[dict]) -> None:
    assert rows, f"{module} returned no rows"
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)), f"{module}: duplicate figures {names}"
    for r in rows:
        assert set(r) >= KEYS, f"{module}: {r} lacks {KEYS - set(r)}"
        assert isinstance(r["name"], str) and r["name"], r
        assert isinstance(r["unit"], str), r
        assert isinstance(r["value"], int | float) and math.isfinite(r["value"]), r
        for key in ("target", "ratio"):
            assert r[key] is None or isinstance(r[key], int | float), r
        assert r["reference"] is None or isinstance(r["reference"], int | float | str), r


@pytest.mark.parametrize("module", common.MODULES)
def test_module_runs_quick(module, monkeypatch):
    if module in NEEDS_SERVER and not common.server_shareable():
        pytest.skip("needs a database a gunicorn process can open (PostgreSQL)")
    if common.server_shareable():
        # Servers started by the modules must read this (test) database.
        monkeypatch.setenv("DATABASE_URL", common.database_url())
    rows = common.module_rows(module, quick=True)
    _check_rows(module, rows)
    if module == "pages":  # the targets, and the query budget on any size
        by_name = {r["name"]: r for r in rows}
        assert by_name["pages.dashboard.median"]["target"] == 150
        assert by_name["pages.officines_search.median"]["target"] == 100
        assert by_name["pages.dashboard.queries"]["target"] == 15
        assert by_name["pages.dashboard.queries"]["value"] <= 15
